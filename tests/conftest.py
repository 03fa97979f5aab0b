import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchopt_cli import BENCH_FILES  # noqa: E402
# A solver error must fail the test run, not only print a traceback.
os.environ.setdefault("BENCHOPT_RAISE_ON_ERROR", "1")


@pytest.fixture
def root():
    return ROOT


@pytest.fixture
def bench(tmp_path, root):
    """A fresh copy of the benchmark: no cache, no outputs from elsewhere."""
    dest = tmp_path / "bench"
    dest.mkdir()
    for name in BENCH_FILES:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns(
                "__pycache__"))
        else:
            shutil.copy(src, dest / name)
    return dest
