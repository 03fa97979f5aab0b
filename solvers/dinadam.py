from innaprop import DINAdam
from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    """DINAdam (thesis Algorithm 6; see innaprop/dinadam.py for
    the sign of its change of variable). The thesis gives no tuned values:
    (alpha, beta) default to INNAprop's (0.1, 0.9), betas to Adam's
    (0.9, 0.999). alpha=1, beta=0 is AdamW. lr and weight decay (decoupled)
    from the recipe."""

    name = "dinadam"
    parameters = {"alpha": [0.1], "beta": [0.9], "beta1": [0.9],
                  "beta2": [0.999], "eps": [1e-8], "lr": [None],
                  "weight_decay": [None]}
    # Tuning studies' default (benchmark_utils/tuning).
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]},
                    "alpha": {"uniform": [0.1, 3.0]},
                    "beta": {"uniform": [0.5, 3.0]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        return DINAdam(params, lr=lr, alpha=self.alpha, beta=self.beta,
                       betas=(self.beta1, self.beta2), eps=self.eps,
                       weight_decay=weight_decay)
