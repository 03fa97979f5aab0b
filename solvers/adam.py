import torch

from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    """torch.optim.Adam (Kingma and Ba; thesis Table 4.5), betas (0.9, 0.999),
    eps 1e-8. lr and weight decay from the recipe. Unlike AdamW's, Adam's
    weight decay is an L2 penalty added to the gradient (coupled): the
    recipe's value is used as that penalty."""

    name = "adam"
    parameters = {"beta1": [0.9], "beta2": [0.999], "eps": [1e-8],
                  "lr": [None], "weight_decay": [None]}
    # Tuning studies' default (benchmark_utils/tuning).
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-6, 1e-3]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        return torch.optim.Adam(params, lr=lr, betas=(self.beta1, self.beta2),
                                eps=self.eps, weight_decay=weight_decay)
