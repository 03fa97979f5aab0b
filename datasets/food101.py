from functools import partial

from benchopt.config import get_data_path

from benchmark_utils.bench.dataset import LocalDataset
from benchmark_utils.training.identity import data_source
from benchmark_utils.models.imagenet import (build_pretrained_model,
                                    load_pretrained_state)
from benchmark_utils.training.recipe import Recipe
from benchmark_utils.tasks.image import LoaderClassificationTask
from benchmark_utils.data.augment import (Normalize, eval_transform,
                                          train_transform)
from benchmark_utils.data.image_folders import (hold_out, load_food101,
                                                n_workers,
                                                subset)


class Dataset(LocalDataset):
    """Food101 (101 classes, 75,750 training and 25,250 test images)
    through torchvision: checksum-verified download, or a local copy. Fine-
    tunes torchvision's ImageNet-1k weights of ``model`` ("vgg11": vgg11_bn
    with classifier dropout 0.2, or "resnet18"), the last layer replaced.

    Recipe (thesis section 4.3.2, the authors' finetune_with_best_args.py):
    20 epochs, batch 256, lr 1e-4 (AdamW's best of a grid), weight decay
    0.01, per-epoch cosine down to lr/10. The authors' training images are
    resized to 256 and center-cropped to 224 like the test images, without
    augmentation; ``augment=True`` uses the random resized crop and flip
    instead.

    The weights come from config.yml's ``data_paths: {pretrained: /dir}``
    when the file (torchvision's name, e.g. resnet18-f37072fd.pth) is
    there, else from torchvision's cache, downloading it if absent.

    ``n_val`` holds out that many training images, stratified by class, as
    a validation split (``val_loss``, ``val_acc``, ``val_top5``; 10,000 for
    tuning studies); 0, the default, trains on all of them as the thesis
    did.
    """

    name = "food101"
    data_key, data_marker = "food101", "food-101"
    parameters = {"model": ["resnet18"], "epochs": [20],
                  "batch_size": [256], "augment": [False],
                  "precision": ["fp32"], "channels_last": [False],
                  "n_workers": [None], "n_train": [None], "n_val": [0]}

    def source(self):
        # The pretrained weights are data of this run too.
        return " + ".join([super().source(),
                           data_source(get_data_path("pretrained"))])

    def prepare(self):
        load_food101(get_data_path(self.data_key), None, None, download=True)
        load_pretrained_state(self.model, get_data_path("pretrained"))

    def get_data(self):
        train_tf = train_transform() if self.augment else eval_transform()
        train, test, train_eval = load_food101(
            get_data_path(self.data_key), train_tf, eval_transform())
        n_classes = len(train.classes)
        train = subset(train, self.n_train)
        train_eval = subset(train_eval, self.n_train)
        train, train_eval, val = hold_out(train, train_eval, self.n_val)
        state = load_pretrained_state(self.model, get_data_path("pretrained"))
        recipe = Recipe(batch_size=self.batch_size, epochs=self.epochs,
                        lr=1e-4, weight_decay=0.01, schedule="cosine",
                        min_lr_ratio=0.1, precision=self.precision,
                        channels_last=bool(self.channels_last))
        task = LoaderClassificationTask(
            train, test, train_eval,
            build_model=partial(build_pretrained_model, self.model,
                                state=state),
            recipe=recipe, n_classes=n_classes,
            to_input=Normalize(channels_last=recipe.channels_last),
            num_workers=n_workers(self.n_workers),
            top5=True, val=val)
        task.source = self.source()
        return dict(task=task)
