import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchopt_cli import copy_benchmark  # noqa: E402
# A solver error must fail the test run, not only print a traceback.
os.environ.setdefault("BENCHOPT_RAISE_ON_ERROR", "1")


@pytest.fixture
def root():
    return ROOT


@pytest.fixture
def bench(tmp_path):
    """A fresh copy of the benchmark: no cache, no outputs from elsewhere."""
    return copy_benchmark(tmp_path / "bench")
