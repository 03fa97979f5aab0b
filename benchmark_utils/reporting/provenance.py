"""How a result was made, recorded in every results file.

Each evaluation row carries ``objective_provenance_*`` columns (the
objective returns them with its metrics, so they travel inside the parquet
file): the git commit and whether the tree had uncommitted changes (the
code hash where there is no git), the versions of Python, torch, CUDA,
cuDNN, Triton, torchvision, benchopt and every optimizer package, the
device's name and count, the data-parallel world size, the precision and
the command line. The result pages and the site show them; the performance
profiles refuse to mix what they should not.
"""
import hashlib
import os
import platform
import shlex
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import torch

from benchmark_utils.reporting import results
from benchmark_utils.training.environment import ROOT

COMMAND_LINE = "INNAPROP_COMMAND_LINE"
PACKAGES = ("torch", "torchvision", "triton", "benchopt", "innaprop",
            "schedulefree", "pytorch-optimizer", "transformers", "peft")
PREFIX = "provenance_"


def record_command_line():
    """Keep this process's command line for the results, unless a parent
    process already did: benchopt's joblib or SLURM workers inherit the
    user's command (the objective calls this in benchopt's main process)."""
    os.environ.setdefault(COMMAND_LINE,
                          " ".join(shlex.quote(a) for a in sys.argv))


def command_line():
    return os.environ.get(COMMAND_LINE) or " ".join(
        shlex.quote(a) for a in sys.argv)


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def _git(*args, strip=True, ok=(0,)):
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode not in ok:
        return None
    return out.stdout.strip() if strip else out.stdout


@lru_cache(maxsize=None)
def working_tree_diff():
    """The checkout's uncommitted changes as one patch: ``git diff HEAD``
    and every new file git does not ignore; "" when the tree is clean."""
    parts = [_git("diff", "HEAD", "--binary", strip=False) or ""]
    for name in (_git("ls-files", "--others", "--exclude-standard")
                 or "").splitlines():
        # --no-index exits 1 when the files differ, as they do here.
        parts.append(_git("diff", "--no-index", "--binary", "--",
                          "/dev/null", name, strip=False, ok=(0, 1)) or "")
    return "".join(parts)


def diff_name(results_file):
    """Where the diff of a run's code lies: beside its results file."""
    return Path(results_file).with_suffix(".diff")


def save_diff(results_file):
    """Write the working tree's diff beside ``results_file`` when the tree
    was dirty (the results' ``provenance_dirty`` names its hash)."""
    if _git("rev-parse", "HEAD") is None:
        return None
    diff = working_tree_diff()
    if not diff:
        return None
    path = diff_name(results_file)
    path.write_text(diff, encoding="utf-8")
    return path


@lru_cache(maxsize=None)
def static():
    """What does not change during a process: code and software."""
    commit = _git("rev-parse", "HEAD")
    if commit is not None:
        diff = working_tree_diff()
        dirty = (f"yes: diff sha256 "
                 f"{hashlib.sha256(diff.encode()).hexdigest()[:16]}, kept "
                 "beside the results file as <results>.diff"
                 if diff else "no")
    else:
        from benchmark_utils.training.identity import code_files_version
        commit, dirty = f"no git; code {code_files_version(None)}", "unknown"
    info = dict(commit=commit, dirty=dirty,
                python=platform.python_version(),
                cuda=str(torch.version.cuda),
                cudnn=str(torch.backends.cudnn.version()),
                command=command_line())
    info.update({f"version_{p.replace('-', '_')}": _version(p)
                 for p in PACKAGES})
    return info


def collect(device, world_size, recipe):
    """The provenance columns of one run's evaluations (``provenance_*``)."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        count = torch.cuda.device_count()
    else:
        name, count = (platform.processor() or platform.machine()), 1
    info = dict(static(), device=f"{device.type}: {name}",
                device_count=str(count), world_size=str(world_size),
                precision=f"{recipe.precision}, {recipe.dtype}")
    return {PREFIX + k: v for k, v in info.items()}


def columns(df):
    """The provenance columns of a results frame, without their prefix:
    {name: sorted distinct values}, and ``device_shared``: whether runs
    were packed on a device (from the ``device_runs`` counts)."""
    out = {}
    for col in df.columns:
        key = col.removeprefix("objective_")
        if key.startswith(PREFIX):
            out[key.removeprefix(PREFIX)] = sorted(
                df[col].dropna().astype(str).unique())
    if "objective_device_runs" in df:
        n = results.device_runs(df)
        out["device_shared"] = [
            f"yes: up to {n} runs on one device at once (wall-clock times "
            "distorted)" if n > 1 else "no: each run had its device alone"]
    return out
