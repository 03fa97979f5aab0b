"""Corrupt or missing data is reported with the file's name and the fix;
downloads cannot hang; a failed download leaves no folder behind."""
import signal
import socket
import threading

import numpy as np
import pytest
import torch
from torchvision.datasets import CIFAR10

from benchmark_utils.data.augment import eval_transform
from benchmark_utils.data.cifar10 import load_cifar10
from benchmark_utils.data.image_folders import load_food101, load_imagenet
from benchmark_utils.data.loaders import DatasetLoader
from benchmark_utils.data.tokens import WindowLoader, read_tokens
from benchmark_utils.models.imagenet import (load_pretrained_state,
                                             pretrained_file_name)
from generated_data import (patch_cifar10_checksums, write_cifar10,
                            write_food101, write_image_folder)


def test_a_truncated_cifar_batch_is_named(tmp_path, monkeypatch):
    md5s = write_cifar10(tmp_path, n_per_batch=2, n_test=2)
    patch_cifar10_checksums(monkeypatch, md5s)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(RuntimeError, match="data_batch_3") as info:
        load_cifar10(tmp_path, download=True)
    assert "data_batch_1" not in str(info.value)
    assert "delete" in str(info.value)


def test_a_truncated_jpeg_is_named(tmp_path):
    files = write_image_folder(tmp_path, classes=("n01", "n02"), n_train=2,
                               n_val=1, size=(32, 32))
    bad = files["train"][1][0]
    bad.write_bytes(bad.read_bytes()[:200])
    train, _, _ = load_imagenet(tmp_path, eval_transform(32, 32),
                                eval_transform(32, 32))
    loader = DatasetLoader(train, 4, seed=0, device="cpu",
                           to_input=lambda x: x, shuffle=False)
    with pytest.raises(RuntimeError, match=str(bad)):
        list(loader.epoch(0))


@pytest.mark.parametrize("size, what", [(0, "empty"), (7, "an odd size")])
def test_an_empty_or_odd_token_file_is_named(tmp_path, size, what):
    path = tmp_path / "train.bin"
    path.write_bytes(b"\x01" * size)
    with pytest.raises(ValueError, match=f"train.bin: {size} bytes, {what}"):
        read_tokens(path)


def test_token_ids_beyond_the_vocabulary_are_named(tmp_path):
    path = tmp_path / "val.bin"
    ids = np.arange(4000, dtype=np.uint16) % 300
    ids[::25] = 60000      # every window holds one
    ids.tofile(path)
    loader = WindowLoader(path, batch_size=64, block_size=32, seed=0,
                          device=torch.device("cpu"), vocab_size=50304)
    with pytest.raises(ValueError, match=r"val.bin: token id 60000 .*"
                       r"vocabulary of 50304"):
        for _ in loader.epoch(0):
            pass


def test_a_malformed_food101_split_file_is_named(tmp_path):
    write_food101(tmp_path, classes=("apple_pie", "waffles"), n_train=1,
                  n_test=1, size=(32, 32))
    meta = tmp_path / "food-101" / "meta" / "train.json"
    meta.write_text("{not json")
    with pytest.raises(RuntimeError, match="meta/train.json is missing or "
                       "not valid JSON") as info:
        load_food101(tmp_path, None, None, download=True)
    assert "could not be downloaded" not in str(info.value)


def test_corrupt_local_weights_are_named_without_torch_advice(tmp_path):
    path = tmp_path / pretrained_file_name("resnet18")
    path.write_bytes(b"PK\x03\x04 not really a checkpoint")
    with pytest.raises(RuntimeError, match="is unreadable") as info:
        load_pretrained_state("resnet18", tmp_path)
    text = str(info.value)
    assert str(path) in text and "file an issue" not in text


@pytest.fixture
def silent_server():
    """A loopback server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=10)
    for conn in held:
        conn.close()
    server.close()


def hang_guard(seconds):
    """Fail instead of hanging forever if the timeout does not work."""
    def fail(*_):
        raise AssertionError(f"still downloading after {seconds} s")
    signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)


def test_a_download_that_never_answers_times_out(tmp_path, monkeypatch,
                                                 silent_server):
    monkeypatch.setenv("INNAPROP_DOWNLOAD_TIMEOUT", "1")
    monkeypatch.setattr(CIFAR10, "url", f"{silent_server}/cifar.tar.gz")
    monkeypatch.setattr(CIFAR10, "mirrors", [], raising=False)
    hang_guard(300)
    try:
        with pytest.raises(RuntimeError, match="download failed.*timed out"):
            load_cifar10(tmp_path / "cifar10", download=True)
    finally:
        signal.alarm(0)


def test_a_failed_download_leaves_no_typo_folder(tmp_path, monkeypatch):
    with socket.socket() as s:         # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(CIFAR10, "url", f"http://127.0.0.1:{port}/c.tar.gz")
    typo = tmp_path / "datsets" / "cifar10"
    with pytest.raises(RuntimeError, match="data_paths"):
        load_cifar10(typo, download=True)
    assert not (tmp_path / "datsets").exists()
