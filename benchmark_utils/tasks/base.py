"""The contract between a dataset plugin, the training loop and the objective.

A dataset's ``get_data`` returns ``dict(task=...)``, a ``Task``: the data, the
model, the training loss, the evaluation and the recipe. The trainer
(training/trainer.py) and the objective (objective.py) use nothing else.
"""
from abc import ABC, abstractmethod
from typing import Iterator, Protocol, runtime_checkable

import torch
import torch.nn.functional as F


@runtime_checkable
class Loader(Protocol):
    """Training batches of one process. The order of epoch ``e`` is a pure
    function of (seed, e), so every solver of a repetition sees the same
    batches and a resumed run those it would have seen."""

    def __len__(self) -> int:
        """Batches per epoch."""

    def epoch(self, epoch: int, start: int = 0) -> Iterator:
        """The batches of epoch ``epoch`` (0-based) from batch ``start``:
        each is what ``Task.loss`` takes, already on the task's device."""


def at_least_fp32(logits):
    """Logits for the loss: 16-bit ones in float32 (as autocast leaves
    them), float64 ones kept (64-bit training computes its loss in 64
    bits)."""
    return logits if logits.dtype == torch.float64 else logits.float()


class Task(ABC):
    """What a dataset hands to the training loop and the objective.

    Attributes:
        recipe: the experiment's ``Recipe`` (training/recipe.py).
        sample_unit: what the throughput counts ("samples" or "tokens").
        source: where the data came from (training/identity.py), part of a run's
            identity; "" for data shipped with a package.
    """
    recipe = None
    sample_unit = "samples"
    source = ""

    @property
    @abstractmethod
    def device(self) -> torch.device:
        """Where the batches are delivered."""

    @abstractmethod
    def to(self, device) -> "Task":
        """Deliver batches on ``device`` from now on; returns the task."""

    @abstractmethod
    def build_model(self) -> torch.nn.Module:
        """A freshly initialised model (torch's global seed decides it)."""

    @abstractmethod
    def train_loader(self, seed, shard=None) -> Loader:
        """Shuffled training batches for ``seed``; with ``shard = (rank,
        world_size)`` only this process's share of each batch."""

    @abstractmethod
    def loss(self, model, batch):
        """(mean loss of ``batch``, sums to accumulate): the sums hold at
        least ``loss`` (summed over the examples) and ``count``."""

    @abstractmethod
    def evaluate(self, model, running=None) -> dict:
        """The metrics of ``model`` with ``value`` among them; training
        metrics from ``running`` (the stage's sums) when given."""

    def sampled_loss(self, model, batch):
        """Cross-entropy against labels sampled from the model's own
        softmax (Sophia's Gauss-Newton-Bartlett estimator); logits of any
        shape (..., classes)."""
        x, _ = batch
        logits = at_least_fp32(model(x)).flatten(0, -2)
        with torch.no_grad():
            y_hat = torch.multinomial(F.softmax(logits, dim=-1), 1).squeeze(1)
        return F.cross_entropy(logits, y_hat)
