"""Several optimizers over disjoint parameters, driven as one.

Muon trains the hidden matrices and AdamW the rest: the training loop, the
learning-rate scheduler, the gradient scaler and the checkpoints each expect
one optimizer. None of torch.optim, schedulefree or pytorch-optimizer offers
this wrapper, so it is written here; it adds no arithmetic.
"""
import torch


class CombinedOptimizer(torch.optim.Optimizer):
    """Steps ``optimizers`` in turn. Its ``param_groups`` are theirs (the
    same dicts), so a scheduler's lr factor reaches every group, each
    relative to its own initial lr."""

    def __init__(self, *optimizers):
        self.optimizers = [o for o in optimizers if o.param_groups]
        params = [p for o in self.optimizers for g in o.param_groups
                  for p in g["params"]]
        super().__init__(params, {})
        self.param_groups = [g for o in self.optimizers
                             for g in o.param_groups]

    @property
    def state(self):
        merged = {}
        for o in self.optimizers:
            merged.update(o.state)
        return merged

    @state.setter
    def state(self, value):    # Optimizer.__init__ sets an empty one
        pass

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for o in self.optimizers:
            o.step()
        return loss

    def zero_grad(self, set_to_none=True):
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def state_dict(self):
        return {"optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state_dict):
        saved = state_dict["optimizers"]
        if len(saved) != len(self.optimizers):
            raise ValueError(f"This state dict holds {len(saved)} optimizers"
                             f", this one {len(self.optimizers)}.")
        for o, s in zip(self.optimizers, saved):
            o.load_state_dict(s)
        self.param_groups = [g for o in self.optimizers
                             for g in o.param_groups]

    def metrics(self):
        out = {}
        for o in self.optimizers:
            out.update(getattr(o, "metrics", dict)())
        return out

    def train(self):
        for o in self.optimizers:
            getattr(o, "train", lambda: None)()

    def eval(self):
        for o in self.optimizers:
            getattr(o, "eval", lambda: None)()
