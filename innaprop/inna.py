"""INNA: the explicit Euler discretization of DIN (Castera et al., 2021).

Thesis Table 4.5. For one tensor, at step k with learning rate gamma_k:

    theta <- (1 - lambda * gamma_k) * theta                 decoupled decay
    phase  = (alpha - 1/beta) * theta + psi / beta
    psi   <- psi - gamma_k * phase
    theta <- theta - gamma_k * (phase + beta * g)

with psi_0 = (1 - alpha * beta) * theta_0, set at the first step. Both
updates use the old theta and psi (explicit Euler), as in Table 4.5 and the
authors' code (camcastera/INNA-for-DeepLearning). Weight decay is the
decoupled form of the INNAprop authors' INNA (0 by default; Castera's code
adds its weight decay to the theta step only).

Memory: one state tensor per parameter (``psi``), as SGD with momentum.
"""
import torch
from torch.optim import Optimizer

from innaprop import _docs
from innaprop._base import (GroupOptimizer, check_nonnegative,
                            check_positive, default_to_foreach)

__all__ = ["INNA", "inna"]


class INNA(GroupOptimizer):
    """INNA optimizer (thesis Table 4.5).

    Args:
        {params}
        lr: learning rate gamma (default 0.1, the authors').
        alpha: viscous damping (default 0.5, the authors').
        beta: Hessian-driven damping (default 0.1, the authors'). Must be
            > 0.
        weight_decay: decoupled weight decay lambda (default 0).
        {foreach}
        {maximize}
    """

    def __init__(self, params, lr=0.1, alpha=0.5, beta=0.1, weight_decay=0.0,
                 *, foreach=None, maximize=False):
        check_nonnegative(lr=lr, alpha=alpha, weight_decay=weight_decay)
        check_positive(beta=beta)
        defaults = dict(lr=lr, alpha=alpha, beta=beta,
                        weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)

    state_keys = ("step", "psi")

    def new_state(self, p, group):
        # psi_0 = (1 - alpha beta) theta_0, before any decay.
        return dict(step=torch.tensor(0.0), psi=p.detach().clone(
            memory_format=torch.preserve_format).mul_(
                1 - group["alpha"] * group["beta"]))

    def _update(self, group, params, grads, steps, psis):
        inna(params, grads, steps, psis, lr=group["lr"],
             alpha=group["alpha"], beta=group["beta"],
             weight_decay=group["weight_decay"], foreach=group["foreach"])


INNA.__doc__ = _docs.fill(INNA.__doc__)


def inna(params, grads, steps, psis, *, lr, alpha, beta, weight_decay,
         foreach=None):
    """Functional INNA step over lists of tensors (updated in place)."""
    if not params:
        return
    if foreach is None:
        foreach = default_to_foreach(params)
    fn = _multi_tensor_inna if foreach else _single_tensor_inna
    fn(params, grads, steps, psis, lr=lr, alpha=alpha, beta=beta,
       weight_decay=weight_decay)


def _single_tensor_inna(params, grads, steps, psis, *, lr, alpha, beta,
                        weight_decay):
    """Reference implementation: one tensor at a time, as in Table 4.5."""
    for param, grad, step_t, psi in zip(params, grads, steps, psis):
        step_t += 1
        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)
        phase = param.mul(alpha - 1 / beta).add_(psi, alpha=1 / beta)
        psi.add_(phase, alpha=-lr)
        param.add_(phase, alpha=-lr).add_(grad, alpha=-lr * beta)


def _multi_tensor_inna(params, grads, steps, psis, *, lr, alpha, beta,
                       weight_decay):
    """Same arithmetic as the reference, in the same order, with foreach ops
    over each (device, dtype) bucket."""
    grouped = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, steps, psis])
    for (d_params, d_grads, d_steps, d_psis), _ in grouped.values():
        torch._foreach_add_(d_steps, 1.0)
        if weight_decay != 0:
            torch._foreach_mul_(d_params, 1 - lr * weight_decay)
        phase = torch._foreach_mul(d_params, alpha - 1 / beta)
        torch._foreach_add_(phase, d_psis, alpha=1 / beta)
        torch._foreach_add_(d_psis, phase, alpha=-lr)
        torch._foreach_add_(d_params, phase, alpha=-lr)
        torch._foreach_add_(d_params, d_grads, alpha=-lr * beta)
