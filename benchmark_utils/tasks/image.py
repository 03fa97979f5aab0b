"""Image classification tasks: from tensors in memory (digits, CIFAR-10)
or from image files decoded by DataLoader workers (ImageNet, Food101)."""
import torch
import torch.nn.functional as F

from benchmark_utils.data.loaders import DatasetLoader, TensorLoader, batches
from benchmark_utils.tasks.base import Task, at_least_fp32
from benchmark_utils.training import parallel


class ClassificationTask(Task):
    """Image classification with cross-entropy.

    Args:
        x_train, y_train, x_test, y_test: tensors. Inputs may be raw (uint8);
            ``transform(x, generator)`` turns a batch into model inputs,
            augmenting when given a generator and only normalizing when
            given None (evaluation).
        build_model: callable(n_classes) -> nn.Module.
        recipe: the experiment's ``Recipe``.
        top5: also report top-5 accuracy.
        x_val, y_val: a held-out part of the training set (never trained
            on), reported as ``val_loss``, ``val_acc`` (``val_top5``) for
            selecting hyperparameters; None: no validation split.
    """
    def __init__(self, x_train, y_train, x_test, y_test, build_model, recipe,
                 n_classes, transform=None, eval_batch_size=1024,
                 top5=False, x_val=None, y_val=None):
        self.x_train, self.y_train = x_train, y_train
        self.x_test, self.y_test = x_test, y_test
        self.x_val, self.y_val = x_val, y_val
        self._build_model = build_model
        self.recipe = recipe
        self.n_classes = n_classes
        self.transform = transform
        self.eval_batch_size = eval_batch_size
        self.top5 = top5

    # -- what the training loop uses -------------------------------------
    def to(self, device):
        """Move the data to ``device`` once, so batches never cross it."""
        for name in self._tensors():
            setattr(self, name, getattr(self, name).to(device))
        return self

    def _tensors(self):
        return [name for name in ("x_train", "y_train", "x_test", "y_test",
                                  "x_val", "y_val")
                if getattr(self, name, None) is not None]

    @property
    def has_val(self):
        return getattr(self, "y_val", None) is not None

    @property
    def device(self):
        return self.x_train.device

    def __getstate__(self):
        # Sent to another process (data parallelism) with its data on the
        # CPU: each process moves it to its own device.
        state = self.__dict__.copy()
        for name in self._tensors():
            state[name] = state[name].cpu()
        return state

    def build_model(self):
        return self._build_model(self.n_classes)

    def train_loader(self, seed, shard=None):
        return TensorLoader(self.x_train, self.y_train,
                            self.recipe.batch_size, seed, self.transform,
                            shard)

    def loss(self, model, batch):
        """Mean training loss of a batch, and the sums to accumulate."""
        x, y = batch
        logits = model(x)
        loss = F.cross_entropy(at_least_fp32(logits), y)
        correct = (logits.detach().argmax(1) == y).sum()
        return loss, {"loss": loss.detach() * len(y), "correct": correct,
                      "count": len(y)}

    # -- what the objective reports ------------------------------------
    @torch.no_grad()
    def evaluate(self, model, running=None):
        """Metrics of ``model``. Training metrics come from ``running`` (the
        sums accumulated since the last evaluation) when given, else from
        a full pass over the training set without augmentation."""
        was_training = model.training
        model.eval()
        test = self._pass(model, self.eval_batches("test"))
        val = self._pass(model, self.eval_batches("val")) if self.has_val \
            else None
        if not running:
            train = self._pass(model, self.eval_batches("train"))
        else:
            n = running["count"]
            train = dict(loss=float(running["loss"]) / n,
                         acc=float(running["correct"]) / n)
        model.train(was_training)
        metrics = dict(value=train["loss"], train_loss=train["loss"],
                       train_acc=100 * train["acc"], test_loss=test["loss"],
                       test_acc=100 * test["acc"])
        if self.top5:
            metrics["test_top5"] = 100 * test["top5"]
        if val is not None:
            metrics.update(val_loss=val["loss"], val_acc=100 * val["acc"])
            if self.top5:
                metrics["val_top5"] = 100 * val["top5"]
        return metrics

    def eval_batches(self, split):
        """Unshuffled, unaugmented (inputs, labels) batches of ``split``
        ("train", "val" or "test"), on the device."""
        x, y = {"train": (self.x_train, self.y_train),
                "val": (self.x_val, self.y_val),
                "test": (self.x_test, self.y_test)}[split]
        return batches(x, y, self.eval_batch_size, self.transform,
                       parallel.shard())

    def _pass(self, model, batches):
        # Sums stay on the device: one host sync per pass, not per batch.
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        n = 0
        for xb, yb in batches:
            xb, yb = self.recipe.cast((xb, yb))
            with self.recipe.autocast(self.device):  # training precision
                logits = at_least_fp32(model(xb))
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices == yb[:, None]
            sums += torch.stack([
                F.cross_entropy(logits, yb, reduction="sum").double(),
                top[:, 0].sum().double(), top.any(1).sum().double()])
            n += len(yb)
        # Data-parallel: each process evaluated its share; add them up.
        totals = parallel.all_reduce_sum(torch.cat([
            sums, torch.tensor([n], dtype=torch.float64, device=self.device)
        ]))
        loss, correct, top5, n = totals.tolist()
        return dict(loss=loss / n, acc=correct / n, top5=top5 / n)


class LoaderClassificationTask(ClassificationTask):
    """Image classification from image files (ImageNet, Food101): workers
    decode and augment, the device normalizes.

    Args:
        train, test, train_eval: map-style datasets of (uint8 CHW tensor,
            label); ``train`` augments, ``test`` and ``train_eval`` (the
            training images, evaluation transform) do not.
        to_input: callable(uint8 batch on the device) -> model input.
        num_workers: DataLoader worker processes.
        val: held-out training images with the evaluation transform (None:
            no validation split).
    """

    def __init__(self, train, test, train_eval, build_model, recipe,
                 n_classes, to_input, num_workers=0, eval_batch_size=256,
                 top5=True, val=None):
        self.train_set, self.test_set = train, test
        self.val_set = val
        self.train_eval_set = train_eval
        self._build_model = build_model
        self.recipe = recipe
        self.n_classes = n_classes
        self.to_input = to_input
        self.num_workers = num_workers
        self.eval_batch_size = eval_batch_size
        self.top5 = top5
        self._device = torch.device("cpu")

    @property
    def has_val(self):
        return getattr(self, "val_set", None) is not None

    def to(self, device):
        # The images stay on disk; batches are copied to ``device``.
        self._device = torch.device(device)
        return self

    @property
    def device(self):
        return self._device

    def train_loader(self, seed, shard=None):
        return DatasetLoader(self.train_set, self.recipe.batch_size, seed,
                             self.device, self.to_input, self.num_workers,
                             shard=shard)

    def eval_batches(self, split):
        data = {"train": self.train_eval_set, "val": self.val_set,
                "test": self.test_set}[split]
        loader = DatasetLoader(data, self.eval_batch_size, 0, self.device,
                               self.to_input, self.num_workers,
                               shuffle=False, shard=parallel.shard())
        return loader.epoch(0)
