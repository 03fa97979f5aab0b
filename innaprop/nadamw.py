"""NAdamW as AlgoPerf runs it: the baseline of the AlgoPerf benchmark
(mlcommons/algorithmic-efficiency,
``algorithms/baselines/external_tuning/pytorch_nadamw_full_budget.py``),
written from its update rule. For one tensor at step t (t = 1, 2, ...),
with learning rate eta:

    theta <- (1 - eta lambda) theta                          decoupled decay
    m     <- beta1 m + (1 - beta1) g
    v     <- beta2 v + (1 - beta2) g**2
    d      = beta1 m + (1 - beta1) g                 Nesterov look-ahead
    theta <- theta - eta / (1 - beta1**t) * d / (sqrt(v) / sqrt(1 - beta2**t)
                                                  + eps)

This is Adam's update with Nesterov's look-ahead at a constant beta1 (Dozat
2016, Table 1 of Choi et al. 2019, "On empirical comparisons of
optimizers"). ``torch.optim.NAdam`` is another method: it multiplies beta1
by Dozat's warming schedule mu_t = beta1 (1 - 0.5 * 0.96**(0.004 t)) and
corrects the bias with the product of the mu_t, so its steps differ from
AlgoPerf's NAdamW at every t.

AlgoPerf computes d in place (m is advanced a second time, then the step is
undone from it); here d is a temporary, so m holds exactly the moving
average.

Memory: two state tensors per parameter (``exp_avg``, ``exp_avg_sq``), as
AdamW.
"""
import math

import torch
from torch.optim import Optimizer

from innaprop import _docs
from innaprop._base import (GroupOptimizer, check_averaging,
                            check_nonnegative, default_to_foreach, zeros)

__all__ = ["NAdamW", "nadamw"]


class NAdamW(GroupOptimizer):
    """NAdamW optimizer (AlgoPerf's baseline, see the module docstring).

    Args:
        {params}
        lr: learning rate eta (default 1e-3, AlgoPerf's class default).
        betas: (beta1, beta2), the averaging constants of the gradients and
            of their squares (default (0.9, 0.999), AlgoPerf's class
            default; its tuned baseline points are beta1 about 0.93 and
            beta2 about 0.9955).
        {eps}
        weight_decay: decoupled weight decay lambda, multiplied by the
            learning rate as in AdamW (default 0.01, AlgoPerf's class
            default).
        {foreach}
        {maximize}
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2, *, foreach=None, maximize=False):
        check_nonnegative(lr=lr, eps=eps, weight_decay=weight_decay)
        check_averaging(betas=betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps,
                        weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)

    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def new_state(self, p, group):
        return dict(step=torch.tensor(0.0), exp_avg=zeros(p),
                    exp_avg_sq=zeros(p))

    def _update(self, group, params, grads, steps, exp_avgs, exp_avg_sqs):
        beta1, beta2 = group["betas"]
        nadamw(params, grads, steps, exp_avgs, exp_avg_sqs, lr=group["lr"],
               beta1=beta1, beta2=beta2, eps=group["eps"],
               weight_decay=group["weight_decay"], foreach=group["foreach"])


NAdamW.__doc__ = _docs.fill(NAdamW.__doc__)


def nadamw(params, grads, steps, exp_avgs, exp_avg_sqs, *, lr, beta1, beta2,
           eps, weight_decay, foreach=None):
    """Functional NAdamW step over lists of tensors (updated in place)."""
    if not params:
        return
    if foreach is None:
        foreach = default_to_foreach(params)
    fn = _multi_tensor_nadamw if foreach else _single_tensor_nadamw
    fn(params, grads, steps, exp_avgs, exp_avg_sqs, lr=lr, beta1=beta1,
       beta2=beta2, eps=eps, weight_decay=weight_decay)


def _single_tensor_nadamw(params, grads, steps, exp_avgs, exp_avg_sqs, *,
                          lr, beta1, beta2, eps, weight_decay):
    """Reference implementation: one tensor at a time."""
    for param, grad, step_t, exp_avg, exp_avg_sq in zip(
            params, grads, steps, exp_avgs, exp_avg_sqs):
        step_t += 1
        step = step_t.item()
        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        direction = exp_avg.mul(beta1).add_(grad, alpha=1 - beta1)
        denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2 ** step)).add_(eps)
        param.addcdiv_(direction, denom, value=-lr / (1 - beta1 ** step))


def _multi_tensor_nadamw(params, grads, steps, exp_avgs, exp_avg_sqs, *,
                         lr, beta1, beta2, eps, weight_decay):
    """Same arithmetic as the reference, in the same order, with foreach ops
    over each (device, dtype) bucket."""
    grouped = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, steps, exp_avgs, exp_avg_sqs])
    for (d_params, d_grads, d_steps, d_m, d_v), _ in grouped.values():
        torch._foreach_add_(d_steps, 1.0)
        k = [s.item() for s in d_steps]
        if weight_decay != 0:
            torch._foreach_mul_(d_params, 1 - lr * weight_decay)
        torch._foreach_mul_(d_m, beta1)
        torch._foreach_add_(d_m, d_grads, alpha=1 - beta1)
        torch._foreach_mul_(d_v, beta2)
        torch._foreach_addcmul_(d_v, d_grads, d_grads, value=1 - beta2)
        direction = torch._foreach_mul(d_m, beta1)
        torch._foreach_add_(direction, d_grads, alpha=1 - beta1)
        denom = torch._foreach_sqrt(d_v)
        torch._foreach_div_(denom, [math.sqrt(1 - beta2 ** s) for s in k])
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(d_params, direction, denom,
                                [-lr / (1 - beta1 ** s) for s in k])
