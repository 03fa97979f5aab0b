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

Three implementations compute the same values, chosen as in torch.optim:
the per-tensor reference (``foreach=False``, Algorithm 3 line by line), the
multi-tensor foreach path, and a fused step that reads and writes each
element once (``fused=True``): a Triton kernel on CUDA
(_triton_innaprop.py), a C++ kernel on the CPU (_cpu_innaprop.py). By
default CUDA tensors take the foreach path, as in torch's AdamW, and CPU
groups of at least 2**20 elements the fused step, where it builds (smaller
ones take the foreach path: their step is short, and a first build would
not pay for itself). The fast paths use two rewrites, exact in
real arithmetic (so they agree with the reference to rounding), that save
passes over memory: the decay is folded into the coefficients of theta, and

    g / (sqrt(v / b) + eps) = sqrt(b) g / (sqrt(v) + sqrt(b) eps),

with b = 1 - sigma**k.

The choice is made once per step for each (device, dtype) bucket of a
group, then one function updates the whole bucket (``_implementation``), as
torch's adam() does. On the CPU, the foreach path runs its ops over
cache-sized slices (the same bits as running them on whole tensors). The
step count stays a CPU tensor in every path, so no path syncs with the GPU.
"""
import math

import torch
from torch.optim import Optimizer

from innaprop import _cpu_innaprop
from innaprop import _docs
from innaprop._base import (GroupOptimizer, check_averaging,
                            check_nonnegative, check_positive,
                            default_to_foreach, zeros)

# Elements per slice of the CPU foreach path (None: 2**19, or 2**16 per
# thread on many cores): the slice's four tensors and the denominator (10 MB
# and more) stay in the last-level cache across the nine ops. A multiple of
# 1024, so that slices split vectorized loops where whole tensors do.
CPU_CHUNK = None

__all__ = ["INNAprop", "innaprop"]


def check_lr_below_beta(lr, beta, name="INNAprop"):
    if not lr < beta:
        raise ValueError(
            f"{name} needs lr < beta at every step (thesis Remark 12: the "
            f"update divides by beta - lr), got lr={lr} and beta={beta}."
        )


class INNAprop(GroupOptimizer):
    """INNAprop optimizer (thesis Algorithm 3).

    Args:
        {params}
        lr: learning rate gamma (default 1e-3). Must stay below ``beta``.
        alpha: viscous damping (default 0.1).
        beta: Hessian-driven damping (default 0.9). Must be > 0.
        sigma: RMSprop averaging constant for the squared gradients
            (default 0.999), in [0, 1).
        {eps}
        weight_decay: decoupled weight decay lambda (default 0.01).
        foreach: use the multi-tensor implementation. ``None`` picks it
            (or the fused step, see ``fused``) whenever every parameter is
            a dense tensor; ``False`` runs the per-tensor reference.
        fused: use the fused step: a Triton kernel on CUDA tensors
            (compiled at the first step), a C++ kernel on float32 and
            float64 CPU tensors (built at its first use on a machine, then
            loaded from torch's extension cache). Default ``None``: fused for
            CPU groups of at least 2**20 elements, foreach otherwise;
            ``False``: never. Where the CPU kernel cannot be built (no C++
            compiler or ninja), a warning says so and the foreach path runs.
        {maximize}
    """

    state_keys = ("step", "exp_avg_sq", "psi")

    def __init__(self, params, lr=1e-3, alpha=0.1, beta=0.9, sigma=0.999,
                 eps=1e-8, weight_decay=0.01, *, foreach=None, fused=None,
                 maximize=False):
        defaults = dict(lr=lr, alpha=alpha, beta=beta, sigma=sigma, eps=eps,
                        weight_decay=weight_decay, foreach=foreach,
                        fused=fused, maximize=maximize)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("fused", None)

    def new_state(self, p, group):
        # psi_0 = (1 - alpha beta) theta_0, before any decay.
        return dict(step=torch.tensor(0.0), exp_avg_sq=zeros(p),
                    psi=p.detach().clone(memory_format=torch.preserve_format
                                         ).mul_(1 - group["alpha"]
                                                * group["beta"]))

    def _check(self, group):
        # Every group is checked before any parameter changes: a scheduler
        # may have pushed lr to or past beta since the last step.
        check_lr_below_beta(group["lr"], group["beta"])

    def _validate(self, group):
        if torch.is_tensor(group["lr"]):
            raise TypeError("INNAprop takes lr as a Python float.")
        check_nonnegative(lr=group["lr"], alpha=group["alpha"],
                          eps=group["eps"],
                          weight_decay=group["weight_decay"])
        check_positive(beta=group["beta"])
        check_averaging(sigma=group["sigma"])
        check_lr_below_beta(group["lr"], group["beta"])
        if group["fused"]:
            if group["foreach"]:
                raise ValueError("INNAprop: fused=True and foreach=True "
                                 "cannot be set together; choose one.")
            for p in group["params"]:
                check_fused_supported(p)

    def _update(self, group, params, grads, steps, exp_avg_sqs, psis):
        # lr < beta was checked for every group before any update (_check).
        _step([params, grads, steps, exp_avg_sqs, psis],
              {k: group[k] for k in ("lr", "alpha", "beta", "sigma", "eps",
                                     "weight_decay")},
              group["foreach"], group["fused"])


INNAprop.__doc__ = _docs.fill(INNAprop.__doc__)


def check_fused_supported(tensor):
    """fused=True runs a Triton kernel on CUDA tensors and a C++ kernel on
    CPU tensors."""
    if not tensor.is_floating_point():
        raise ValueError(f"INNAprop(fused=True) needs floating-point "
                         f"parameters, got {tensor.dtype}.")
    if tensor.device.type not in FUSED_STEP:
        raise ValueError(
            "INNAprop(fused=True) runs on CUDA and CPU tensors; got a "
            f"parameter on {tensor.device}. Leave fused unset there.")


def innaprop(params, grads, steps, exp_avg_sqs, psis, *, lr, alpha, beta,
             sigma, eps, weight_decay, foreach=None, fused=None):
    """Functional INNAprop step over lists of tensors (updated in place)."""
    check_lr_below_beta(lr, beta)
    _step([params, grads, steps, exp_avg_sqs, psis],
          dict(lr=lr, alpha=alpha, beta=beta, sigma=sigma, eps=eps,
               weight_decay=weight_decay), foreach, fused)


def _step(lists, hyper, foreach, fused):
    """One step of a group whose lr was checked: the implementation is
    chosen once per (device, dtype) bucket, then runs on the whole bucket,
    as torch's adam() does."""
    if not lists[0]:
        return
    if fused and foreach:
        raise ValueError("INNAprop: fused=True and foreach=True cannot be "
                         "set together; choose one.")
    grouped = Optimizer._group_tensors_by_device_and_dtype(lists)
    numel = {}
    for (device, _), (bucket, _) in grouped.items():
        numel[device] = numel.get(device, 0) + sum(p.numel()
                                                   for p in bucket[0])
    for (device, _), (bucket, _) in grouped.items():
        run = _implementation(device, numel[device], bucket[0], foreach,
                              fused)
        run(*bucket, **hyper)


def _implementation(device, numel, params, foreach, fused):
    """The function that updates one (device, dtype) bucket."""
    if fused is None and foreach is None and device.type == "cpu" \
            and numel >= _cpu_innaprop.MIN_NUMEL:
        # Neither chosen: the fused step for a large group on the CPU.
        fused = True
    if fused:
        check_fused_supported(params[0])
        return FUSED_STEP[device.type]
    if foreach is None:
        foreach = default_to_foreach(params)
    return _multi_tensor_innaprop if foreach else _single_tensor_innaprop


def _cpu_fused_innaprop(params, grads, steps, exp_avg_sqs, psis, *, lr,
                        alpha, beta, sigma, eps, weight_decay):
    """The fused C++ step on a bucket of CPU tensors; the tensors it does
    not take (not float32 or float64, or their four layouts differ), or all
    of them where it cannot be built, go through the foreach ops."""
    psi_keep, psi_take, c_theta, c_psi = _coefficients(lr, alpha, beta,
                                                       weight_decay)
    rest = _cpu_innaprop.innaprop_step(
        params, grads, exp_avg_sqs, psis, steps, sigma=sigma, eps=eps,
        psi_keep=psi_keep, psi_take=psi_take, c_theta=c_theta, c_psi=c_psi,
        c_grad=lr * beta)
    lists = [params, grads, steps, exp_avg_sqs, psis]
    if rest is not None:
        lists = [[lst[i] for i in rest] for lst in lists]
    if lists[0]:
        _multi_tensor_innaprop(*lists, lr=lr, alpha=alpha, beta=beta,
                               sigma=sigma, eps=eps,
                               weight_decay=weight_decay)


def _coefficients(lr, alpha, beta, weight_decay):
    """Scalars of one step, with the decay (1 - lr wd) folded in:
    psi <- psi_keep psi + psi_take theta, then
    theta <- c_theta theta - c_psi psi - lr beta g / d."""
    decay = 1 - lr * weight_decay
    psi_keep = 1 - lr / beta
    psi_take = lr * (1 / beta - alpha) * decay
    c_theta = (1 + lr * (1 - alpha * beta) / (beta - lr)) * decay
    c_psi = lr / (beta - lr)
    return psi_keep, psi_take, c_theta, c_psi


def _single_tensor_innaprop(params, grads, steps, exp_avg_sqs, psis, *, lr,
                            alpha, beta, sigma, eps, weight_decay):
    """Reference implementation: Algorithm 3, one tensor at a time, line by
    line. The faster paths are checked against it."""
    c_theta = 1 + lr * (1 - alpha * beta) / (beta - lr)
    c_psi = lr / (beta - lr)
    for param, grad, step_t, exp_avg_sq, psi in zip(
            params, grads, steps, exp_avg_sqs, psis):
        step_t += 1
        bias_correction = 1 - sigma ** step_t.item()

        param.mul_(1 - lr * weight_decay)                            # line 9
        exp_avg_sq.mul_(sigma).addcmul_(grad, grad, value=1 - sigma)  # 10
        denom = (exp_avg_sq / bias_correction).sqrt_().add_(eps)     # 11, 13
        psi.mul_(1 - lr / beta).add_(param, alpha=lr * (1 / beta - alpha))
        param.mul_(c_theta).sub_(psi, alpha=c_psi)                   # line 13
        param.addcdiv_(grad, denom, value=-lr * beta)


def _multi_tensor_innaprop(params, grads, steps, exp_avg_sqs, psis, *, lr,
                           alpha, beta, sigma, eps, weight_decay):
    """The reference's arithmetic with the two rewrites of the module
    docstring, with foreach ops over each (device, dtype) bucket; on the
    CPU, over cache-sized slices of
    it (each op is a pass over memory; on a slice that fits in cache, the
    nine passes cost about one)."""
    hyper = dict(lr=lr, alpha=alpha, beta=beta, sigma=sigma, eps=eps,
                 weight_decay=weight_decay)
    grouped = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, steps, exp_avg_sqs, psis])
    for (d_params, d_grads, d_steps, d_v, d_psi), _ in grouped.values():
        _increment(d_steps)
        sqrt_bc = [math.sqrt(1 - sigma ** s.item()) for s in d_steps]
        tensors = (d_params, d_grads, d_v, d_psi)
        chunk = CPU_CHUNK or max(1 << 19, (1 << 16) * torch.get_num_threads())
        slices = (_cpu_slices(tensors, sqrt_bc, chunk)
                  if d_params[0].is_cpu else [(tensors, sqrt_bc)])
        for lists, s_bc in slices:
            _foreach_update(*lists, s_bc, **hyper)


