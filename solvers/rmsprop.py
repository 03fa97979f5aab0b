import torch

from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    """torch.optim.RMSprop (Tieleman and Hinton): smoothing constant 0.99,
    eps 1e-8, no momentum by default (thesis Table 4.5 lists RMSprop with
    momentum: -s "rmsprop[momentum=0.9]", which multiplies the step by up to
    10). lr and weight decay from the recipe; the decay is an L2 penalty
    added to the gradient."""

    name = "rmsprop"
    parameters = {"alpha": [0.99], "eps": [1e-8], "momentum": [0.0],
                  "centered": [False], "lr": [None], "weight_decay": [None]}
    # Tuning studies' default (benchmark_utils/tuning).
    search_space = {"lr": {"log_uniform": [1e-5, 1e-3]},
                    "weight_decay": {"log_uniform": [1e-6, 1e-3]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        return torch.optim.RMSprop(params, lr=lr, alpha=self.alpha,
                                   eps=self.eps, momentum=self.momentum,
                                   centered=self.centered,
                                   weight_decay=weight_decay)
