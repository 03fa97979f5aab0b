"""The contract between an optimization method and the training loop.

A ``Method`` is everything the trainer needs from a solver, and nothing
else: how to build the optimizer, the run's lr and weight decay, and the
hooks of the algorithms that need them. The trainer never inspects a
solver; a solver (bench/solver.py) hands it a ``Method``.

``Scale`` is how a method's lr and weight decay follow the recipe's, which
holds AdamW's tuned values (the thesis reuses them for every optimizer,
Table 4.1), with the source of that rule.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import torch


@dataclass(frozen=True)
class RunInfo:
    """What ``make_optimizer`` receives besides the parameter groups: the
    model (to split parameters, as Muon does), its named parameters, the
    run's number of optimizer steps (to size warm-ups, as AdEMAMix and
    Schedule-Free do) and the optimizer steps the schedule spends in its
    linear warmup (Prodigy guards its estimate during one)."""
    model: torch.nn.Module
    named_parameters: dict      # name -> parameter
    total_steps: int            # optimizer steps of the whole run
    warmup_steps: int = 0       # optimizer steps of the schedule's warmup


@dataclass(frozen=True)
class Scale:
    """How the run's lr and weight decay follow the recipe's (AdamW's) when
    the solver's own are left to None: ``lr`` and ``weight_decay`` are the
    factors; ``source`` names the paper, README or file that publishes the
    rule. ``recipe_lr=False``: the method never takes the recipe's lr (its
    lr means something else, e.g. Prodigy's multiplier of its own
    estimate); its solver must give one."""
    lr: float = 1.0
    weight_decay: float = 1.0
    source: str = "AdamW's values, as the thesis's protocol (Table 4.1)"
    recipe_lr: bool = True

    def resolve(self, recipe, lr, weight_decay, name="the method"):
        """The run's (lr, weight_decay): the solver's values where given,
        else the recipe's through this rule."""
        if lr is None and not self.recipe_lr:
            raise ValueError(f"{name} does not take the recipe's learning "
                             "rate: give its lr.")
        return (recipe.lr * self.lr if lr is None else float(lr),
                recipe.weight_decay * self.weight_decay if weight_decay is None
                else float(weight_decay))

    def describe(self):
        """One line for reports: the factors and their source."""
        if not self.recipe_lr:
            rule = "own lr (never the recipe's)"
        else:
            rule = f"lr x {self.lr:g}"
        return (f"{rule}, weight decay x {self.weight_decay:g} "
                f"({self.source})")


@dataclass(frozen=True)
class Method:
    """One optimization method as the trainer runs it.

    Args:
        make_optimizer: ``(param_groups, lr, weight_decay, run)`` ->
            ``torch.optim.Optimizer``; ``run`` is a ``RunInfo``.
        lr, weight_decay: the run's values.
        after_step: ``(trainer, batches)`` run after every optimizer step
            with the step's micro-batches, inside the timed region (Sophia's
            Hessian refresh); it may use the trainer's ``step``,
            ``optimizer`` and ``backward``.
        evaluation_mode: ``(trainer, on)`` run when an evaluation and its
            checkpoint begin (on=True) and when training goes on (on=False),
            outside the timed region (Schedule-Free's ``optimizer.eval()``
            and ``.train()``).
        bn_recalibration: batches over which batch-norm statistics are
            recomputed when an evaluation begins (0: none), untimed.
        schedule: False keeps the learning rate constant (methods that set
            their own step sizes, such as Schedule-Free).
        warmup_fraction: the share of the schedule spent in its linear
            warmup, in place of the recipe's ``warmup`` (AlgoPerf's
            ``warmup_factor``, which its NAdamW baseline tunes); None keeps
            the recipe's. It counts in the schedule's unit (epochs or
            steps), rounded down as AlgoPerf's ``int(warmup_factor *
            step_hint)``.
    """
    make_optimizer: Callable
    lr: float
    weight_decay: float
    after_step: Optional[Callable] = None
    evaluation_mode: Optional[Callable] = None
    bn_recalibration: int = 0
    schedule: bool = True
    warmup_fraction: Optional[float] = None

    def warmup(self, recipe, total):
        """The schedule's warmup, in its unit, over ``total`` such units
        (none without a schedule)."""
        if not self.schedule or recipe.schedule == "constant":
            return 0
        if self.warmup_fraction is None:
            return recipe.warmup
        return int(self.warmup_fraction * total)
