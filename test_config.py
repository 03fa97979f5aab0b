"""Hooks for `benchopt test`: datasets that read external data are checked
only where that data is present (our own tests cover their readers on
generated files in the real layouts)."""
import pytest
from benchopt.config import get_data_path


def check_test_dataset_get_data(dataset_class):
    key = getattr(dataset_class, "data_key", None)
    marker = getattr(dataset_class, "data_marker", "")
    if key is not None and not (get_data_path(key) / marker).exists():
        pytest.skip(f"{dataset_class.name}: no local copy at "
                    f"{get_data_path(key) / marker}")
