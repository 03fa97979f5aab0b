"""Training recipes: what the thesis fixed per experiment, and LR schedules.

A dataset plugin returns a ``Recipe``; the shared training loop applies it the
same way to every solver (Table 4.1: AdamW's tuned values are reused as is).
"""
import math
from dataclasses import dataclass, replace

import torch

from benchmark_utils.training import checks

SCHEDULES = ("constant", "cosine", "cosine_warmup", "linear_warmup")


@dataclass(frozen=True)
class Recipe:
    """Protocol of one experiment.

    The budget is ``epochs`` (image classification) or ``max_steps``
    (language models); ``eval_every`` counts in the same unit, as do
    ``warmup`` and the schedule when ``schedule_unit`` is "epoch".
    """
    batch_size: int
    lr: float = 1e-3
    weight_decay: float = 0.01
    epochs: int | None = None
    max_steps: int | None = None
    schedule: str = "cosine"
    schedule_unit: str = "epoch"       # the thesis steps its cosine per epoch
    warmup: int = 0                    # in schedule units
    min_lr_ratio: float = 0.0          # gamma_min / gamma_0
    eval_every: int = 1                # epochs, or steps if max_steps is set
    grad_accum: int = 1                # micro-batches per optimizer step
    grad_clip: float | None = None     # max global gradient norm
    decay_1d_params: bool = True       # False: no decay on biases and norms
    precision: str = "fp32"            # "fp32", "bf16" or "fp16" (autocast)
    channels_last: bool = False
    compile: bool = False              # torch.compile the model
    # The dtype of the parameters and of the whole computation (true 16-
    # or 64-bit training, no autocast, no loss scaling: thesis chapter 3).
    dtype: str = "float32"             # "float16", "float32" or "float64"
    deterministic: bool = False        # torch's deterministic algorithms

    def __post_init__(self):
        if (self.epochs is None) == (self.max_steps is None):
            raise ValueError("A recipe sets exactly one of epochs, max_steps.")
        for name in ("batch_size", "eval_every", "grad_accum"):
            checks.positive_int(name, getattr(self, name))
        checks.positive_int("epochs", self.epochs, allow_none=True)
        checks.positive_int("max_steps", self.max_steps, allow_none=True)
        checks.nonnegative_int("warmup", self.warmup)
        checks.number("lr", self.lr, minimum=0)
        checks.number("weight_decay", self.weight_decay, minimum=0)
        checks.number("min_lr_ratio", self.min_lr_ratio, minimum=0)
        checks.number("grad_clip", self.grad_clip, minimum=0, strict=True,
                      allow_none=True)
        checks.one_of("schedule", self.schedule, SCHEDULES)
        checks.one_of("schedule_unit", self.schedule_unit, ("epoch", "step"))
        checks.one_of("precision", self.precision, ("fp32", "bf16", "fp16"))
        checks.one_of("dtype", self.dtype, ("float16", "float32", "float64"))
        if self.dtype != "float32" and self.precision != "fp32":
            raise ValueError(f"dtype={self.dtype!r} trains in that dtype: "
                             f"it excludes precision={self.precision!r} "
                             "(autocast); keep precision='fp32'.")

    @property
    def torch_dtype(self):
        return getattr(torch, self.dtype)

    def cast(self, batch):
        """A batch with its floating tensors in the recipe's dtype."""
        if self.dtype == "float32":
            return batch
        return tuple(t.to(self.torch_dtype) if torch.is_tensor(t)
                     and t.is_floating_point() else t for t in batch)

    def autocast(self, device):
        """The recipe's mixed precision for forward passes on ``device``
        (training and evaluation alike)."""
        dtype = {"bf16": torch.bfloat16,
                 "fp16": torch.float16}.get(self.precision)
        return torch.autocast(torch.device(device).type, dtype=dtype,
                              enabled=dtype is not None)

    def replace(self, **changes):
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **changes)


def lr_factor(schedule, k, total, warmup=0, min_ratio=0.0):
    """gamma_k / gamma_0 at schedule position k of ``total`` (thesis 4.7).

    Linear warmup uses (k + 1) / (warmup + 1), nanoGPT's form, so that the
    very first step does not run at zero learning rate.
    """
    if schedule == "constant":
        return 1.0
    if k < warmup:
        return (k + 1) / (warmup + 1)
    if schedule == "linear_warmup":
        return max(0.0, 1 - (k - warmup) / max(1, total - warmup))
    if schedule in ("cosine", "cosine_warmup"):
        if k >= total:
            return min_ratio
        progress = (k - warmup) / max(1, total - warmup)
        return min_ratio + 0.5 * (1 - min_ratio) * (
            1 + math.cos(math.pi * progress))
    raise ValueError(f"Unknown schedule {schedule!r}")
