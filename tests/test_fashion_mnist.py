"""Fashion-MNIST: where its files are found, how they are checked, and a
real training run through benchopt's command line.

The tests on the real files need Debian's `dataset-fashion-mnist`
(.ci/run installs it); without it they are skipped, saying why."""
import gzip
import shutil
from dataclasses import replace

import numpy as np
import pytest

from benchmark_utils.data import mnist
from benchopt_cli import benchopt, read_results
from generated_data import write_idx

DEBIAN = mnist.FASHION_MNIST.system_copy
needs_debian = pytest.mark.skipif(
    not mnist.complete(DEBIAN),
    reason=f"Fashion-MNIST's Debian package is not installed ({DEBIAN} "
           "lacks the four files: apt-get install dataset-fashion-mnist)")


@pytest.fixture
def generated(tmp_path, monkeypatch):
    """Generated idx files, gzipped, in a stand-in for Debian's folder; the
    expected SHA-256s are theirs."""
    (images, labels), sha = write_idx(tmp_path / "debian", n_train=12,
                                      n_test=5, gz=True)
    monkeypatch.setattr(mnist, "FASHION_MNIST", replace(
        mnist.FASHION_MNIST, sha256=sha, system_copy=tmp_path / "debian"))
    return images, labels


@pytest.fixture
def no_download(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("tried to download")
    monkeypatch.setattr(mnist, "download", refuse)


def test_the_debian_copy_is_found_without_configuration(tmp_path, generated,
                                                        no_download):
    images, labels = generated
    root = tmp_path / "data" / "fashion_mnist"     # the default: nothing
    assert mnist.locate(root, mnist.FASHION_MNIST) == tmp_path / "debian"
    x, y, x_test, y_test = mnist.load_fashion_mnist(root)
    assert np.array_equal(x[:, 0].numpy(), images)
    assert np.array_equal(y.numpy(), labels)
    assert x_test.shape == (5, 1, 28, 28)


def test_a_configured_copy_comes_before_the_debian_one(tmp_path, generated,
                                                       no_download):
    local = tmp_path / "mine" / "FashionMNIST" / "raw"
    for f in (tmp_path / "debian").iterdir():      # same content, unzipped
        (local / f.stem).parent.mkdir(parents=True, exist_ok=True)
        (local / f.stem).write_bytes(gzip.decompress(f.read_bytes()))
    assert mnist.locate(tmp_path / "mine", mnist.FASHION_MNIST) == local
    x, *_ = mnist.load_fashion_mnist(tmp_path / "mine")
    assert np.array_equal(x[:, 0].numpy(), generated[0])


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_a_damaged_file_is_refused_naming_it(tmp_path, generated,
                                             no_download, damage):
    root = tmp_path / "copy"
    raw = root / "FashionMNIST" / "raw"
    shutil.copytree(tmp_path / "debian", raw)
    bad = raw / "train-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(bad.read_bytes()))
    if damage == "truncated":
        data = data[:-3]
    else:
        data[10] = (data[10] + 1) % 10
    bad.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(ValueError, match=str(bad) + ": the SHA-256"):
        mnist.load_fashion_mnist(root)


def test_a_truncated_gzip_is_refused_naming_it(tmp_path, generated,
                                               no_download):
    bad = tmp_path / "debian" / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-20])
    with pytest.raises(ValueError, match=str(bad) + ": unreadable"):
        mnist.load_fashion_mnist(tmp_path / "nothing")


def test_an_idx_header_that_disagrees_with_the_size_is_named(tmp_path):
    # MNIST has no published content hash here: its files are checked by
    # their header.
    write_idx(tmp_path / "MNIST" / "raw", n_train=4, n_test=2)
    bad = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:-28])
    with pytest.raises(ValueError, match=str(bad) + r": 1556 bytes where "
                       r"its header declares shape \(2, 28, 28\)"):
        mnist.load_mnist(tmp_path, download=False)


@needs_debian
def test_the_real_files_pass_and_a_truncated_copy_is_refused(tmp_path):
    x, y, x_test, y_test = mnist.load_fashion_mnist(tmp_path / "none",
                                                    download=False)
    # Zalando's description: 60,000 + 10,000 images, 6,000 and 1,000 per
    # class.
    assert x.shape == (60_000, 1, 28, 28) and x_test.shape[0] == 10_000
    assert np.bincount(y.numpy()).tolist() == [6000] * 10
    assert np.bincount(y_test.numpy()).tolist() == [1000] * 10
    raw = tmp_path / "copy" / "FashionMNIST" / "raw"
    shutil.copytree(DEBIAN, raw)
    bad = raw / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(gzip.decompress(bad.read_bytes())[:-1]))
    with pytest.raises(ValueError, match=str(bad)):
        mnist.load_fashion_mnist(tmp_path / "copy", download=False)


@needs_debian
def test_adamw_reaches_85_percent_in_3_epochs_through_benchopt(bench):
    # The requirement: `benchopt run . -d "fashion_mnist[epochs=3]" -s
    # adamw` on the real files, found with no configuration.
    res = benchopt("run", ".", "-d", "fashion_mnist[epochs=3]", "-s",
                   "adamw", "-r", "1", "--no-timeout", "--no-plot",
                   "--no-display", "--output", "fashion", cwd=bench)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    df = read_results(bench, "fashion")
    assert list(df["objective_epoch"]) == [0.0, 1.0, 2.0, 3.0]
    assert df["objective_test_acc"].iloc[-1] >= 85.0


def test_the_task_holds_out_n_val_and_builds_the_chosen_model(tmp_path):
    from types import SimpleNamespace

    import torch

    from benchmark_utils.tasks.grey28 import PARAMETERS, grey28_task
    write_idx(tmp_path, n_train=40, n_test=5)
    arrays = mnist.read_folder(tmp_path, mnist.MNIST)
    params = {k: v[0] for k, v in PARAMETERS.items()}
    task = grey28_task(arrays, mnist.FASHION_MNIST,
                       SimpleNamespace(**dict(params, n_val=10)))
    assert len(task.x_val) == 10 and len(task.x_train) == 30
    # The held-out images are training images, none kept for training.
    kept = {bytes(x.numpy()) for x in task.x_train}
    held = {bytes(x.numpy()) for x in task.x_val}
    assert not kept & held and kept | held == {
        bytes(x.numpy()) for x in arrays[0]}
    assert task.recipe.batch_size == 128 and task.recipe.lr == 1e-3
    torch.manual_seed(0)
    x = torch.randn(64, 1, 28, 28)
    for name, clipped in (("lenet5", False), ("lenet5_relu_logits", True)):
        task = grey28_task(arrays, mnist.FASHION_MNIST,
                           SimpleNamespace(**dict(params, model=name)))
        assert (task.build_model()(x).min() >= 0) == clipped
    with pytest.raises(ValueError, match="model='resnet18' is not allowed"):
        grey28_task(arrays, mnist.FASHION_MNIST,
                    SimpleNamespace(**dict(params, model="resnet18")))
