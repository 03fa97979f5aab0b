from functools import partial

import torch
from benchopt import BaseDataset

from benchmark_utils.models.cifar import SmallCNN
from benchmark_utils.training.recipe import Recipe
from benchmark_utils.tasks.image import ClassificationTask


class Dataset(BaseDataset):
    """Tiny random images and labels, for `benchopt test` only."""

    name = "simulated"
    parameters = {"n_samples": [64], "epochs": [2]}

    def get_data(self):
        gen = torch.Generator().manual_seed(
            self.get_seed(use_repetition=True))
        x = torch.randn(self.n_samples + 32, 1, 8, 8, generator=gen)
        y = torch.randint(0, 4, (self.n_samples + 32,), generator=gen)
        recipe = Recipe(batch_size=16, epochs=self.epochs, lr=1e-3,
                        weight_decay=0.01)
        task = ClassificationTask(
            x[:self.n_samples], y[:self.n_samples],
            x[self.n_samples:], y[self.n_samples:],
            build_model=partial(SmallCNN, 1, width=4), recipe=recipe,
            n_classes=4)
        return dict(task=task)
