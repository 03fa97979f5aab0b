"""SophiaG (Liu et al., 2023, "Sophia: A Scalable Stochastic Second-order
Optimizer for Language Model Pre-training"), as in the authors' code
(github.com/Liuhong99/Sophia). For one tensor, with learning rate eta:

    theta <- (1 - eta lambda) theta                          decoupled decay
    m     <- beta1 m + (1 - beta1) g
    theta <- theta - eta sign(m) min(|m| / (rho h + 1e-15), 1)

Every k steps (k = 10 in the paper) the training loop refreshes the diagonal
Hessian estimate h with ``update_hessian(bs)``: it runs a forward pass,
samples labels from the model's own softmax, backpropagates the mean loss
against those labels (gradient g^), and calls

    h <- beta2 h + (1 - beta2) bs g^ * g^

the Gauss-Newton-Bartlett estimator, where bs is the number of sampled
labels the loss averages over (examples, or tokens for a language model).
The authors' code stores the unscaled average of g^ * g^ and multiplies by
bs (``total_bs * block_size``, tokens per step) inside the step; storing the
scaled estimate is the same update when bs is constant, and stays right
when it is not (a last, smaller batch). h starts at zero: until the first
refresh every coordinate is clipped, as in the authors' code.

``win_rate()`` is the fraction of coordinates the next step leaves unclipped
(|m| < rho h), the authors' ``train/win_rate``; they advise tuning rho to
keep it between 0.1 and 0.5.

Memory: two state tensors per parameter (``exp_avg`` and ``hessian``), as
AdamW.
"""
import torch
from torch.optim import Optimizer

from innaprop import _docs
from innaprop._base import (GroupOptimizer, _real, check_averaging,
                            check_nonnegative, check_positive,
                            default_to_foreach, zeros)

__all__ = ["SophiaG", "sophiag"]


class SophiaG(GroupOptimizer):
    """SophiaG optimizer.

    Args:
        {params}
        lr: learning rate eta (default 1e-4, the authors'; it bounds each
            coordinate's move per step).
        betas: (beta1, beta2), the averaging constants of the gradients and
            of the Hessian estimates (default (0.965, 0.99)).
        rho: clipping scale (default 0.04).
        weight_decay: decoupled weight decay lambda (default 0.1).
        {foreach}
        {maximize}
    """

    def __init__(self, params, lr=1e-4, betas=(0.965, 0.99), rho=0.04,
                 weight_decay=0.1, *, foreach=None, maximize=False):
        check_nonnegative(lr=lr, weight_decay=weight_decay)
        # rho = 0 would clip every coordinate: a sign descent, not Sophia.
        check_positive(rho=rho)
        check_averaging(betas=betas)
        defaults = dict(lr=lr, betas=tuple(betas), rho=rho,
                        weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)

    state_keys = ("step", "exp_avg", "hessian")

    def new_state(self, p, group):
        return dict(step=torch.tensor(0.0), exp_avg=zeros(p),
                    hessian=zeros(p))

    def _update(self, group, params, grads, steps, exp_avgs, hessians):
        sophiag(params, grads, steps, exp_avgs, hessians, lr=group["lr"],
                beta1=group["betas"][0], rho=group["rho"],
                weight_decay=group["weight_decay"],
                foreach=group["foreach"])

    def load_state_dict(self, state_dict):
        """Load a state dict of this class. One of the authors' SophiaG
        (Liuhong99/Sophia, recognised by its ``capturable`` flag) stores its
        Hessian estimate without the factor bs: it is refused, since loading
        it as is would clip almost every coordinate; convert it with
        ``load_official_state_dict(state_dict, bs)``."""
        if any("capturable" in g for g in state_dict["param_groups"]):
            raise ValueError(
                "This is a state dict of the authors' SophiaG, whose "
                "'hessian' is the average of g*g without the factor bs "
                "(ours stores bs * that average). Load it with "
                "optimizer.load_official_state_dict(state_dict, bs), bs "
                "being the number of sampled labels per Hessian refresh "
                "(their total_bs * block_size).")
        super().load_state_dict(state_dict)

    def load_official_state_dict(self, state_dict, bs):
        """Load a state dict of the authors' SophiaG, multiplying its
        Hessian estimates by ``bs`` (the labels each refresh averages over:
        the authors' ``total_bs * block_size``), our scale."""
        check_positive(bs=bs)
        state = {k: dict(v, hessian=v["hessian"] * bs)
                 if "hessian" in v else dict(v)
                 for k, v in state_dict["state"].items()}
        groups = []
        for g in state_dict["param_groups"]:
            g = {k: v for k, v in g.items() if k != "capturable"}
            g.setdefault("foreach", None)
            groups.append(g)
        super().load_state_dict({"state": state, "param_groups": groups})

    def _state(self, p):
        state = self.state[p]
        if len(state) == 0:
            state.update(self.new_state(p, None))
        return state

    @torch.no_grad()
    def update_hessian(self, bs):
        """h <- beta2 h + (1 - beta2) bs g * g, with g the current gradients:
        those of the mean loss against ``bs`` labels sampled from the model
        (Gauss-Newton-Bartlett)."""
        for group in self.param_groups:
            beta2 = group["betas"][1]
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            hessians = [_real(self._state(p)["hessian"], True)
                        for p in params]
            grads = [_real(p.grad, True) for p in params]
            torch._foreach_mul_(hessians, beta2)
            torch._foreach_addcmul_(hessians, grads, grads,
                                    value=(1 - beta2) * bs)

    @torch.no_grad()
    def win_rate(self):
        """Fraction of coordinates with |m| < rho h: those the next step
        moves by less than lr (unclipped). Syncs with the device."""
        won, total = 0, 0
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.get(p)
                if not state:
                    continue
                won += (_real(state["exp_avg"], True).abs()
                        < group["rho"] * _real(state["hessian"], True)).sum()
                total += _real(p, True).numel()
        return float(won) / total if total else float("nan")

    def metrics(self):
        """What the benchmark logs at each evaluation."""
        return {"win_rate": self.win_rate()}


