import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The tests leave the checkout as they found them (pytest_sessionfinish
# checks it): bytecode and checkpoints of this process and of every
# subprocess go to a temporary folder.
SCRATCH = Path(tempfile.mkdtemp(prefix="innaprop-tests-"))
sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"] = str(
    SCRATCH / "pycache")
# There it may be written even where PYTHONDONTWRITEBYTECODE is set (as on
# this project's machines): without it, each of the suite's ~150 Python
# processes compiled torch's and benchopt's modules anew (~4 s each).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False
# Each test process (each xdist worker) has its own checkpoints and its own
# record of running runs: two workers running the same digits run would
# otherwise meet on one checkpoint lock, and each run would say it shares
# its device with the other worker's (tests/test_sharing.py sets its own
# folder). A folder the user set is kept; one inherited from the
# controlling pytest process is not.
inherited = os.environ.get("INNAPROP_TESTS_SCRATCH")
for name, sub in (("INNAPROP_CHECKPOINT_DIR", "checkpoints"),
                  ("INNAPROP_RUNS_DIR", "runs")):
    value = os.environ.get(name)
    if value is None or (inherited and value.startswith(inherited)):
        os.environ[name] = str(SCRATCH / sub)
os.environ["INNAPROP_TESTS_SCRATCH"] = str(SCRATCH)
# xdist workers share the cores: each worker, and every process it starts,
# gets its share of threads. Left at one thread per core each, OpenMP
# threads of two workers spin against each other (the tokens study's
# README case: 362 s for two at once, 57 s with one thread each).
workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if workers > 1:
    share = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, share)

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchopt_cli import copy_benchmark  # noqa: E402
# A solver error must fail the test run, not only print a traceback.
os.environ.setdefault("BENCHOPT_RAISE_ON_ERROR", "1")


def checkout_status():
    """``git status --porcelain --ignored`` of the checkout (None outside a
    git checkout): what the tests must leave unchanged."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--ignored"],
            capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def pytest_sessionstart(session):
    session.config.checkout_before = checkout_status()


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SCRATCH, ignore_errors=True)
    before = session.config.checkout_before
    after = checkout_status()
    if before is None or after is None or after == before:
        return
    old, new = set(before.splitlines()), set(after.splitlines())
    lines = ([f"  new: {x}" for x in sorted(new - old)]
             + [f"  gone: {x}" for x in sorted(old - new)])
    sys.stderr.write("\nThe tests changed the checkout (git status "
                     "--porcelain --ignored):\n" + "\n".join(lines) + "\n")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def root():
    return ROOT


@pytest.fixture
def bench(tmp_path):
    """A fresh copy of the benchmark: no cache, no outputs from elsewhere."""
    return copy_benchmark(tmp_path / "bench")
