"""No download leaves a folder behind when it fails, and a folder an older
version left (empty, or without the files) never stops a later download:
every reader decides on the presence of the files. Downloads are simulated
offline: the downloader writes part of a file and raises, as a network
error in the middle of a transfer does, or writes generated files in the
real layout, as a successful one does."""
from dataclasses import replace
from urllib.error import URLError

import pytest
import torch

from benchmark_utils.data import mnist
from benchmark_utils.data.cifar10 import load_cifar10
from benchmark_utils.data.image_folders import load_food101
from benchmark_utils.models.imagenet import load_pretrained_state
from generated_data import (patch_cifar10_checksums, write_cifar10,
                            write_food101, write_idx)


@pytest.fixture
def offline(monkeypatch):
    """torchvision's downloader: the transfer starts, then the network
    fails."""
    import torchvision.datasets.utils as utils

    def fail(url, root, filename=None, md5=None, **_):
        from pathlib import Path
        Path(root).mkdir(parents=True, exist_ok=True)
        name = filename or url.rsplit("/", 1)[-1]
        (Path(root) / name).write_bytes(b"\x1f\x8b partial")
        raise URLError("network unreachable (simulated)")

    monkeypatch.setattr(utils, "download_url", fail)


@pytest.fixture
def no_debian_copy(monkeypatch, tmp_path):
    monkeypatch.setattr(mnist, "FASHION_MNIST", replace(
        mnist.FASHION_MNIST, system_copy=tmp_path / "not-installed"))


@pytest.mark.parametrize("existed", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_a_failed_idx_download_leaves_no_folder(tmp_path, offline,
                                                no_debian_copy, name,
                                                existed):
    root = tmp_path / "data" / name
    if existed:
        root.mkdir(parents=True)
    load = mnist.load_mnist if name == "mnist" else mnist.load_fashion_mnist
    with pytest.raises(RuntimeError, match="download failed.*data_paths"):
        load(root, download=True)
    if existed:
        assert list(root.iterdir()) == []
    else:
        assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_an_empty_raw_folder_does_not_stop_the_download(tmp_path, monkeypatch,
                                                        no_debian_copy, name):
    spec = mnist.MNIST if name == "mnist" else mnist.FASHION_MNIST
    root = tmp_path / name
    (root / spec.folder / "raw").mkdir(parents=True)   # an older version's
    _, sha = write_idx(tmp_path / "scratch", n_train=6, n_test=4)
    if spec.sha256 is not None:     # the generated files' hashes
        monkeypatch.setattr(mnist, "FASHION_MNIST", replace(spec, sha256=sha))
    calls = []

    def download(url, download_root, filename=None, md5=None):
        calls.append(filename)
        for gz in (True, False):       # the archive, and its extraction
            write_idx(download_root, n_train=6, n_test=4, gz=gz)

    import torchvision.datasets.mnist as tv_mnist
    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", download)
    load = mnist.load_mnist if name == "mnist" else mnist.load_fashion_mnist
    x, y, x_test, y_test = load(root, download=True)
    assert calls and x.shape == (6, 1, 28, 28) and len(y_test) == 4


def test_a_failed_cifar_download_leaves_no_folder(tmp_path, offline):
    root = tmp_path / "data" / "cifar10"
    with pytest.raises(RuntimeError, match="download failed"):
        load_cifar10(root, download=True)
    assert not (tmp_path / "data").exists()


def test_an_empty_cifar_folder_does_not_stop_the_download(tmp_path,
                                                         monkeypatch):
    root = tmp_path / "cifar10"
    (root / "cifar-10-batches-py").mkdir(parents=True)  # an older version's
    md5s = {}

    def download(url, download_root, filename=None, md5=None):
        md5s.update(write_cifar10(download_root, n_per_batch=2, n_test=2))
        patch_cifar10_checksums(monkeypatch, md5s)

    import torchvision.datasets.cifar as tv_cifar
    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", download)
    x, y, x_test, y_test = load_cifar10(root, download=True)
    assert md5s and x.shape == (10, 3, 32, 32) and len(y_test) == 2


def test_a_failed_food101_download_leaves_no_folder(tmp_path, offline):
    root = tmp_path / "data" / "food101"
    with pytest.raises(RuntimeError, match="could not be downloaded"):
        load_food101(root, None, None, download=True)
    assert not (tmp_path / "data").exists()


def test_empty_food101_folders_do_not_stop_the_download(tmp_path,
                                                       monkeypatch):
    root = tmp_path / "food101"
    for sub in ("meta", "images"):      # an older version's leftovers
        (root / "food-101" / sub).mkdir(parents=True)
    calls = []

    def download(url, download_root, md5=None):
        calls.append(url)
        write_food101(download_root, classes=("apple_pie", "waffles"),
                      n_train=1, n_test=1, size=(32, 32))

    import torchvision.datasets.food101 as tv_food
    monkeypatch.setattr(tv_food, "download_and_extract_archive", download)
    train, test, _ = load_food101(root, None, None, download=True)
    assert calls and len(train) == 2 and len(test) == 2


def test_a_failed_weights_download_leaves_no_folder(tmp_path, monkeypatch):
    # torch.hub creates its checkpoints folder, then the transfer fails.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def fail(url, dst, *args, **kwargs):
        raise URLError("network unreachable (simulated)")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    with pytest.raises(RuntimeError, match="downloading them failed"):
        load_pretrained_state("resnet18")
    assert not (tmp_path / "torch").exists()
