"""The task of the 28x28 grey-image datasets (mnist, fashion_mnist): the
same models, recipe, knobs and splits, so that the two datasets differ only
in their images."""
from functools import partial

from benchmark_utils.data.augment import ImageAugment
from benchmark_utils.data.loaders import subset_indices
from benchmark_utils.data.splits import split_tensors
from benchmark_utils.models.lenet import build_lenet
from benchmark_utils.tasks.image import ClassificationTask
from benchmark_utils.training.recipe import Recipe

# Dataset parameters shared by mnist and fashion_mnist.
PARAMETERS = {"model": ["lenet5"], "epochs": [20], "batch_size": [128],
              "n_val": [0], "n_train": [None], "maxpool": ["native"],
              "maxpool_beta": [0.0], "relu_prime0": [0],
              "batchnorm": [False], "dtype": ["float32"],
              "deterministic": [False]}


def grey28_task(arrays, spec, dataset):
    """A ClassificationTask from (x, y, x_test, y_test), the reader's
    ``spec`` (its mean and std) and the benchopt dataset's parameters.

    Recipe: batch 128 (chapter 3's), lr 1e-3 cosine over the epochs,
    weight decay 0.01; no augmentation, normalization only. ``n_train``
    keeps a fixed subset (quick checks), then ``n_val`` holds out that many
    of the remaining training images, stratified and fixed."""
    x, y, x_test, y_test = arrays
    keep = subset_indices(len(y), dataset.n_train)
    if keep is not None:
        x, y = x[keep], y[keep]
    x, y, x_val, y_val = split_tensors(x, y, dataset.n_val)
    recipe = Recipe(batch_size=dataset.batch_size, epochs=dataset.epochs,
                    lr=1e-3, weight_decay=0.01, schedule="cosine",
                    dtype=dataset.dtype,
                    deterministic=bool(dataset.deterministic))
    build = partial(build_lenet, dataset.model, maxpool=dataset.maxpool,
                    maxpool_beta=float(dataset.maxpool_beta),
                    relu_prime0=dataset.relu_prime0,
                    batchnorm=bool(dataset.batchnorm))
    build(10)    # an unknown model name fails here, before any training
    return ClassificationTask(
        x, y, x_test, y_test, recipe=recipe, n_classes=10,
        build_model=build, x_val=x_val, y_val=y_val,
        transform=ImageAugment(spec.mean, spec.std, crop_padding=0,
                               flip=False))
