"""CIFAR-10 through torchvision: checksum-verified download, or a local copy.

torchvision checks the MD5 of every file it reads (and of the archive it
downloads) against the values the dataset publishes.
"""
from pathlib import Path

import torch

from benchmark_utils.data.download import (DataNotFound, downloading,
                                           prune_empty)

# Per-channel mean and std of the training images, the normalization of the
# thesis authors' CIFAR code.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


def load_cifar10(root, download=True):
    """Return (x_train, y_train, x_test, y_test): uint8 NCHW images and int64
    labels. Reads ``root/cifar-10-batches-py``; downloads it there first if
    absent and ``download`` is true. A copy whose files fail their MD5 is
    reported file by file, never downloaded over."""
    # Imported here, not at the top: every benchopt run imports the dataset
    # files, and torchvision takes ~2 s.
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity
    root = Path(root)
    folder = root / CIFAR10.base_folder
    files = CIFAR10.train_list + CIFAR10.test_list
    # Decided on the files, not the folder: a folder without any of them
    # (left empty by an older version) is no copy, and must not stop a
    # download.
    if any((folder / name).is_file() for name, _ in files):
        bad = [folder / name for name, md5 in files
               if not check_integrity(str(folder / name), md5)]
        if bad:
            raise RuntimeError(
                "CIFAR-10 failed its checksums (the MD5s the dataset "
                "publishes): these files are truncated or altered: "
                f"{', '.join(map(str, bad))}. "
                f"Replace them from a good copy, or delete {folder} to let "
                "it download again.")
    splits = []
    for train in (True, False):
        try:
            ds = CIFAR10(root, train=train, download=False)
        except RuntimeError:
            if not download:
                raise _missing(root) from None
            prune_empty(folder)
            try:
                with downloading(root):
                    ds = CIFAR10(root, train=train, download=True)
            except Exception as e:  # offline, or the archive is corrupted
                raise _missing(root, e) from e
        x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        y = torch.tensor(ds.targets, dtype=torch.long)
        splits += [x, y]
    return tuple(splits)


def _missing(root, error=None):
    why = f" The download failed: {error!r}." if error is not None else ""
    return DataNotFound(
        f"CIFAR-10 was not found under {root} (expected "
        f"{root / 'cifar-10-batches-py'}).{why} Either let it "
        "download on a machine with internet access, or copy the extracted "
        "'cifar-10-batches-py' folder there, or point config.yml's "
        "data_paths: {cifar10: /path/to/folder} at the folder holding it.")
