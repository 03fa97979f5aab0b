"""MARS-AdamW (Yuan et al., 2024, "MARS: Unleashing the Power of Variance
Reduction for Training Large Models"), as in the authors' code
(github.com/AGI-Arena/MARS, ``MARS/optimizers/mars.py``, its default
approximate form ``is_approx=True``). For one tensor at step t, with
learning rate eta and the previous step's gradient g_prev (0 at t = 1):

    c      = g + gamma beta1 / (1 - beta1) (g - g_prev)   variance reduction
    c     <- c / ||c||  if ||c|| > 1                       (Frobenius norm)
    m     <- beta1 m + (1 - beta1) c
    v     <- beta2 v + (1 - beta2) c**2
    theta <- theta - eta (lambda theta
                          + m / ((sqrt(v) / sqrt(1 - beta2**t) + eps)
                                 (1 - beta1**t)))

The authors apply this rule to the 2-D weight matrices only; every other
tensor (biases, norms, conv filters) goes to AdamW with betas (0.9, 0.95)
and half the learning rate (their ``optimize_1d=False`` default,
``lr_1d``): ``solvers/mars.py`` makes that split. pytorch-optimizer 4.1.0's
MARS differs from the authors' in two places, which is why this one
exists: it puts eps inside the bias correction (sqrt(v) + eps, then divided
by sqrt(1 - beta2**t)) and under its ``optimize_1d=False`` it sends conv
filters to MARS and decays the AdamW part with its own ``weight_decay_1d``
whatever the parameter group says.

Memory: three state tensors per parameter (``exp_avg``, ``exp_avg_sq``,
``last_grad``).
"""
import math

import torch
from torch.optim import Optimizer

from innaprop import _docs
from innaprop._base import (GroupOptimizer, check_averaging,
                            check_nonnegative, default_to_foreach, zeros)

__all__ = ["MARS", "mars"]


class MARS(GroupOptimizer):
    """MARS-AdamW optimizer (the authors' rule, see the module docstring).

    Args:
        {params}
        lr: learning rate eta (default 3e-3, the authors'; their GPT-2 runs
            use 10x AdamW's lr, e.g. 6e-3 against 6e-4).
        betas: (beta1, beta2) (default (0.95, 0.99), the authors').
        gamma: strength of the variance-reduction term (default 0.025,
            the authors').
        {eps}
        weight_decay: decoupled weight decay lambda, multiplied by the
            learning rate (default 0; the authors' GPT-2 runs use 0.01,
            a tenth of AdamW's 0.1).
        {foreach}
        {maximize}
    """

    def __init__(self, params, lr=3e-3, betas=(0.95, 0.99), gamma=0.025,
                 eps=1e-8, weight_decay=0.0, *, foreach=None,
                 maximize=False):
        check_nonnegative(lr=lr, gamma=gamma, eps=eps,
                          weight_decay=weight_decay)
        check_averaging(betas=betas)
        defaults = dict(lr=lr, betas=tuple(betas), gamma=gamma, eps=eps,
                        weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)

    state_keys = ("step", "exp_avg", "exp_avg_sq", "last_grad")

    def new_state(self, p, group):
        return dict(step=torch.tensor(0.0), exp_avg=zeros(p),
                    exp_avg_sq=zeros(p), last_grad=zeros(p))

    def _update(self, group, params, grads, steps, exp_avgs, exp_avg_sqs,
                last_grads):
        beta1, beta2 = group["betas"]
        mars(params, grads, steps, exp_avgs, exp_avg_sqs, last_grads,
             lr=group["lr"], beta1=beta1, beta2=beta2, gamma=group["gamma"],
             eps=group["eps"], weight_decay=group["weight_decay"],
             foreach=group["foreach"])


MARS.__doc__ = _docs.fill(MARS.__doc__)


def mars(params, grads, steps, exp_avgs, exp_avg_sqs, last_grads, *, lr,
         beta1, beta2, gamma, eps, weight_decay, foreach=None):
    """Functional MARS-AdamW step over lists of tensors (updated in
    place)."""
    if not params:
        return
    if foreach is None:
        foreach = default_to_foreach(params)
    fn = _multi_tensor_mars if foreach else _single_tensor_mars
    fn(params, grads, steps, exp_avgs, exp_avg_sqs, last_grads, lr=lr,
       beta1=beta1, beta2=beta2, gamma=gamma, eps=eps,
       weight_decay=weight_decay)


def _single_tensor_mars(params, grads, steps, exp_avgs, exp_avg_sqs,
                        last_grads, *, lr, beta1, beta2, gamma, eps,
                        weight_decay):
    """Reference implementation: one tensor at a time."""
    scale = gamma * beta1 / (1 - beta1)
    for param, grad, step_t, exp_avg, exp_avg_sq, last_grad in zip(
            params, grads, steps, exp_avgs, exp_avg_sqs, last_grads):
        step_t += 1
        step = step_t.item()
        c = grad.sub(last_grad).mul_(scale).add_(grad)
        # Divide by the norm only when it exceeds 1 (no host sync).
        c.div_(torch.linalg.vector_norm(c).clamp_(min=1.0))
        exp_avg.mul_(beta1).add_(c, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(c, c, value=1 - beta2)
        denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2 ** step)).add_(eps)
        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)
        param.addcdiv_(exp_avg, denom, value=-lr / (1 - beta1 ** step))
        last_grad.copy_(grad)


def _multi_tensor_mars(params, grads, steps, exp_avgs, exp_avg_sqs,
                       last_grads, *, lr, beta1, beta2, gamma, eps,
                       weight_decay):
    """Same arithmetic as the reference, in the same order, with foreach ops
    over each (device, dtype) bucket."""
    scale = gamma * beta1 / (1 - beta1)
    grouped = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, steps, exp_avgs, exp_avg_sqs, last_grads])
    for (d_params, d_grads, d_steps, d_m, d_v, d_last), _ in \
            grouped.values():
        torch._foreach_add_(d_steps, 1.0)
        k = [s.item() for s in d_steps]
        c = torch._foreach_sub(d_grads, d_last)
        torch._foreach_mul_(c, scale)
        torch._foreach_add_(c, d_grads)
        norms = torch._foreach_norm(c)
        torch._foreach_clamp_min_(norms, 1.0)
        torch._foreach_div_(c, norms)
        torch._foreach_mul_(d_m, beta1)
        torch._foreach_add_(d_m, c, alpha=1 - beta1)
        torch._foreach_mul_(d_v, beta2)
        torch._foreach_addcmul_(d_v, c, c, value=1 - beta2)
        denom = torch._foreach_sqrt(d_v)
        torch._foreach_div_(denom, [math.sqrt(1 - beta2 ** s) for s in k])
        torch._foreach_add_(denom, eps)
        if weight_decay != 0:
            torch._foreach_mul_(d_params, 1 - lr * weight_decay)
        torch._foreach_addcdiv_(d_params, d_m, denom,
                                [-lr / (1 - beta1 ** s) for s in k])
        torch._foreach_copy_(d_last, d_grads)
