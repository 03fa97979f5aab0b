from functools import partial

from benchopt import BaseDataset
from benchopt.config import get_data_path

from benchmark_utils.models import build_imagenet_model
from benchmark_utils.recipe import Recipe
from benchmark_utils.tasks import LoaderClassificationTask
from benchmark_utils.vision import (IMAGENET_RECIPES, Normalize,
                                    default_workers, load_imagenet, subset)


class Dataset(BaseDataset):
    """ImageNet-1k from a local copy in torchvision's ImageFolder layout
    (train/ and val/, one folder per class), found through config.yml's
    ``data_paths: {imagenet: /path}``. torchvision's ResNet-18, ResNet-50
    or ViT-B/32 trained from scratch with the thesis's recipe for that model
    (``epochs`` and ``batch_size`` left to None take it). Training: random
    resized crop 224 and flip; test: resize 256, center crop 224. Reports
    top-1 and top-5 test accuracy.

    ``precision="bf16"`` and ``channels_last`` are off by default.
    ``n_workers`` DataLoader processes decode the JPEGs (None: one per core,
    at most 16); it does not change the batches. ``n_train`` keeps a fixed
    random subset of the training images (None keeps all).
    """

    name = "imagenet"
    data_key, data_marker = "imagenet", "train"
    parameters = {"model": ["resnet18"], "epochs": [None],
                  "batch_size": [None], "precision": ["fp32"],
                  "channels_last": [False], "n_workers": [None],
                  "n_train": [None]}

    def get_data(self):
        train, val, train_eval = load_imagenet(get_data_path(self.data_key))
        n_classes = len(train.classes)
        train = subset(train, self.n_train)
        train_eval = subset(train_eval, self.n_train)
        recipe = Recipe(**IMAGENET_RECIPES[self.model]).replace(
            epochs=self.epochs, batch_size=self.batch_size,
            precision=self.precision,
            channels_last=bool(self.channels_last))
        task = LoaderClassificationTask(
            train, val, train_eval,
            build_model=partial(build_imagenet_model, self.model),
            recipe=recipe, n_classes=n_classes,
            to_input=Normalize(channels_last=recipe.channels_last),
            num_workers=(default_workers() if self.n_workers is None
                         else int(self.n_workers)),
            top5=True, description=f"ImageNet-1k, {self.model}")
        return dict(task=task)