def _increment(steps):
    if steps[0].is_cpu:
        # One wrapped scalar instead of one per tensor (torch's trick).
        torch._foreach_add_(steps, torch.tensor(1.0), alpha=1.0)
    else:
        torch._foreach_add_(steps, 1)


def _foreach_update(params, grads, exp_avg_sqs, psis, sqrt_bc, *, lr, alpha,
                    beta, sigma, eps, weight_decay):
    """One step over lists of tensors, with the rewrites; ``sqrt_bc`` holds
    sqrt(1 - sigma**k) per tensor."""
    psi_keep, psi_take, c_theta, c_psi = _coefficients(lr, alpha, beta,
                                                       weight_decay)
    torch._foreach_mul_(exp_avg_sqs, sigma)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - sigma)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denom, [eps * s for s in sqrt_bc])
    torch._foreach_mul_(psis, psi_keep)
    torch._foreach_add_(psis, params, alpha=psi_take)
    torch._foreach_mul_(params, c_theta)
    torch._foreach_add_(params, psis, alpha=-c_psi)
    torch._foreach_addcdiv_(params, grads, denom,
                            [-lr * beta * s for s in sqrt_bc])


def _cpu_slices(tensor_lists, scalars, size):
    """Cut parallel tensor lists into pieces of about ``size`` elements:
    small tensors batched together, large contiguous ones cut into flat
    slices at multiples of ``size``. Yields (lists, scalars) pairs, each
    tensor's scalar following its slices."""
    lists, batch_scalars, total = [[] for _ in tensor_lists], [], 0
    for i, scalar in enumerate(scalars):
        ts = [tl[i] for tl in tensor_lists]
        numel = ts[0].numel()
        if numel > size and all(t.is_contiguous() for t in ts):
            flat = [t.view(-1) for t in ts]
            for start in range(0, numel, size):
                yield [[f[start:start + size]] for f in flat], [scalar]
            continue
        for batch, t in zip(lists, ts):
            batch.append(t)
        batch_scalars.append(scalar)
        total += numel
        if total >= size:
            yield lists, batch_scalars
            lists, batch_scalars, total = [[] for _ in tensor_lists], [], 0
    if batch_scalars:
        yield lists, batch_scalars


