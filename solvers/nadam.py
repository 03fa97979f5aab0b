import torch

from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    """torch.optim.NAdam (Dozat 2016; thesis Table 4.5): betas (0.9, 0.999),
    eps 1e-8, momentum decay psi 4e-3. lr and weight decay from the recipe;
    the decay is an L2 penalty added to the gradient (torch's default), or
    decoupled as in AdamW with -s "nadam[decoupled_weight_decay=True]"."""

    name = "nadam"
    parameters = {"beta1": [0.9], "beta2": [0.999], "eps": [1e-8],
                  "momentum_decay": [4e-3], "decoupled_weight_decay": [False],
                  "lr": [None], "weight_decay": [None]}
    # Tuning studies' default (benchmark_utils/tuning).
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-6, 1e-3]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        return torch.optim.NAdam(
            params, lr=lr, betas=(self.beta1, self.beta2), eps=self.eps,
            momentum_decay=self.momentum_decay, weight_decay=weight_decay,
            decoupled_weight_decay=self.decoupled_weight_decay)
