from pytorch_optimizer import Prodigy

from benchmark_utils.training.solver import TrainingSolver


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
    uses_recipe_lr = False

    def make_optimizer(self, params, lr, weight_decay):
        return Prodigy(params, lr=lr, betas=(self.beta1, self.beta2),
                       d_coef=self.d_coef, weight_decay=weight_decay,
                       weight_decouple=True)
