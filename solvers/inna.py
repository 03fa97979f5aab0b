from innaprop import INNA
from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training.method import Scale

# INNA steps on SGD's scale, not on AdamW's (the recipe's).
LR_RATIO = 100


class Solver(TrainingSolver):
    """INNA (Castera et al. 2021; thesis Table 4.5) with the authors'
    defaults alpha 0.5, beta 0.1.

    The recipe's lr and weight decay are AdamW's. lr=None takes 100x the
    recipe's lr (AdamW's 1e-3 becomes 0.1, the authors' default);
    weight_decay=None takes the recipe's divided by 100, so that the decay per
    step (decoupled, lr x weight_decay) is the recipe's. Values set here are
    used as is: -s "inna[lr=0.05,weight_decay=0]".
    """

    name = "inna"
    parameters = {"alpha": [0.5], "beta": [0.1], "lr": [None],
                  "weight_decay": [None]}
    # Tuning studies' default (benchmark_utils/tuning).
    search_space = {"lr": {"log_uniform": [1e-3, 3e-1]},
                    "weight_decay": {"log_uniform": [1e-6, 1e-3]},
                    "alpha": {"uniform": [0.1, 1.0]},
                    "beta": {"uniform": [0.05, 0.5]}}
    scale = Scale(lr=LR_RATIO, weight_decay=1 / LR_RATIO,
                  source="Castera et al.'s default lr 0.1 against AdamW's "
                  "1e-3; decay per step lr x weight_decay kept")

    def make_optimizer(self, params, lr, weight_decay, run):
        return INNA(params, lr=lr, alpha=self.alpha, beta=self.beta,
                    weight_decay=weight_decay)
