from innaprop import Lion
from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training.method import Scale

# Lion's sign update moves every coordinate by lr: its paper advises an lr
# 3-10x smaller than AdamW's and a decay 3-10x larger (same lr x decay).
# The low end of that range:
LR_RATIO = 1 / 3


class Solver(TrainingSolver):
    """Lion (Chen et al. 2023) with the paper's betas (0.9, 0.99).

    The recipe's lr and weight decay are AdamW's. lr=None takes the
    recipe's lr / 3 and weight_decay=None the recipe's x 3 (decoupled), so
    that the decay per step lr x weight_decay is the recipe's (the paper
    advises 3-10x). Values set here are used as is:
    -s "lion[lr=1e-4,weight_decay=0.1]".
    """

    name = "lion"
    parameters = {"beta1": [0.9], "beta2": [0.99], "lr": [None],
                  "weight_decay": [None]}
    # Tuning studies' default (benchmark_utils/tuning).
    search_space = {"lr": {"log_uniform": [1e-5, 1e-3]},
                    "weight_decay": {"log_uniform": [1e-3, 1.0]}}
    scale = Scale(lr=LR_RATIO, weight_decay=1 / LR_RATIO,
                  source="Chen et al. 2023, section 5: lr 3-10x smaller "
                  "and decay 3-10x larger than AdamW's")

    def make_optimizer(self, params, lr, weight_decay, run):
        return Lion(params, lr=lr, betas=(self.beta1, self.beta2),
                    weight_decay=weight_decay)
