"""INNAprop: DIN with Hessian-driven damping plus RMSprop scaling.

Algorithm 3 of the thesis (chapter 4), with the semantics of the authors'
published code. For one tensor, at step k with learning rate gamma_k:

    theta <- (1 - lambda * gamma_k) * theta                 decoupled decay
    v     <- sigma * v + (1 - sigma) * g**2
    d     <- sqrt(v) / sqrt(1 - sigma**k) + eps             bias-corrected
    psi   <- (1 - gamma_k / beta) * psi + gamma_k * (1/beta - alpha) * theta
    theta <- (1 + gamma_k (1 - alpha beta) / (beta - gamma_k)) * theta
             - gamma_k / (beta - gamma_k) * psi - gamma_k * beta * g / d

with psi_0 = (1 - alpha * beta) * theta_0, set at the first step. The update
divides by beta - gamma_k, so the method needs gamma_k < beta at every step
(Remark 12): the constructor and every step check it.

Memory: two state tensors per parameter (``exp_avg_sq`` and ``psi``), as AdamW.
The state keys (``step``, ``exp_avg_sq``, ``psi``) are the authors' own, so
their state dicts load.
"""
import math

import torch
from torch.optim import Optimizer

__all__ = ["INNAprop", "innaprop"]


def check_lr_below_beta(lr, beta, name="INNAprop"):
    if not lr < beta:
        raise ValueError(
            f"{name} needs lr < beta at every step (thesis Remark 12: the "
            f"update divides by beta - lr), got lr={lr} and beta={beta}."
        )


