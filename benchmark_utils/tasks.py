"""What a dataset hands to the objective: data, model, loss, metrics, recipe.

A task knows how to build its model, batch its training data, compute the
training loss, and evaluate a model. The training loop and the objective are
generic over tasks.
"""
import torch
import torch.nn.functional as F

from benchmark_utils.data import TensorLoader, batches


class ClassificationTask:
    """Image classification with cross-entropy.

    Args:
        x_train, y_train, x_test, y_test: tensors. Inputs may be raw (uint8);
            ``transform(x, generator)`` turns a batch into model inputs,
            augmenting when given a generator and only normalizing when
            given None (evaluation).
        build_model: callable(n_classes) -> nn.Module.
        recipe: the experiment's ``Recipe``.
        top5: also report top-5 accuracy.
    """
    kind = "classification"

    def __init__(self, x_train, y_train, x_test, y_test, build_model, recipe,
                 n_classes, transform=None, eval_batch_size=1024,
                 top5=False, description=""):
        self.x_train, self.y_train = x_train, y_train
        self.x_test, self.y_test = x_test, y_test
        self._build_model = build_model
        self.recipe = recipe
        self.n_classes = n_classes
        self.transform = transform
        self.eval_batch_size = eval_batch_size
        self.top5 = top5
        self.description = description

    # -- what the training loop uses -------------------------------------
    def to(self, device):
        """Move the data to ``device`` once, so batches never cross it."""
        for name in ("x_train", "y_train", "x_test", "y_test"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    @property
    def device(self):
        return self.x_train.device

    def build_model(self):
        return self._build_model(self.n_classes)

    def train_loader(self, seed):
        return TensorLoader(self.x_train, self.y_train,
                            self.recipe.batch_size, seed, self.transform)

    @property
    def n_train(self):
        return len(self.x_train)

    def loss(self, model, batch):
        """Mean training loss of a batch, and the sums to accumulate."""
        x, y = batch
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        correct = (logits.detach().argmax(1) == y).sum()
        return loss, {"loss": loss.detach() * len(y), "correct": correct,
                      "count": len(y)}

    def sampled_loss(self, model, batch):
        """Cross-entropy against labels sampled from the model's own
        softmax (Sophia's Gauss-Newton-Bartlett estimator)."""
        x, _ = batch
        logits = model(x).float()
        with torch.no_grad():
            y_hat = torch.multinomial(F.softmax(logits, dim=-1), 1).squeeze(1)
        return F.cross_entropy(logits, y_hat)

    # -- what the objective reports ------------------------------------
    @torch.no_grad()
    def evaluate(self, model, running=None):
        """Metrics of ``model``. Training metrics come from ``running`` (the
        sums accumulated since the last evaluation) when given, else from
        a full pass over the training set without augmentation."""
        was_training = model.training
        model.eval()
        test = self._pass(model, self.x_test, self.y_test)
        if not running:
            train = self._pass(model, self.x_train, self.y_train)
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
        return metrics

    def _pass(self, model, x, y):
        loss = correct = top5 = 0.0
        for xb, yb in batches(x, y, self.eval_batch_size, self.transform):
            logits = model(xb).float()
            loss += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
            if self.top5:
                k = min(5, logits.shape[1])
                top = logits.topk(k, dim=1).indices
                top5 += (top == yb[:, None]).any(1).sum().item()
        n = len(y)
        return dict(loss=loss / n, acc=correct / n, top5=top5 / n)
