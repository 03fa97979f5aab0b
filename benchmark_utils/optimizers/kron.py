"""pytorch-optimizer's PSGD Kron, with its occasional balancing of the
Kronecker factors drawn the same way in every process.

pytorch-optimizer 4.1.0 decides to rebalance the factors (about one update
in a hundred) with numpy's global generator, which differs between
data-parallel processes and moves with anything else that draws from it;
the reference implementation, ``kron-torch`` (Evan Walters, Omead
Pooladzandi, Xi-Lin Li), draws from its own generator seeded with 42.
Balancing rescales the factors without changing the preconditioner they
make, so only rounding depends on it, but replicas must round alike. Here
the draw is seeded by the step count: the same in every process and after
a resume, and the global generator is left as it was.
"""
import numpy as np
import pytorch_optimizer
import torch

BALANCE_SEED = 42     # kron-torch's


class Kron(pytorch_optimizer.Kron):
    """pytorch_optimizer.Kron whose balancing draw depends on the step
    only. It refuses to run without opt-einsum: torch.einsum then contracts
    the preconditioner's many operands in their written order, which on a
    conv filter is orders of magnitude slower."""

    def __init__(self, params, **kwargs):
        if not torch.backends.opt_einsum.is_available():
            raise RuntimeError(
                "Kron needs the opt-einsum package (pip install "
                "opt-einsum==3.4.0, pinned in pyproject.toml): without it "
                "torch.einsum does not optimize the contraction order.")
        super().__init__(params, **kwargs)

    def step(self, closure=None):
        saved = np.random.get_state()
        np.random.seed([BALANCE_SEED, self.param_groups[0].get("step", 0)])
        try:
            return super().step(closure)
        finally:
            np.random.set_state(saved)