class INNAprop(Optimizer):
    """INNAprop optimizer (thesis Algorithm 3).

    Args:
        params: iterable of parameters or dicts defining parameter groups.
        lr: learning rate gamma (default 1e-3). Must stay below ``beta``.
        alpha: viscous damping (default 0.1).
        beta: Hessian-driven damping (default 0.9). Must be > 0.
        sigma: RMSprop averaging constant for the squared gradients
            (default 0.999), in [0, 1).
        eps: added to the denominator after the square root (default 1e-8).
        weight_decay: decoupled weight decay lambda (default 0.01).
        foreach: use the multi-tensor implementation. ``None`` picks it
            whenever every parameter is a dense tensor (the default path);
            ``False`` runs the per-tensor reference.
    """

    def __init__(self, params, lr=1e-3, alpha=0.1, beta=0.9, sigma=0.999,
                 eps=1e-8, weight_decay=0.01, *, foreach=None):
        defaults = dict(lr=lr, alpha=alpha, beta=beta, sigma=sigma, eps=eps,
                        weight_decay=weight_decay, foreach=foreach)
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        _check_group(self.param_groups[-1])

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
        # The authors' code, and older torch, may store plain number steps.
        for s in self.state.values():
            if "step" in s and not torch.is_tensor(s["step"]):
                s["step"] = torch.tensor(float(s["step"]))

    def _init_group(self, group, params, grads, steps, exp_avg_sqs, psis):
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("INNAprop does not support sparse gradients")
            state = self.state[p]
            if len(state) == 0:
                state["step"] = torch.tensor(0.0)
                state["exp_avg_sq"] = torch.zeros_like(
                    p, memory_format=torch.preserve_format)
                # psi_0 = (1 - alpha beta) theta_0, before any decay.
                state["psi"] = p.detach().clone(
                    memory_format=torch.preserve_format
                ).mul_(1 - group["alpha"] * group["beta"])
            params.append(p)
            grads.append(p.grad)
            steps.append(state["step"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            psis.append(state["psi"])

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        # Check every group before touching any parameter: a scheduler may
        # have pushed lr to or past beta since the last step.
        for group in self.param_groups:
            check_lr_below_beta(group["lr"], group["beta"])

        for group in self.param_groups:
            params, grads, steps, exp_avg_sqs, psis = [], [], [], [], []
            self._init_group(group, params, grads, steps, exp_avg_sqs, psis)
            innaprop(params, grads, steps, exp_avg_sqs, psis,
                     lr=group["lr"], alpha=group["alpha"],
                     beta=group["beta"], sigma=group["sigma"],
                     eps=group["eps"], weight_decay=group["weight_decay"],
                     foreach=group["foreach"])
        return loss


def _check_group(group):
    lr, beta = group["lr"], group["beta"]
    if torch.is_tensor(lr):
        raise TypeError("INNAprop takes lr as a Python float.")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: lr={lr}")
    if not 0.0 < beta:
        raise ValueError(f"Invalid beta: beta={beta} (must be > 0)")
    if not 0.0 <= group["alpha"]:
        raise ValueError(f"Invalid alpha: alpha={group['alpha']}")
    if not 0.0 <= group["sigma"] < 1.0:
        raise ValueError(f"Invalid sigma: sigma={group['sigma']} "
                         "(must be in [0, 1))")
    if not 0.0 <= group["eps"]:
        raise ValueError(f"Invalid eps: eps={group['eps']}")
    if not 0.0 <= group["weight_decay"]:
        raise ValueError(
            f"Invalid weight_decay: weight_decay={group['weight_decay']}")
    check_lr_below_beta(lr, beta)


def innaprop(params, grads, steps, exp_avg_sqs, psis, *, lr, alpha, beta,
             sigma, eps, weight_decay, foreach=None):
    """Functional INNAprop step over lists of tensors (updated in place)."""
    if not params:
        return
    check_lr_below_beta(lr, beta)
    if foreach is None:
        foreach = all(type(t) in (torch.Tensor, torch.nn.Parameter)
                      for t in params)
    fn = _multi_tensor_innaprop if foreach else _single_tensor_innaprop
    fn(params, grads, steps, exp_avg_sqs, psis, lr=lr, alpha=alpha,
       beta=beta, sigma=sigma, eps=eps, weight_decay=weight_decay)


def _coefficients(lr, alpha, beta):
    """Scalars of the theta update: theta <- c_theta theta - c_psi psi - ..."""
    c_theta = 1 + lr * (1 - alpha * beta) / (beta - lr)
    c_psi = lr / (beta - lr)
    return c_theta, c_psi


def _single_tensor_innaprop(params, grads, steps, exp_avg_sqs, psis, *, lr,
                            alpha, beta, sigma, eps, weight_decay):
    """Reference implementation: one tensor at a time, as in Algorithm 3."""
    c_theta, c_psi = _coefficients(lr, alpha, beta)
    for param, grad, step_t, exp_avg_sq, psi in zip(
            params, grads, steps, exp_avg_sqs, psis):
        step_t += 1
        step = step_t.item()

        param.mul_(1 - lr * weight_decay)
        exp_avg_sq.mul_(sigma).addcmul_(grad, grad, value=1 - sigma)
        bias_correction = 1 - sigma ** step
        denom = (exp_avg_sq.sqrt() / math.sqrt(bias_correction)).add_(eps)
        psi.mul_(1 - lr / beta).add_(param, alpha=lr * (1 / beta - alpha))
        param.mul_(c_theta).sub_(psi, alpha=c_psi)
        param.addcdiv_(grad, denom, value=-lr * beta)


def _multi_tensor_innaprop(params, grads, steps, exp_avg_sqs, psis, *, lr,
                           alpha, beta, sigma, eps, weight_decay):
    """Same arithmetic as the reference, in the same order, with foreach ops
    over each (device, dtype) bucket."""
    c_theta, c_psi = _coefficients(lr, alpha, beta)
    grouped = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, steps, exp_avg_sqs, psis])
    for (d_params, d_grads, d_steps, d_v, d_psi), _ in grouped.values():
        if d_steps[0].is_cpu:
            # One wrapped scalar instead of one per tensor (torch's trick).
            torch._foreach_add_(d_steps, torch.tensor(1.0), alpha=1.0)
        else:
            torch._foreach_add_(d_steps, 1)

        if weight_decay != 0:
            torch._foreach_mul_(d_params, 1 - lr * weight_decay)
        torch._foreach_mul_(d_v, sigma)
        torch._foreach_addcmul_(d_v, d_grads, d_grads, value=1 - sigma)

        denom = torch._foreach_sqrt(d_v)
        torch._foreach_div_(denom, [
            math.sqrt(1 - sigma ** s.item()) for s in d_steps])
        torch._foreach_add_(denom, eps)

        torch._foreach_mul_(d_psi, 1 - lr / beta)
        torch._foreach_add_(d_psi, d_params, alpha=lr * (1 / beta - alpha))
        torch._foreach_mul_(d_params, c_theta)
        torch._foreach_add_(d_params, d_psi, alpha=-c_psi)
        torch._foreach_addcdiv_(d_params, d_grads, denom, -lr * beta)
