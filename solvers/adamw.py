import torch

from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    """torch.optim.AdamW. Defaults of the thesis's image experiments:
    betas (0.9, 0.999), eps 1e-8; lr and weight decay from the recipe.
    fused=True uses torch's fused CUDA kernel (to compare with
    innaprop[fused=True]); the default is torch's foreach path."""

    name = "adamw"
    parameters = {"beta1": [0.9], "beta2": [0.999], "eps": [1e-8],
                  "lr": [None], "weight_decay": [None], "fused": [False]}
    # Tuning studies' default (benchmark_utils/tuning).
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        return torch.optim.AdamW(params, lr=lr, betas=(self.beta1, self.beta2),
                                 eps=self.eps, weight_decay=weight_decay,
                                 fused=self.fused or None)
