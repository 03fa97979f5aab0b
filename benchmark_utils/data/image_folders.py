"""ImageNet-1k and Food101 on disk: the readers, fixed subsets, and the
number of decoding workers."""
import copy
import json
import os
from pathlib import Path

import torch

from benchmark_utils.data.augment import eval_transform, train_transform
from benchmark_utils.data.download import (DataNotFound, downloading,
                                           has_files, prune_empty)
from benchmark_utils.data.loaders import subset_indices
from benchmark_utils.data.splits import stratified_holdout


def default_workers():
    """DataLoader workers: one per available core, at most 16."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return min(16, cores)


def n_workers(requested):
    """The dataset parameter ``n_workers``: None picks default_workers()."""
    return default_workers() if requested is None else int(requested)


def subset(dataset, n, seed=0):
    """A fixed random subset of ``n`` samples (None keeps all)."""
    keep = subset_indices(len(dataset), n, seed)
    if keep is None:
        return dataset
    return torch.utils.data.Subset(dataset, keep.tolist())


def labels(dataset):
    """The class of every sample, without decoding an image: ImageFolder's
    ``targets``, Food101's ``_labels``, through any ``Subset``."""
    if isinstance(dataset, torch.utils.data.Subset):
        base = labels(dataset.dataset)
        return [base[i] for i in dataset.indices]
    for name in ("targets", "_labels"):
        if hasattr(dataset, name):
            return list(getattr(dataset, name))
    raise TypeError(f"No labels found on {type(dataset).__name__}.")


def hold_out(train, train_eval, n_val):
    """(train, train_eval, val): ``n_val`` training images, stratified by
    class and fixed (data/splits.py), moved out of both training views
    into ``val`` (evaluation transform). ``n_val = 0`` changes nothing and
    ``val`` is None."""
    keep, held = stratified_holdout(labels(train), n_val)
    if len(held) == 0:
        return train, train_eval, None
    views = [torch.utils.data.Subset(data, idx.tolist()) for data, idx in
             ((train, keep), (train_eval, keep), (train_eval, held))]
    return tuple(views)


def load_imagenet(root, train_tf=None, eval_tf=None):
    """ImageNet-1k in torchvision's ImageFolder layout: ``root/train/<wnid>/
    *.JPEG`` and ``root/val/<wnid>/*.JPEG`` (the validation images sorted
    into class folders). Returns (train, val, train_eval) datasets; the
    last one is the training set with the evaluation transform."""
    from torchvision import datasets    # ~2 s: only where a dataset is read
    root = Path(root)
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise DataNotFound(
                f"ImageNet was not found: {root / split} is missing. Put a "
                "local ImageNet-1k copy in torchvision's ImageFolder layout "
                "(train/ and val/, one folder per class, validation images "
                "sorted into class folders) there, or point config.yml's "
                "data_paths: {imagenet: /path/to/imagenet} at the folder "
                "holding train/ and val/.")
    train = datasets.ImageFolder(root / "train", train_tf or train_transform())
    val = datasets.ImageFolder(root / "val", eval_tf or eval_transform())
    if train.classes != val.classes:
        missing = sorted(set(train.classes) ^ set(val.classes))[:5]
        raise RuntimeError(
            f"ImageNet under {root}: train/ has {len(train.classes)} class "
            f"folders and val/ {len(val.classes)}, differing in e.g. "
            f"{missing}. Both splits need the same class folders.")
    # The same file list (a scan of 1.28M files is slow) with the test
    # transform.
    train_eval = copy.copy(train)
    train_eval.transform = eval_tf or eval_transform()
    return train, val, train_eval


def load_food101(root, train_tf, eval_tf, download=True):
    """Food101 through torchvision: ``root/food-101/images/<class>/<id>.jpg``
    with the official split in ``meta/train.json`` and ``meta/test.json``.
    Downloads the archive (MD5-checked by torchvision) when absent and
    ``download`` is true. Returns (train, test, train_eval)."""
    from torchvision import datasets    # ~2 s: only where a dataset is read
    root = Path(root)
    folder = root / "food-101"
    # Decided on the files: folders without any (left by an older version)
    # are no copy, and must not stop the download (torchvision skips it
    # when food-101/meta and food-101/images exist, even empty).
    if has_files(folder):
        # A local copy: read it, and say which file is wrong if it is.
        for name in ("train.json", "test.json"):
            meta = folder / "meta" / name
            try:
                json.loads(meta.read_text())
            except (OSError, ValueError) as e:
                raise RuntimeError(
                    f"Food101 under {root}: {meta} is missing or not valid "
                    f"JSON ({e}). Replace it from the original archive "
                    "(food-101.tar.gz, meta/), or delete "
                    f"{folder} to let it download again.") from e
        return tuple(datasets.Food101(root, split=split, transform=tf)
                     for split, tf in [("train", train_tf), ("test", eval_tf),
                                       ("train", eval_tf)])
    prune_empty(folder)
    try:
        with downloading(root):
            datasets.Food101(root, split="train", download=download)
    except Exception as e:  # absent offline, or a failed download
        raise DataNotFound(
            f"Food101 was not found under {root} (expected "
            f"{root / 'food-101'}/images and /meta), and could not be "
            f"downloaded ({e!r}). Either let it download on a machine with "
            "internet access (5 GB), or copy the extracted 'food-101' "
            "folder there, or point config.yml's data_paths: "
            "{food101: /path/to/folder} at the folder holding it.") from e
    return load_food101(root, train_tf, eval_tf, download=False)
