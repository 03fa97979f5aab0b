from pytorch_optimizer import MARS

from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    """MARS-AdamW (Yuan et al. 2024), pytorch-optimizer's implementation:
    variance-reduced momentum (gamma = 0.025) in an AdamW update, betas
    (0.95, 0.99). Every parameter, 1-D ones included, takes the MARS update
    (optimize_1d=True), so that the recipe's decay groups apply as for
    every solver. Decoupled weight decay; lr and weight decay from the
    recipe."""

    name = "mars"
    parameters = {"beta1": [0.95], "beta2": [0.99], "gamma": [0.025],
                  "lr": [None], "weight_decay": [None]}
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]},
                    "gamma": {"log_uniform": [0.005, 0.1]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        return MARS(params, lr=lr, betas=(self.beta1, self.beta2),
                    gamma=self.gamma, mars_type="adamw", optimize_1d=True,
                    weight_decay=weight_decay, weight_decouple=True)