def _triton_innaprop(params, grads, steps, exp_avg_sqs, psis, *, lr, alpha,
                     beta, sigma, eps, weight_decay):
    """One Triton kernel launch per step count of a bucket of CUDA tensors;
    tensors the kernel cannot take as flat arrays go through the foreach
    ops."""
    from innaprop import _triton_innaprop as kernel
    hyper = dict(lr=lr, alpha=alpha, beta=beta, sigma=sigma, eps=eps,
                 weight_decay=weight_decay)
    psi_keep, psi_take, c_theta, c_psi = _coefficients(lr, alpha, beta,
                                                       weight_decay)
    _increment(steps)
    # Tensors added to the group later have their own step count.
    counts = torch.stack(steps)
    first = counts[0].item()
    if bool((counts == first).all()):
        by_step = {first: range(len(steps))}
    else:
        by_step = {}
        for i, s in enumerate(counts.tolist()):
            by_step.setdefault(s, []).append(i)
    for step, idx in by_step.items():
        sqrt_bc = math.sqrt(1 - sigma ** step)
        lists = [params, grads, exp_avg_sqs, psis]
        if len(by_step) > 1:
            lists = [[lst[i] for i in idx] for lst in lists]
        rest = kernel.innaprop_step(
            *lists, sigma=sigma, eps=eps * sqrt_bc, psi_keep=psi_keep,
            psi_take=psi_take, c_theta=c_theta, c_psi=c_psi,
            c_grad=lr * beta * sqrt_bc)
        if rest:
            _foreach_update(*[[lst[i] for i in rest] for lst in lists],
                            [sqrt_bc] * len(rest), **hyper)


# The fused step of each device type. Tests may run the Triton kernel on
# CPU tensors in Triton's interpreter by pointing "cpu" at it.
FUSED_STEP = {"cuda": _triton_innaprop, "cpu": _cpu_fused_innaprop}
