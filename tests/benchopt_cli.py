"""Running the benchmark through benchopt's command line, as a user does."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

BENCH_FILES = ["objective.py", "config.yml", "test_config.py", "datasets", "solvers",
               "benchmark_utils", "configs", "plots"]


def copy_benchmark(dest):
    """A fresh copy of the benchmark in ``dest``: no cache, no outputs."""
    root = Path(__file__).resolve().parents[1]
    dest.mkdir(parents=True, exist_ok=True)
    for name in BENCH_FILES:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns(
                "__pycache__"))
        else:
            shutil.copy(src, dest / name)
    return dest


def benchopt(*args, cwd, raise_on_error=True, timeout=600, env=None):
    # `benchopt test` runs the `python` found on PATH: make it this one.
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    env = {**os.environ, "INNAPROP_DEVICE": "cpu", "PATH": path,
           **(env or {})}
    env.pop("BENCHOPT_RAISE_ON_ERROR", None)
    if raise_on_error:
        env["BENCHOPT_RAISE_ON_ERROR"] = "1"
    return subprocess.run([sys.executable, "-m", "benchopt", *args],
                          cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def read_results(bench, name):
    return pd.read_parquet(bench / "outputs" / f"{name}.parquet")


def benchopt_here(bench, *args, env=None):
    """``benchopt run <bench> *args`` in this process: no interpreter or
    torch start-up (seconds per call), for tests of what benchopt refuses
    or records rather than of benchopt's own start. Returns (exit status,
    stdout and stderr)."""
    import contextlib
    import io

    from benchopt.cli.main import run
    env = {"INNAPROP_DEVICE": "cpu", "BENCHOPT_RAISE_ON_ERROR": "1",
           **(env or {})}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                run([str(bench), *args], standalone_mode=False)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except Exception:  # noqa: BLE001 (what benchopt raised)
                import traceback
                traceback.print_exc()
                code = 1
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, out.getvalue()
