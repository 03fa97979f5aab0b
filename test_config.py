"""Hooks for `benchopt test`: datasets that read external data are checked
only where that data is present (our own tests cover their readers on
generated files in the real layouts)."""
import pytest
from benchopt.config import get_data_path


def check_test_dataset_get_data(dataset_class):
    key = getattr(dataset_class, "data_key", None)
    if key is None:
        return
    root = get_data_path(key)
    has_data = getattr(dataset_class, "has_data", None)
    if has_data is not None:
        # The dataset knows its files (and other places it reads them from).
        if not has_data(root):
            pytest.skip(f"{dataset_class.name}: no local copy at {root}")
        return
    marker = getattr(dataset_class, "data_marker", "")
    if not (root / marker).exists():
        pytest.skip(f"{dataset_class.name}: no local copy at "
                    f"{root / marker}")
