from pytorch_optimizer import Prodigy

from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training.method import Scale


class Solver(TrainingSolver):
    """Prodigy (Mishchenko and Defazio 2024), pytorch-optimizer's
    implementation: Adam whose step size D is estimated on line. Its lr is
    a multiplier of D, 1.0 by default, not the recipe's lr (which it never
    takes); the recipe's schedule multiplies it, as the authors advise
    (cosine). Decoupled weight decay from the recipe."""

    name = "prodigy"
    parameters = {"beta1": [0.9], "beta2": [0.999], "d_coef": [1.0],
                  "lr": [1.0], "weight_decay": [None]}
    search_space = {"d_coef": {"log_uniform": [0.3, 3.0]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]}}
    scale = Scale(recipe_lr=False,
                  source="Mishchenko and Defazio: lr is a multiplier of the "
                  "estimated step size, 1.0 by default")

    def make_optimizer(self, params, lr, weight_decay, run):
        return Prodigy(params, lr=lr, betas=(self.beta1, self.beta2),
                       d_coef=self.d_coef, weight_decay=weight_decay,
                       weight_decouple=True)
