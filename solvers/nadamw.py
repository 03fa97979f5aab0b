import torch

from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    """NAdamW, AlgoPerf's baseline: torch.optim.NAdam with decoupled weight
    decay (decoupled_weight_decay=True), betas (0.9, 0.999), eps 1e-8. lr
    and weight decay from the recipe (AdamW's scale)."""

    name = "nadamw"
    parameters = {"beta1": [0.9], "beta2": [0.999], "eps": [1e-8],
                  "lr": [None], "weight_decay": [None]}
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]},
                    "beta2": {"choice": [0.99, 0.999]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        return torch.optim.NAdam(
            params, lr=lr, betas=(self.beta1, self.beta2), eps=self.eps,
            weight_decay=weight_decay, decoupled_weight_decay=True)
