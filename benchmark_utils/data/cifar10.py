"""CIFAR-10 through torchvision: checksum-verified download, or a local copy.

torchvision checks the MD5 of every file it reads (and of the archive it
downloads) against the values the dataset publishes.
"""
from pathlib import Path

import torch
from torchvision.datasets import CIFAR10

# Per-channel mean and std of the training images, the normalization of the
# thesis authors' CIFAR code.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


def load_cifar10(root, download=True):
    """Return (x_train, y_train, x_test, y_test): uint8 NCHW images and int64
    labels. Reads ``root/cifar-10-batches-py``; downloads it there first if
    absent and ``download`` is true."""
    root = Path(root)
    splits = []
    for train in (True, False):
        try:
            ds = CIFAR10(root, train=train, download=False)
        except RuntimeError:
            if not download:
                raise _missing(root) from None
            try:
                ds = CIFAR10(root, train=train, download=True)
            except Exception as e:  # offline, or the archive is corrupted
                raise _missing(root, e) from e
        x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        y = torch.tensor(ds.targets, dtype=torch.long)
        splits += [x, y]
    return tuple(splits)


def _missing(root, error=None):
    why = f" The download failed: {error!r}." if error is not None else ""
    return RuntimeError(
        f"CIFAR-10 was not found, or failed its checksums, under {root} "
        f"(expected {root / 'cifar-10-batches-py'}).{why} Either let it "
        "download on a machine with internet access, or copy the extracted "
        "'cifar-10-batches-py' folder there, or point config.yml's "
        "data_paths: {cifar10: /path/to/folder} at the folder holding it.")
