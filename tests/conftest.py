import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# A solver error must fail the test run, not only print a traceback.
os.environ.setdefault("BENCHOPT_RAISE_ON_ERROR", "1")


@pytest.fixture
def root():
    return ROOT
