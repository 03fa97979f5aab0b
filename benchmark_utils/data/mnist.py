"""MNIST and Fashion-MNIST: one reader of their idx files, gzipped or not.

Both ship as four idx files (train-images-idx3-ubyte, train-labels-idx1-
ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte), in torchvision's
layout under ``<root>/MNIST/raw/`` or ``<root>/FashionMNIST/raw/``. Where
that folder lacks the files, Fashion-MNIST is also looked for in the Debian
package's folder (``apt-get install dataset-fashion-mnist``), then
downloaded through torchvision (which checks the MD5 of each archive).

Fashion-MNIST's files are verified by the SHA-256 of their decompressed
content, which Debian's recompressed copy and Zalando's archives share;
MNIST's by their idx header (the declared shape must match the size). A
file that fails is named, never replaced silently by another copy.
"""
import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark_utils.data.download import (DataNotFound, downloading,
                                           prune_empty)

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class IdxData:
    name: str                 # for messages
    folder: str               # torchvision's class name: <root>/<folder>/raw
    key: str                  # config.yml's data_paths key
    mean: tuple
    std: tuple
    sha256: dict = None       # decompressed content; None: header only
    system_copy: Path = None  # a distribution's copy, used without config


# Per-pixel mean and standard deviation of the training images.
MNIST = IdxData("MNIST", "MNIST", "mnist", (0.1307,), (0.3081,))
FASHION_MNIST = IdxData(
    "Fashion-MNIST", "FashionMNIST", "fashion_mnist", (0.2860,), (0.3530,),
    sha256={
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8"
                                   "a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2"
                                   "e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca"
                                  "49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83da"
                                  "b82d92729df917d7dec38c34"},
    system_copy=Path("/usr/share/datasets/fashion-mnist"))

# Kept for the callers of the MNIST-only reader.
MEAN, STD = MNIST.mean, MNIST.std


def raw_folder(root, spec):
    return Path(root) / spec.folder / "raw"


def find(folder, stem):
    """``folder/stem``, else ``folder/stem.gz``, else None."""
    for path in (Path(folder) / stem, Path(folder) / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def complete(folder):
    return all(find(folder, stem) is not None for stem in FILES)


def locate(root, spec):
    """The folder the data are read from: ``<root>/<folder>/raw`` when it
    holds the four files, else the system copy when it does, else None."""
    for folder in (raw_folder(root, spec), spec.system_copy):
        if folder is not None and complete(folder):
            return Path(folder)
    return None


def read_idx(path, sha256=None):
    """The array stored in an idx file (``.gz`` or not). Raises ValueError
    naming the file when it is truncated, not an idx file, or (with
    ``sha256``) differs from the published content."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: unreadable ({type(e).__name__}: {e}); "
                         "the file is truncated or corrupted.") from e
    if sha256 is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise ValueError(
                f"{path}: the SHA-256 of its content is {digest}, not the "
                f"published {sha256}: the file is truncated or altered.")
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: not an idx file of unsigned bytes.")
    ndim = data[3]
    head = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big")
                  for i in range(ndim))
    if len(data) != head + int(np.prod(shape)):
        raise ValueError(
            f"{path}: {len(data)} bytes where its header declares shape "
            f"{shape} ({head + int(np.prod(shape))} bytes): the file is "
            "truncated or altered.")
    return np.frombuffer(data, dtype=np.uint8, offset=head).reshape(shape)


def read_folder(folder, spec):
    """(x_train, y_train, x_test, y_test) from a folder holding the four
    files: uint8 N x 1 x 28 x 28 images and int64 labels."""
    arrays = {}
    for stem in FILES:
        expected = None if spec.sha256 is None else spec.sha256[stem]
        arrays[stem] = read_idx(find(folder, stem), expected)
    out = []
    for split in ("train", "t10k"):
        images = arrays[f"{split}-images-idx3-ubyte"]
        labels = arrays[f"{split}-labels-idx1-ubyte"]
        if images.ndim != 3 or labels.ndim != 1 or \
                len(images) != len(labels):
            raise ValueError(
                f"{folder}: {split} images of shape {images.shape} and "
                f"labels of shape {labels.shape} do not pair up.")
        out += [torch.from_numpy(images.copy())[:, None],
                torch.from_numpy(labels.astype(np.int64))]
    return tuple(out)


def download(root, spec):
    """torchvision's download of ``spec`` into ``<root>/<folder>/raw``
    (MD5-checked archives, extracted); leaves nothing behind on failure."""
    import torchvision.datasets as tv
    prune_empty(Path(root) / spec.folder)   # an older version's leftover
    with downloading(root):
        getattr(tv, spec.folder)(root, train=True, download=True)


def load(root, spec, download_missing=True):
    root = Path(root)
    folder = locate(root, spec)
    if folder is None and download_missing:
        try:
            download(root, spec)
        except Exception as e:
            raise _missing(root, spec, e) from e
        folder = locate(root, spec)
    if folder is None:
        raise _missing(root, spec)
    return read_folder(folder, spec)


def load_mnist(root, download=True):
    """MNIST as (x_train, y_train, x_test, y_test)."""
    return load(root, MNIST, download)


def load_fashion_mnist(root, download=True):
    """Fashion-MNIST as (x_train, y_train, x_test, y_test)."""
    return load(root, FASHION_MNIST, download)


def _missing(root, spec, error=None):
    why = (f" The download failed ({type(error).__name__}: "
           f"{' '.join(str(error).split())})." if error is not None else "")
    system = (f" or install the Debian package (apt-get install "
              f"dataset-fashion-mnist: {spec.system_copy})"
              if spec.system_copy is not None else "")
    return DataNotFound(
        f"{spec.name} was not found under {root} (expected "
        f"{raw_folder(root, spec)} with the four idx files, gzipped or "
        f"not: {', '.join(FILES)}).{why} Either let it download on a "
        f"machine with internet access, copy torchvision's "
        f"{spec.folder}/raw folder there{system}, or point config.yml's "
        f"data_paths: {{{spec.key}: /path/to/folder}} at the folder "
        f"holding {spec.folder}/.")
