"""MNIST through torchvision: its checksum-verified download, or a local
copy in torchvision's layout (``root/MNIST/raw/`` holding the four idx
files, train-images-idx3-ubyte and the others)."""
from pathlib import Path

import torch
from torchvision.datasets import MNIST

from benchmark_utils.data.download import DataNotFound, downloading

# Per-pixel mean and standard deviation of the training images.
MEAN, STD = (0.1307,), (0.3081,)


def load_mnist(root, download=True):
    """(x_train, y_train, x_test, y_test): uint8 N x 1 x 28 x 28 images and
    int64 labels. Downloads (MD5-checked by torchvision) when absent and
    ``download`` is true."""
    root = Path(root)
    splits = []
    for train in (True, False):
        try:
            if download and not (root / "MNIST" / "raw").is_dir():
                with downloading(root):
                    ds = MNIST(root, train=train, download=True)
            else:
                ds = MNIST(root, train=train, download=False)
        except Exception as e:
            raise DataNotFound(
                f"MNIST was not found or could not be read under {root} "
                f"(expected {root / 'MNIST' / 'raw'} with the four idx files;"
                f" {type(e).__name__}: {e}). Either let it download on a "
                "machine with internet access, or copy torchvision's "
                "MNIST/raw folder there, or point config.yml's data_paths: "
                "{mnist: /path/to/folder} at the folder holding MNIST/.") \
                from e
        splits += [ds.data[:, None].contiguous(),
                   torch.as_tensor(ds.targets, dtype=torch.long)]
    return tuple(splits)
