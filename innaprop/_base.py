"""What the optimizers of this package share: the choice of implementation,
the checks of hyperparameters, and the step loop (torch.optim's pattern:
gather a group's tensors, then call a functional per-tensor, foreach or fused
update)."""
import numbers

import torch
from torch.optim import Optimizer


def zeros(p):
    return torch.zeros_like(p, memory_format=torch.preserve_format)


def default_to_foreach(params):
    """The implementation a group gets when ``foreach`` is None: the
    multi-tensor one whenever every tensor is a plain dense tensor (as
    torch.optim's ``_default_to_fused_or_foreach`` decides)."""
    return all(type(t) in (torch.Tensor, torch.nn.Parameter) and
               not t.is_sparse for t in params)


def check(ok, name, value, allowed):
    """Raise a ValueError naming the hyperparameter, its value and what is
    allowed, unless ``ok``."""
    if not ok:
        raise ValueError(f"Invalid {name}: {name}={value!r} (must be "
                         f"{allowed}).")


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_nonnegative(**values):
    for name, value in values.items():
        check(_is_real(value) and value >= 0.0, name, value, "a number >= 0")


def check_positive(**values):
    for name, value in values.items():
        check(_is_real(value) and value > 0.0, name, value, "a number > 0")


def check_averaging(**values):
    """Averaging constants (RMSprop's sigma, Adam's betas) lie in [0, 1)."""
    for name, value in values.items():
        if isinstance(value, (tuple, list)):
            for i, v in enumerate(value):
                check(_is_real(v) and 0.0 <= v < 1.0, f"{name}[{i}]", v,
                      "in [0, 1)")
        else:
            check(_is_real(value) and 0.0 <= value < 1.0, name, value,
                  "in [0, 1)")


def _real(tensor, is_complex):
    """A complex tensor's real view (its last dimension holds the real and
    imaginary parts); a step count (a scalar) or a real tensor as is."""
    if is_complex and tensor.dim() > 0 and torch.is_complex(tensor):
        return torch.view_as_real(tensor)
    return tensor


class GroupOptimizer(Optimizer):
    """An Optimizer whose step checks every group (before any parameter
    changes), then updates each group with ``_update(group, params, grads,
    *state_lists)``. Subclasses set ``state_keys`` and ``new_state(p,
    group)``, which creates a parameter's state at its first gradient, and
    may override ``_validate(group)`` (a new group's checks) and
    ``_check(group)`` (those of every step).

    A group's lists of parameters and states change only when a parameter
    gets its first gradient: they are reused while every parameter of the
    group has one, which keeps the host's work per step small (it sets the
    pace of a fused GPU step).
    """

    state_keys = ()

    def __init__(self, params, defaults):
        self._lists = {}
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        self._validate(self.param_groups[-1])
        self._lists = {}

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._lists = {}    # the state tensors are new objects

    def __setstate__(self, state):
        super().__setstate__(state)
        self._lists = {}
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
        # Older torch optimizers (and the authors' code) store plain number
        # steps; torch may move those of fused groups to the device. Ours
        # stay CPU tensors in every path, so that no step syncs the host.
        for s in self.state.values():
            if "step" in s and not torch.is_tensor(s["step"]):
                s["step"] = torch.tensor(float(s["step"]))
            elif "step" in s and not s["step"].is_cpu:
                s["step"] = s["step"].cpu()

    def new_state(self, p, group):
        raise NotImplementedError

    def _validate(self, group):
        """Raise if a new group's hyperparameters are invalid (what a
        scheduler cannot change, checked once)."""
        self._check(group)

    def _check(self, group):
        """Raise before any update if ``group``'s values are invalid now (a
        scheduler may have moved them)."""

    def _update(self, group, params, grads, *state_lists):
        raise NotImplementedError

    def gather(self, group):
        """The group's parameters that have a gradient, their gradients
        (negated with ``maximize``), and one list per state key. Complex
        tensors come as real views of their (real, imaginary) pairs, as
        torch.optim treats them: the update is that of two real
        coordinates, not of complex arithmetic (g * g is not |g|^2)."""
        cached = self._lists.get(id(group))
        if cached is not None and cached[0] is group["params"]:
            grads = [p.grad for p in group["params"]]
            if not any(g is None for g in grads):
                params, lists = list(cached[1]), [list(v) for v in cached[2]]
                return params, self._grads(group, grads, cached[3]), lists
        params, grads, complex_ = [], [], []
        lists = [[] for _ in self.state_keys]
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support "
                                   "sparse gradients")
            state = self.state[p]
            if len(state) == 0:
                state.update(self.new_state(p, group))
            is_complex = torch.is_complex(p)
            complex_.append(is_complex)
            params.append(_real(p, is_complex))
            grads.append(p.grad)
            for values, key in zip(lists, self.state_keys):
                values.append(_real(state[key], is_complex))
        if len(params) == len(group["params"]):
            self._lists[id(group)] = (group["params"], list(params),
                                      [list(v) for v in lists], complex_)
        return params, self._grads(group, grads, complex_), lists

    @staticmethod
    def _grads(group, grads, complex_):
        if any(complex_):
            grads = [_real(g, c) for g, c in zip(grads, complex_)]
        if group.get("maximize"):
            grads = torch._foreach_neg(grads)
        return grads

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._check(group)
        for group in self.param_groups:
            params, grads, lists = self.gather(group)
            self._update(group, params, grads, *lists)
        return loss
