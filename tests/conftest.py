import os
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
os.environ.setdefault("INNAPROP_CHECKPOINT_DIR", str(SCRATCH / "checkpoints"))
# The runs of one test process (an xdist worker) record themselves apart
# from the other's: a test's run is not "sharing its device" with another
# test's (tests/test_sharing.py sets its own folder).
os.environ.setdefault("INNAPROP_RUNS_DIR", str(SCRATCH / "runs"))

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
