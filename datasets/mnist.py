from functools import partial

from benchmark_utils.data.augment import ImageAugment
from benchmark_utils.data.loaders import subset_indices
from benchmark_utils.data.mnist import MEAN, STD, load_mnist
from benchmark_utils.bench.dataset import LocalDataset
from benchmark_utils.models.lenet import LeNet5
from benchmark_utils.tasks.image import ClassificationTask
from benchmark_utils.training.recipe import Recipe


class Dataset(LocalDataset):
    """MNIST (60,000 training and 10,000 test digits, 28x28) through
    torchvision, with LeNet-5 (benchmark_utils/models/lenet.py), for the
    thesis's chapter 3: the differentiation knobs ``maxpool`` (native,
    minimal, hybrid), ``maxpool_beta``, ``relu_prime0`` and ``batchnorm``,
    true 16/32/64-bit training (``dtype``) and ``deterministic`` mode.
    Recipe: batch 128 (the chapter's), 20 epochs, lr 1e-3 cosine, weight
    decay 0.01; no augmentation, normalization only. ``n_train`` keeps a
    fixed subset (quick checks)."""

    name = "mnist"
    data_key, data_marker = "mnist", "MNIST"
    parameters = {"epochs": [20], "batch_size": [128], "maxpool": ["native"],
                  "maxpool_beta": [0.0], "relu_prime0": [0],
                  "batchnorm": [False], "dtype": ["float32"],
                  "deterministic": [False], "n_train": [None]}

    def prepare(self):
        load_mnist(self.data_root(), download=True)

    def get_data(self):
        x, y, x_test, y_test = load_mnist(self.data_root())
        keep = subset_indices(len(y), self.n_train)
        if keep is not None:
            x, y = x[keep], y[keep]
        recipe = Recipe(batch_size=self.batch_size, epochs=self.epochs,
                        lr=1e-3, weight_decay=0.01, schedule="cosine",
                        dtype=self.dtype,
                        deterministic=bool(self.deterministic))
        task = ClassificationTask(
            x, y, x_test, y_test, recipe=recipe, n_classes=10,
            build_model=partial(LeNet5, maxpool=self.maxpool,
                                maxpool_beta=float(self.maxpool_beta),
                                relu_prime0=self.relu_prime0,
                                batchnorm=bool(self.batchnorm)),
            transform=ImageAugment(MEAN, STD, crop_padding=0, flip=False))
        task.source = self.source()
        return dict(task=task)
