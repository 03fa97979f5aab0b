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
