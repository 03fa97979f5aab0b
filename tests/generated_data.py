"""Small files in the exact on-disk layouts of the real datasets (tests only).

Generated files cannot match the checksums the datasets publish, so each
writer returns the MD5s it produced; tests patch them in where the reader
checks them, and the reader's checking code still runs.
"""
import hashlib
import pickle
from pathlib import Path

import numpy as np


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def write_cifar10(root, n_per_batch=20, n_test=30, seed=0):
    """Write root/cifar-10-batches-py as torchvision downloads it: five
    pickled training batches, a test batch and batches.meta, each a dict
    with 'data' (N x 3072 uint8, channel-major rows) and 'labels'."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else n_per_batch
        entry = {"batch_label": name,
                 "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, n).tolist(),
                 "filenames": [f"img_{i}.png" for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer",
                            "dog", "frog", "horse", "ship", "truck"],
            "num_cases_per_batch": n_per_batch, "num_vis": 3072}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f)
    return {name: md5(folder / name) for name in names + ["batches.meta"]}


def patch_cifar10_checksums(monkeypatch, md5s):
    """Make torchvision expect the generated files' MD5s."""
    from torchvision.datasets import CIFAR10
    monkeypatch.setattr(CIFAR10, "train_list", [
        [f"data_batch_{i}", md5s[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list",
                        [["test_batch", md5s["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", dict(
        CIFAR10.meta, md5=md5s["batches.meta"]))


def _write_jpeg(path, rng, size):
    from PIL import Image
    w, h = size
    pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)


def write_image_folder(root, classes=("n01440764", "n01443537", "n01484850"),
                       n_train=3, n_val=2, size=(80, 60), seed=0):
    """Write root/train/<wnid>/*.JPEG and root/val/<wnid>/*.JPEG, ImageNet-1k
    in torchvision's ImageFolder layout (validation images sorted into class
    folders), with random RGB JPEGs of ``size`` (width, height). Returns
    {split: [(path, class index), ...]} in ImageFolder's order."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, n in (("train", n_train), ("val", n_val)):
        files[split] = []
        for label, wnid in enumerate(sorted(classes)):
            folder = Path(root) / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                stem = (f"{wnid}_{i}" if split == "train"
                        else f"ILSVRC2012_val_{label * n + i + 1:08d}")
                path = folder / f"{stem}.JPEG"
                _write_jpeg(path, rng, size)
                files[split].append((path, label))
    return files


def write_food101(root, classes=("apple_pie", "baby_back_ribs", "waffles"),
                  n_train=3, n_test=2, size=(80, 60), seed=0):
    """Write root/food-101 as its archive extracts: images/<class>/<id>.jpg,
    meta/classes.txt, and meta/train.json / meta/test.json mapping each
    class to its "class/id" entries. Returns {split: [(path, class index)]}
    with classes indexed in sorted order, as torchvision does."""
    import json
    rng = np.random.default_rng(seed)
    base = Path(root) / "food-101"
    (base / "meta").mkdir(parents=True, exist_ok=True)
    classes = sorted(classes)
    meta = {"train": {}, "test": {}}
    files = {"train": [], "test": []}
    image_id = 1000
    for label, name in enumerate(classes):
        (base / "images" / name).mkdir(parents=True, exist_ok=True)
        for split, n in (("train", n_train), ("test", n_test)):
            meta[split][name] = []
            for _ in range(n):
                image_id += 7
                path = base / "images" / name / f"{image_id}.jpg"
                _write_jpeg(path, rng, size)
                meta[split][name].append(f"{name}/{image_id}")
                files[split].append((path, label))
    for split in ("train", "test"):
        (base / "meta" / f"{split}.json").write_text(json.dumps(meta[split]))
        (base / "meta" / f"{split}.txt").write_text(
            "".join(f"{e}\n" for c in classes for e in meta[split][c]))
    (base / "meta" / "classes.txt").write_text("".join(
        f"{c}\n" for c in classes))
    return files


def write_idx(folder, n_train=20, n_test=10, seed=0, gz=False):
    """Write the four idx files of MNIST and Fashion-MNIST into ``folder``
    (big-endian magic 2051 / 2049 and dimensions; ``gz``: gzipped, as
    distributed). Returns ((train images, train labels) as numpy arrays,
    {file stem: SHA-256 of its uncompressed content})."""
    import gzip
    import struct
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out, sha = None, {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for stem, data in (
                (f"{prefix}-images-idx3-ubyte",
                 struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes()),
                (f"{prefix}-labels-idx1-ubyte",
                 struct.pack(">II", 2049, n) + labels.tobytes())):
            sha[stem] = hashlib.sha256(data).hexdigest()
            if gz:
                (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / stem).write_bytes(data)
        out = out or (images, labels)
    return out, sha


def write_mnist(root, n_train=20, n_test=10, seed=0):
    """Write root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte in
    the idx format torchvision reads. Returns (train images, train labels)
    as numpy arrays."""
    return write_idx(Path(root) / "MNIST" / "raw", n_train, n_test, seed)[0]
