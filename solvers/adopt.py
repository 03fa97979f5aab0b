from pytorch_optimizer import ADOPT

from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    """ADOPT (Taniguchi et al. 2024), pytorch-optimizer's implementation:
    the second moment of the previous step normalizes the gradient before
    the momentum, with its clipping schedule; betas (0.9, 0.9999), eps
    1e-6, decoupled weight decay (AdamW-style). lr and weight decay from
    the recipe (AdamW's scale, as the authors use)."""

    name = "adopt"
    parameters = {"beta1": [0.9], "beta2": [0.9999], "eps": [1e-6],
                  "lr": [None], "weight_decay": [None]}
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        return ADOPT(params, lr=lr, betas=(self.beta1, self.beta2),
                     eps=self.eps, weight_decay=weight_decay,
                     weight_decouple=True)
