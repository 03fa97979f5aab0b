"""ImageNet-1k and Food101 on disk: readers and the thesis's transforms.

Workers decode JPEGs and augment them with PIL (torchvision's transforms) and
hand uint8 tensors to the main process; normalization runs on the device
(``Normalize``), so a batch crosses to the GPU at a quarter of its float size.
"""
import copy
import os
from pathlib import Path

import torch
from torchvision import datasets, transforms

# torchvision's ImageNet statistics, those the pretrained weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# Thesis section 4.3.2 and tables of 4.10.3: per-epoch cosine schedules, lr
# 1e-3; AdamW's weight decay (INNAprop's own choices are solver parameters in
# configs/imagenet_*.yml). gamma_min = 1e-5 is the authors' command for
# ResNet-18 (innaprop/innaprop, classification/README.md), kept for all three.
IMAGENET_RECIPES = {
    "resnet18": dict(epochs=90, batch_size=256, lr=1e-3, weight_decay=0.01,
                     schedule="cosine", min_lr_ratio=0.01),
    "resnet50": dict(epochs=90, batch_size=256, lr=1e-3, weight_decay=0.1,
                     schedule="cosine", min_lr_ratio=0.01),
    "vit_b_32": dict(epochs=300, batch_size=1024, lr=1e-3, weight_decay=0.1,
                     schedule="cosine_warmup", warmup=30, min_lr_ratio=0.01),
}


def default_workers():
    """DataLoader workers: one per available core, at most 16."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return min(16, cores)


def subset(dataset, n, seed=0):
    """A fixed random subset of ``n`` samples (None keeps all)."""
    if n is None or n >= len(dataset):
        return dataset
    keep = torch.randperm(len(dataset),
                          generator=torch.Generator().manual_seed(seed))
    return torch.utils.data.Subset(dataset, keep[:int(n)].tolist())


def train_transform(crop=224):
    """Thesis section 4.10.3 (torchvision's reference recipe): a random
    resized crop to 224x224 (scale 0.08-1, bilinear) and a horizontal flip."""
    return transforms.Compose([
        transforms.RandomResizedCrop(crop, antialias=True),
        transforms.RandomHorizontalFlip(),
        transforms.PILToTensor(),
    ])


def eval_transform(resize=256, crop=224):
    """Shorter side resized to 256, center crop 224x224."""
    return transforms.Compose([
        transforms.Resize(resize, antialias=True),
        transforms.CenterCrop(crop),
        transforms.PILToTensor(),
    ])


class Normalize:
    """uint8 NCHW batch on the device -> normalized float32, optionally in
    channels_last memory format."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                 channels_last=False):
        mean, std = torch.tensor(mean), torch.tensor(std)
        self.scale = (1 / (255 * std)).view(1, -1, 1, 1)
        self.shift = (-mean / std).view(1, -1, 1, 1)
        self.memory_format = (torch.channels_last if channels_last
                              else torch.contiguous_format)

    def __call__(self, x):
        x = x.to(torch.float32, memory_format=self.memory_format)
        return torch.addcmul(self.shift.to(x.device), x,
                             self.scale.to(x.device))


def load_imagenet(root, train_tf=None, eval_tf=None):
    """ImageNet-1k in torchvision's ImageFolder layout: ``root/train/<wnid>/
    *.JPEG`` and ``root/val/<wnid>/*.JPEG`` (the validation images sorted
    into class folders). Returns (train, val, train_eval) datasets; the
    last one is the training set with the evaluation transform."""
    root = Path(root)
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise RuntimeError(
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
    root = Path(root)
    try:
        return tuple(
            datasets.Food101(root, split=split, transform=tf,
                             download=download and i == 0)
            for i, (split, tf) in enumerate([("train", train_tf),
                                             ("test", eval_tf),
                                             ("train", eval_tf)]))
    except Exception as e:  # absent offline, or a failed download
        raise RuntimeError(
            f"Food101 was not found under {root} (expected "
            f"{root / 'food-101'}/images and /meta), and could not be "
            f"downloaded ({e!r}). Either let it download on a machine with "
            "internet access (5 GB), or copy the extracted 'food-101' "
            "folder there, or point config.yml's data_paths: "
            "{food101: /path/to/folder} at the folder holding it.") from e
