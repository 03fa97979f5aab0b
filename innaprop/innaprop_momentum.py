"""INNAprop with momentum: the variant of thesis section 4.6.2.

Following RMSprop with momentum, the discretization (4.9) of DIN with the
scaled gradients u_k = g_k / (sqrt(v_{k+1}) + eps) gives (4.17)-(4.19):

    m_{k+1}     = (1 - alpha gamma) m_k + gamma**2 u_{k-1}
                  + beta gamma (u_k - u_{k-1})
    theta_{k+1} = theta_k - m_{k+1}

and the change of variable m~_k = m_k - c / a u_{k-1}, with a = 1 - alpha gamma
and c = gamma (beta - gamma), saves the slot of u_{k-1} (4.21)-(4.23). One
step reads:

    theta <- (1 - lambda gamma) theta                          decoupled decay
    v     <- sigma v + (1 - sigma) g**2
    u      = g / (sqrt(v / (1 - sigma**k)) + eps)
    m~    <- (1 - alpha gamma) m~
             + gamma**2 (1 - alpha beta) / (1 - alpha gamma) u
    theta <- theta - m~ - gamma (beta - gamma) / (1 - alpha gamma) u

with m~_0 = 0 (theta at rest, u_{-1} = 0). The bias correction of v and the
decay are INNAprop's (Algorithm 3), as in the authors' implementation of this
variant. The thesis shows this form to be unstable in float32 once gamma**2
becomes tiny (Figure 4.10: VGG11 on CIFAR-10, (alpha, beta) = (0.1, 0.9),
cosine from 1e-3, no weight decay); it is kept to reproduce that finding.

The update divides by 1 - alpha gamma: the method needs alpha * lr < 1 at
every step; the constructor and every step check it.

Memory: two state tensors per parameter (``exp_avg`` holds m~, and
``exp_avg_sq``), as AdamW.
"""
import math

import torch
from torch.optim import Optimizer

from innaprop import _docs
from innaprop._base import (GroupOptimizer, check_averaging,
                            check_nonnegative, check_positive,
                            default_to_foreach, zeros)
from innaprop.innaprop import check_lr_below_beta

__all__ = ["INNApropMomentum", "innaprop_momentum"]


def check_alpha_lr_below_one(lr, alpha):
    if not alpha * lr < 1:
        raise ValueError(
            "INNApropMomentum needs alpha * lr < 1 at every step (the update "
            f"divides by 1 - alpha * lr), got lr={lr} and alpha={alpha}.")


class INNApropMomentum(GroupOptimizer):
    """INNAprop in momentum form (thesis eqs. 4.21-4.23).

    Args:
        {params}
        lr: learning rate gamma (default 1e-3). alpha * lr must stay below 1.
        alpha: viscous damping (default 0.1).
        beta: Hessian-driven damping (default 0.9).
        sigma: RMSprop averaging constant (default 0.999), in [0, 1).
        {eps}
        weight_decay: decoupled weight decay lambda (default 0.01).
        {foreach}
        {maximize}
    """

    def __init__(self, params, lr=1e-3, alpha=0.1, beta=0.9, sigma=0.999,
                 eps=1e-8, weight_decay=0.01, *, foreach=None,
                 maximize=False):
        check_nonnegative(lr=lr, alpha=alpha, eps=eps,
                          weight_decay=weight_decay)
        check_positive(beta=beta)
        check_averaging(sigma=sigma)
        defaults = dict(lr=lr, alpha=alpha, beta=beta, sigma=sigma, eps=eps,
                        weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)

    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def new_state(self, p, group):
        return dict(step=torch.tensor(0.0), exp_avg=zeros(p),
                    exp_avg_sq=zeros(p))

    def _check(self, group):
        check_alpha_lr_below_one(group["lr"], group["alpha"])
        # As INNAprop (Remark 12): the discretization needs gamma < beta;
        # past it the Hessian-driven term gamma (beta - gamma) flips sign.
        check_lr_below_beta(group["lr"], group["beta"], "INNApropMomentum")

    def _update(self, group, params, grads, steps, exp_avgs, exp_avg_sqs):
        innaprop_momentum(params, grads, steps, exp_avgs, exp_avg_sqs,
                          lr=group["lr"], alpha=group["alpha"],
                          beta=group["beta"], sigma=group["sigma"],
                          eps=group["eps"],
                          weight_decay=group["weight_decay"],
                          foreach=group["foreach"])


INNApropMomentum.__doc__ = _docs.fill(INNApropMomentum.__doc__)


def innaprop_momentum(params, grads, steps, exp_avgs, exp_avg_sqs, *, lr,
                      alpha, beta, sigma, eps, weight_decay, foreach=None):
    """Functional step over lists of tensors (updated in place)."""
    if not params:
        return
    check_alpha_lr_below_one(lr, alpha)
    if foreach is None:
        foreach = default_to_foreach(params)
    fn = _multi_tensor if foreach else _single_tensor
    fn(params, grads, steps, exp_avgs, exp_avg_sqs, lr=lr, alpha=alpha,
       beta=beta, sigma=sigma, eps=eps, weight_decay=weight_decay)


def _coefficients(lr, alpha, beta):
    """a, b, c of m~ <- a m~ + b u and theta <- theta - m~ - c u."""
    a = 1 - alpha * lr
    return a, lr ** 2 * (1 - alpha * beta) / a, lr * (beta - lr) / a


def _single_tensor(params, grads, steps, exp_avgs, exp_avg_sqs, *, lr,
                   alpha, beta, sigma, eps, weight_decay):
    """Reference implementation: one tensor at a time, as (4.21)-(4.23)."""
    a, b, c = _coefficients(lr, alpha, beta)
    for param, grad, step_t, exp_avg, exp_avg_sq in zip(
            params, grads, steps, exp_avgs, exp_avg_sqs):
        step_t += 1
        step = step_t.item()

        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)
        exp_avg_sq.mul_(sigma).addcmul_(grad, grad, value=1 - sigma)
        denom = (exp_avg_sq.sqrt() / math.sqrt(1 - sigma ** step)).add_(eps)
        exp_avg.mul_(a).addcdiv_(grad, denom, value=b)
        param.sub_(exp_avg).addcdiv_(grad, denom, value=-c)


def _multi_tensor(params, grads, steps, exp_avgs, exp_avg_sqs, *, lr, alpha,
                  beta, sigma, eps, weight_decay):
    """Same arithmetic as the reference, in the same order, with foreach ops
    over each (device, dtype) bucket."""
    a, b, c = _coefficients(lr, alpha, beta)
    grouped = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, steps, exp_avgs, exp_avg_sqs])
    for (d_params, d_grads, d_steps, d_m, d_v), _ in grouped.values():
        torch._foreach_add_(d_steps, 1.0)

        if weight_decay != 0:
            torch._foreach_mul_(d_params, 1 - lr * weight_decay)
        torch._foreach_mul_(d_v, sigma)
        torch._foreach_addcmul_(d_v, d_grads, d_grads, value=1 - sigma)
        denom = torch._foreach_sqrt(d_v)
        torch._foreach_div_(denom, [math.sqrt(1 - sigma ** s.item())
                                    for s in d_steps])
        torch._foreach_add_(denom, eps)
        torch._foreach_mul_(d_m, a)
        torch._foreach_addcdiv_(d_m, d_grads, denom, b)
        torch._foreach_sub_(d_params, d_m)
        torch._foreach_addcdiv_(d_params, d_grads, denom, -c)
