from functools import partial

from benchopt.config import get_data_path

from benchmark_utils.bench.dataset import LocalDataset
from benchmark_utils.data.cifar10 import MEAN, STD, load_cifar10
from benchmark_utils.data.loaders import subset_indices
from benchmark_utils.data.splits import split_tensors
from benchmark_utils.data.augment import ImageAugment
from benchmark_utils.models.cifar import build_cifar_model
from benchmark_utils.training.recipe import Recipe
from benchmark_utils.tasks.image import ClassificationTask


class Dataset(LocalDataset):
    """CIFAR-10 with the thesis's recipe (section 4.10.1): batch 256, 200
    epochs, lr 1e-3 with a per-epoch cosine schedule (T_max = the epoch
    budget, gamma_min = 0), weight decay 0.01; random crop 32 with reflect
    padding 4, horizontal flip, normalization.

    The whole dataset sits on the device as uint8 and is augmented there in
    batches. ``model``: vgg11, resnet18 or densenet121 (CIFAR forms).
    ``precision="bf16"`` trains under bf16 autocast and ``channels_last``
    uses NHWC memory format (both off by default: fp32 as in the thesis).
    ``n_train`` keeps a fixed random subset of the training images (for
    quick checks); None keeps all 50,000. ``n_val`` holds out that many of
    them, stratified by class and fixed, as a validation split
    (``val_loss``, ``val_acc``; 5,000 for tuning studies); 0, the default,
    trains on all of them as the thesis did.

    Chapter 3's knobs (VGG11 only, see benchmark_utils/models/nonsmooth.py):
    ``maxpool`` (native, minimal or hybrid with ``maxpool_beta``),
    ``relu_prime0``, ``batchnorm``; ``dtype`` trains in float16, float32
    or float64 throughout (no autocast); ``deterministic`` uses torch's
    deterministic algorithms.
    """

    name = "cifar10"
    data_key, data_marker = "cifar10", "cifar-10-batches-py"
    parameters = {"model": ["resnet18"], "epochs": [200],
                  "batch_size": [256], "n_train": [None],
                  "n_val": [0], "precision": ["fp32"],
                  "channels_last": [False],
                  "maxpool": ["native"], "maxpool_beta": [0.0],
                  "relu_prime0": [0], "batchnorm": [True],
                  "dtype": ["float32"], "deterministic": [False]}

    def prepare(self):
        load_cifar10(get_data_path(self.data_key), download=True)

    def get_data(self):
        x, y, x_test, y_test = load_cifar10(get_data_path(self.data_key))
        keep = subset_indices(len(y), self.n_train)
        if keep is not None:
            x, y = x[keep], y[keep]
        x, y, x_val, y_val = split_tensors(x, y, self.n_val)
        recipe = Recipe(batch_size=self.batch_size, epochs=self.epochs,
                        lr=1e-3, weight_decay=0.01, schedule="cosine",
                        precision=self.precision,
                        channels_last=bool(self.channels_last),
                        dtype=self.dtype,
                        deterministic=bool(self.deterministic))
        task = ClassificationTask(
            x, y, x_test, y_test,
            build_model=partial(build_cifar_model, self.model,
                                maxpool=self.maxpool,
                                maxpool_beta=float(self.maxpool_beta),
                                relu_prime0=self.relu_prime0,
                                batchnorm=bool(self.batchnorm)),
            recipe=recipe, n_classes=10, x_val=x_val, y_val=y_val,
            transform=ImageAugment(MEAN, STD,
                                   channels_last=recipe.channels_last))
        task.source = self.source()
        return dict(task=task)
