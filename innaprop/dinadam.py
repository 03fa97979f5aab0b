"""DINAdam: DIN made Adam-like (thesis section 4.6.3, Algorithm 6).

The discretization (4.24) of DIN with gamma = alpha * eta gives the momentum
recursion (4.28)-(4.29):

    m_{k+1}     = sigma1 m_k + (1 - sigma1) g_k
                  + alpha beta sigma1 (g_k - g_{k-1})
    theta_{k+1} = theta_k - eta m_{k+1}

and the change of variable m~_k = m_k - alpha beta g_{k-1} saves the memory
slot of g_{k-1}:

    m~_{k+1} = sigma1 m~_k + (1 - sigma1)(1 - alpha beta) g_k           (4.33)
    m_{k+1}  = m~_{k+1} + alpha beta g_k

The thesis prints (4.31), (4.34) and Algorithm 6 with ``m~ - alpha beta g``;
the change of variable it defines gives ``m~ + alpha beta g`` (with the
printed sign, a constant gradient g would move theta along
(1 - 2 alpha beta) g, backwards once alpha beta > 1/2). This module follows
the derivation; tests check it against (4.28)-(4.29). Both signs agree at
beta = 0, where DINAdam is Adam (Remark 17).

With RMSprop scaling (4.32) and Adam's bias corrections, one step reads:

    theta <- (1 - eta lambda) theta                             decoupled decay
    v     <- sigma2 v + (1 - sigma2) g**2
    m~    <- sigma1 m~ + (1 - sigma1)(1 - alpha beta) g
    m_hat  = m~ / (1 - sigma1**k) + alpha beta g
    theta <- theta - eta m_hat / (sqrt(v / (1 - sigma2**k)) + eps)

The bias correction divides the moving average m~ only, so that a constant
gradient gives m_hat = g exactly, as in Adam. With alpha = 1, beta = 0 this
is Adam (AdamW with weight decay); with alpha beta = 1, Adam without
momentum.

Memory: two state tensors per parameter (``exp_avg`` holds m~, and
``exp_avg_sq``), as AdamW.
"""
import math

import torch
from torch.optim import Optimizer

from innaprop import _docs
from innaprop._base import (GroupOptimizer, check_averaging,
                            check_nonnegative, default_to_foreach, zeros)

__all__ = ["DINAdam", "dinadam"]


class DINAdam(GroupOptimizer):
    """DINAdam optimizer (thesis Algorithm 6, with the sign of the change of
    variable fixed, see the module docstring).

    Args:
        {params}
        lr: learning rate eta (default 1e-3).
        alpha: viscous damping (default 0.1).
        beta: Hessian-driven damping (default 0.9). alpha = 1, beta = 0 is
            Adam.
        betas: (sigma1, sigma2), the averaging constants of the gradients
            and of their squares (default (0.9, 0.999)).
        {eps}
        weight_decay: decoupled weight decay lambda (default 0.01).
        {foreach}
        {maximize}
    """

    def __init__(self, params, lr=1e-3, alpha=0.1, beta=0.9,
                 betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, *,
                 foreach=None, maximize=False):
        check_nonnegative(lr=lr, alpha=alpha, beta=beta, eps=eps,
                          weight_decay=weight_decay)
        check_averaging(betas=betas)
        defaults = dict(lr=lr, alpha=alpha, beta=beta, betas=tuple(betas),
                        eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)

    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def new_state(self, p, group):
        return dict(step=torch.tensor(0.0), exp_avg=zeros(p),
                    exp_avg_sq=zeros(p))

    def _update(self, group, params, grads, steps, exp_avgs, exp_avg_sqs):
        sigma1, sigma2 = group["betas"]
        dinadam(params, grads, steps, exp_avgs, exp_avg_sqs,
                lr=group["lr"], alpha=group["alpha"], beta=group["beta"],
                sigma1=sigma1, sigma2=sigma2, eps=group["eps"],
                weight_decay=group["weight_decay"],
                foreach=group["foreach"])


DINAdam.__doc__ = _docs.fill(DINAdam.__doc__)


def dinadam(params, grads, steps, exp_avgs, exp_avg_sqs, *, lr, alpha, beta,
            sigma1, sigma2, eps, weight_decay, foreach=None):
    """Functional DINAdam step over lists of tensors (updated in place)."""
    if not params:
        return
    if foreach is None:
        foreach = default_to_foreach(params)
    fn = _multi_tensor_dinadam if foreach else _single_tensor_dinadam
    fn(params, grads, steps, exp_avgs, exp_avg_sqs, lr=lr, alpha=alpha,
       beta=beta, sigma1=sigma1, sigma2=sigma2, eps=eps,
       weight_decay=weight_decay)


def _single_tensor_dinadam(params, grads, steps, exp_avgs, exp_avg_sqs, *,
                           lr, alpha, beta, sigma1, sigma2, eps,
                           weight_decay):
    """Reference implementation: one tensor at a time."""
    ab = alpha * beta
    for param, grad, step_t, exp_avg, exp_avg_sq in zip(
            params, grads, steps, exp_avgs, exp_avg_sqs):
        step_t += 1
        step = step_t.item()

        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)
        exp_avg_sq.mul_(sigma2).addcmul_(grad, grad, value=1 - sigma2)
        exp_avg.mul_(sigma1).add_(grad, alpha=(1 - sigma1) * (1 - ab))
        denom = (exp_avg_sq.sqrt() / math.sqrt(1 - sigma2 ** step)).add_(eps)
        param.addcdiv_(exp_avg, denom, value=-lr / (1 - sigma1 ** step))
        if ab != 0:
            param.addcdiv_(grad, denom, value=-lr * ab)


def _multi_tensor_dinadam(params, grads, steps, exp_avgs, exp_avg_sqs, *,
                          lr, alpha, beta, sigma1, sigma2, eps,
                          weight_decay):
    """Same arithmetic as the reference, in the same order, with foreach ops
    over each (device, dtype) bucket."""
    ab = alpha * beta
    grouped = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, steps, exp_avgs, exp_avg_sqs])
    for (d_params, d_grads, d_steps, d_m, d_v), _ in grouped.values():
        torch._foreach_add_(d_steps, 1.0)
        k = [s.item() for s in d_steps]

        if weight_decay != 0:
            torch._foreach_mul_(d_params, 1 - lr * weight_decay)
        torch._foreach_mul_(d_v, sigma2)
        torch._foreach_addcmul_(d_v, d_grads, d_grads, value=1 - sigma2)
        torch._foreach_mul_(d_m, sigma1)
        torch._foreach_add_(d_m, d_grads, alpha=(1 - sigma1) * (1 - ab))
        denom = torch._foreach_sqrt(d_v)
        torch._foreach_div_(denom, [math.sqrt(1 - sigma2 ** s) for s in k])
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(d_params, d_m, denom,
                                [-lr / (1 - sigma1 ** s) for s in k])
        if ab != 0:
            torch._foreach_addcdiv_(d_params, d_grads, denom, -lr * ab)
