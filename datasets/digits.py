from functools import partial

import torch
from benchopt import BaseDataset

from benchmark_utils.data.splits import split_tensors
from benchmark_utils.models.cifar import SmallCNN
from benchmark_utils.training.recipe import Recipe
from benchmark_utils.tasks.image import ClassificationTask


class Dataset(BaseDataset):
    """scikit-learn's handwritten digits: 1,797 real 8x8 images in 10
    classes, shipped inside scikit-learn (no download). The quickstart's
    dataset: a small CNN, a fixed stratified 75/25 split.

    ``n_val`` holds out that many of the 1,348 training images, stratified
    by class and fixed, as a validation split (``val_loss``, ``val_acc``;
    270, about 20%, in the tuning studies); 0 trains on all of them.
    """

    name = "digits"
    # dtype: float64 trains in 64 bits throughout (Figure 4.10's check).
    parameters = {"epochs": [20], "batch_size": [64], "n_val": [0],
                  "dtype": ["float32"]}

    def get_data(self):
        # Imported here: benchopt imports every dataset file on each run.
        from sklearn.datasets import load_digits
        x, y = load_digits(return_X_y=True)
        x = torch.tensor(x, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0
        y = torch.tensor(y, dtype=torch.long)
        # Fixed split, independent of the run's seed: every repetition is
        # judged on the same test images.
        order = torch.randperm(len(y), generator=torch.Generator()
                               .manual_seed(0))
        test = torch.zeros(len(y), dtype=torch.bool)
        for c in range(10):
            idx = order[y[order] == c]
            test[idx[:len(idx) // 4]] = True
        x_train, y_train, x_val, y_val = split_tensors(x[~test], y[~test],
                                                       self.n_val)
        recipe = Recipe(batch_size=self.batch_size, epochs=self.epochs,
                        lr=1e-3, weight_decay=0.01, schedule="cosine",
                        dtype=self.dtype)
        task = ClassificationTask(
            x_train, y_train, x[test], y[test],
            build_model=partial(SmallCNN, 1), recipe=recipe,
            n_classes=10, x_val=x_val, y_val=y_val)
        return dict(task=task)
