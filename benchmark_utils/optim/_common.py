"""The step loop the optimizers of this package share (torch.optim's pattern:
gather a group's tensors, then call a functional per-tensor or foreach
update)."""
import torch
from torch.optim import Optimizer


def zeros(p):
    return torch.zeros_like(p, memory_format=torch.preserve_format)


class GroupOptimizer(Optimizer):
    """An Optimizer whose step checks every group (before any parameter
    changes), then updates each group with ``_update(group, params, grads,
    states)``. Subclasses set ``state_keys`` and ``new_state(p, group)``,
    which creates a parameter's state at its first gradient."""

    state_keys = ()

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)

    def new_state(self, p, group):
        raise NotImplementedError

    def _check(self, group):
        """Raise before any update if ``group``'s values are invalid now (a
        scheduler may have moved them)."""

    def _update(self, group, params, grads, *state_lists):
        raise NotImplementedError

    def gather(self, group):
        """The group's parameters that have a gradient, their gradients, and
        one list per state key."""
        params, grads = [], []
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
            params.append(p)
            grads.append(p.grad)
            for values, key in zip(lists, self.state_keys):
                values.append(state[key])
        return params, grads, lists

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
