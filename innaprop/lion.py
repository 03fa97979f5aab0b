"""Lion (Chen et al., 2023, "Symbolic Discovery of Optimization
Algorithms", Algorithm 2). For one tensor, with learning rate eta:

    theta <- (1 - eta lambda) theta                          decoupled decay
    c      = beta1 m + (1 - beta1) g
    theta <- theta - eta sign(c)
    m     <- beta2 m + (1 - beta2) g

The paper writes theta <- theta - eta (sign(c) + lambda theta); decaying
first is the same step, since sign(c) does not depend on theta.

Memory: one state tensor per parameter (``exp_avg``), as SGD with momentum.
"""
import torch
from torch.optim import Optimizer

from innaprop import _docs
from innaprop._base import (GroupOptimizer, check, check_nonnegative,
                            default_to_foreach, zeros)

__all__ = ["Lion", "lion"]


class Lion(GroupOptimizer):
    """Lion optimizer.

    Args:
        {params}
        lr: learning rate eta (default 1e-4). The paper advises 3-10x smaller
            than AdamW's, with a decay 3-10x larger (same lr * lambda).
        betas: (beta1, beta2), the interpolation of the update and the
            momentum's averaging constant (default (0.9, 0.99), the paper's).
        weight_decay: decoupled weight decay lambda (default 0).
        {foreach}
        {maximize}
    """

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0,
                 *, foreach=None, maximize=False):
        check_nonnegative(lr=lr, weight_decay=weight_decay)
        for i, b in enumerate(betas):
            check(isinstance(b, (int, float)) and 0.0 <= b <= 1.0, f"betas[{i}]", b, "in [0, 1]")
        defaults = dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize)
        super().__init__(params, defaults)

    state_keys = ("exp_avg",)

    def new_state(self, p, group):
        return dict(exp_avg=zeros(p))

    def _update(self, group, params, grads, exp_avgs):
        beta1, beta2 = group["betas"]
        lion(params, grads, exp_avgs, lr=group["lr"], beta1=beta1,
             beta2=beta2, weight_decay=group["weight_decay"],
             foreach=group["foreach"])


Lion.__doc__ = _docs.fill(Lion.__doc__)


def lion(params, grads, exp_avgs, *, lr, beta1, beta2, weight_decay,
         foreach=None):
    """Functional Lion step over lists of tensors (updated in place)."""
    if not params:
        return
    if foreach is None:
        foreach = default_to_foreach(params)
    fn = _multi_tensor_lion if foreach else _single_tensor_lion
    fn(params, grads, exp_avgs, lr=lr, beta1=beta1, beta2=beta2,
       weight_decay=weight_decay)


def _single_tensor_lion(params, grads, exp_avgs, *, lr, beta1, beta2,
                        weight_decay):
    """Reference implementation: one tensor at a time."""
    for param, grad, exp_avg in zip(params, grads, exp_avgs):
        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)
        update = exp_avg.mul(beta1).add_(grad, alpha=1 - beta1).sign_()
        param.add_(update, alpha=-lr)
        exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)


def _multi_tensor_lion(params, grads, exp_avgs, *, lr, beta1, beta2,
                       weight_decay):
    """Same arithmetic as the reference, in the same order, with foreach ops
    over each (device, dtype) bucket."""
    grouped = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, exp_avgs])
    for (d_params, d_grads, d_m), _ in grouped.values():
        if weight_decay != 0:
            torch._foreach_mul_(d_params, 1 - lr * weight_decay)
        update = torch._foreach_mul(d_m, beta1)
        torch._foreach_add_(update, d_grads, alpha=1 - beta1)
        torch._foreach_sign_(update)
        torch._foreach_add_(d_params, update, alpha=-lr)
        torch._foreach_mul_(d_m, beta2)
        torch._foreach_add_(d_m, d_grads, alpha=1 - beta2)
