"""pytorch-optimizer's ADOPT, configured to step as its authors' code.

The authors' ADOPT (github.com/iShohei220/adopt, ``src/adopt/adopt.py``;
``torch-adopt`` 0.1.0 on PyPI) counts steps from 0: its first step only
sets v = g**2 (no decay, no move), and step k >= 1 clips the normalized
gradient at k**0.25. pytorch-optimizer 4.1.0 counts from 1 and clips at
step**0.25, one step ahead of the authors, and applies the decoupled decay
at that first step too. ``ADOPT`` below clips at (step - 1)**0.25 and
leaves the first step undecayed; the rest of the arithmetic is
pytorch-optimizer's (tests/test_rivals.py checks it against the authors'
rule).
"""
import pytorch_optimizer


def authors_clip(step):
    """The authors' clip_lambda, step**0.25 on their count from 0."""
    return (step - 1) ** 0.25


class ADOPT(pytorch_optimizer.ADOPT):
    """pytorch_optimizer.ADOPT on the authors' clipping schedule, without
    decay at the first step (which only initializes the second moment)."""

    def __init__(self, params, clip_lambda=authors_clip, **kwargs):
        super().__init__(params, clip_lambda=clip_lambda, **kwargs)

    def step(self, closure=None):
        first = [g for g in self.param_groups if g.get("step", 0) == 0]
        decays = [g["weight_decay"] for g in first]
        for g in first:
            g["weight_decay"] = 0.0
        try:
            return super().step(closure)
        finally:
            for g, decay in zip(first, decays):
                g["weight_decay"] = decay
