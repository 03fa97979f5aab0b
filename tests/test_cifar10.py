"""CIFAR-10 reader and dataset on generated files in torchvision's layout."""
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.datasets import CIFAR10

from benchmark_utils.data.cifar10 import load_cifar10
from generated_data import patch_cifar10_checksums, write_cifar10


def test_reader_returns_the_files_contents(tmp_path, monkeypatch):
    md5s = write_cifar10(tmp_path, n_per_batch=4, n_test=6)
    patch_cifar10_checksums(monkeypatch, md5s)
    x, y, x_test, y_test = load_cifar10(tmp_path, download=False)
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.uint8
    assert x_test.shape == (6, 3, 32, 32) and y.dtype == torch.long
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_2", "rb") as f:
        entry = pickle.load(f)
    # Row 0 of batch 2 is image 4: channel-major 3x32x32.
    expected = np.asarray(entry["data"][0]).reshape(3, 32, 32)
    assert np.array_equal(x[4].numpy(), expected)
    assert y[4].item() == entry["labels"][0]


def test_files_failing_the_published_checksums_are_refused(tmp_path):
    # Without the patch torchvision checks the real CIFAR-10 MD5s.
    write_cifar10(tmp_path, n_per_batch=2, n_test=2)
    with pytest.raises(RuntimeError, match="failed its checksums"):
        load_cifar10(tmp_path, download=False)


def test_missing_data_offline_says_where_to_put_it(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(CIFAR10, "download", offline)
    with pytest.raises(RuntimeError, match="data_paths") as info:
        load_cifar10(tmp_path / "absent", download=True)
    assert "no network" in str(info.value)


def test_benchopt_run_on_cifar10_layout(tmp_path, monkeypatch, root):
    """`benchopt run . -s innaprop -d cifar10` with the real ResNet-18, one
    epoch on a subset of generated images."""
    from benchopt.cli.main import run

    md5s = write_cifar10(tmp_path / "cifar10", n_per_batch=40, n_test=40)
    patch_cifar10_checksums(monkeypatch, md5s)
    monkeypatch.setenv("BENCHOPT_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("INNAPROP_DEVICE", "cpu")
    out = tmp_path / "out" / "cifar.parquet"
    run([str(root), "-s", "innaprop", "-d",
         "cifar10[model=resnet18,epochs=1,n_train=64,batch_size=32]",
         "--no-timeout", "--no-plot", "--no-display", "--no-cache",
         "--output", str(out)], standalone_mode=False)
    df = pd.read_parquet(out)
    assert list(df["objective_epoch"]) == [0.0, 1.0]
    assert list(df["objective_step"]) == [0, 2]
    assert df["objective_value"].notna().all()
    assert (df["objective_diverged"] == 0).all()