SophiaG.__doc__ = _docs.fill(SophiaG.__doc__)


def sophiag(params, grads, steps, exp_avgs, hessians, *, lr, beta1, rho,
            weight_decay, foreach=None):
    """Functional SophiaG step over lists of tensors (updated in place)."""
    if not params:
        return
    if foreach is None:
        foreach = default_to_foreach(params)
    fn = _multi_tensor_sophiag if foreach else _single_tensor_sophiag
    fn(params, grads, steps, exp_avgs, hessians, lr=lr, beta1=beta1, rho=rho,
       weight_decay=weight_decay)


def _single_tensor_sophiag(params, grads, steps, exp_avgs, hessians, *, lr,
                           beta1, rho, weight_decay):
    """Reference implementation: one tensor at a time."""
    for param, grad, step_t, exp_avg, hess in zip(
            params, grads, steps, exp_avgs, hessians):
        step_t += 1
        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        ratio = exp_avg.abs().div_(hess.mul(rho).add_(1e-15)).clamp_(max=1)
        param.addcmul_(exp_avg.sign(), ratio, value=-lr)


def _multi_tensor_sophiag(params, grads, steps, exp_avgs, hessians, *, lr,
                          beta1, rho, weight_decay):
    """Same arithmetic as the reference, in the same order, with foreach ops
    over each (device, dtype) bucket."""
    grouped = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, steps, exp_avgs, hessians])
    for (d_params, d_grads, d_steps, d_m, d_h), _ in grouped.values():
        torch._foreach_add_(d_steps, 1.0)
        if weight_decay != 0:
            torch._foreach_mul_(d_params, 1 - lr * weight_decay)
        torch._foreach_mul_(d_m, beta1)
        torch._foreach_add_(d_m, d_grads, alpha=1 - beta1)
        ratio = torch._foreach_abs(d_m)
        denom = torch._foreach_mul(d_h, rho)
        torch._foreach_add_(denom, 1e-15)
        torch._foreach_div_(ratio, denom)
        torch._foreach_clamp_max_(ratio, 1.0)
        torch._foreach_addcmul_(d_params, torch._foreach_sign(d_m), ratio,
                                value=-lr)
