from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training.method import Scale


class Solver(TrainingSolver):
    """Prodigy (Mishchenko and Defazio 2024), pytorch-optimizer's
    implementation: Adam whose step size D is estimated on line. Defaults
    are the authors' (konstmish/prodigy README and ``prodigyopt``): lr 1.0
    (a multiplier of D, never the recipe's lr), d_coef 1.0, betas
    (0.9, 0.999), decoupled weight decay (AdamW's, the recipe's), no bias
    correction. The recipe's schedule multiplies lr, as the README advises
    (cosine annealing over the run). ``safeguard_warmup`` None turns it on
    exactly when the schedule warms up: the README advises it with a linear
    warmup, which would otherwise let D be overestimated.

    Search space: the README's advice, d_coef from 0.1 to 10 ("the
    preferred way to tune the method") and weight decay among 0, 1e-3,
    1e-2, 0.1 ("standard values to try"). Remaining deviation:
    pytorch-optimizer accumulates D's numerator and denominator in float32
    tensors where the authors sum Python floats (``prodigyopt`` 1.1.2): on
    float64 parameters the two stay within 6e-7 (relative) over 40 steps,
    and within 5e-11 with float64 accumulators.
    """

    name = "prodigy"
    parameters = {"beta1": [0.9], "beta2": [0.999], "d_coef": [1.0],
                  "safeguard_warmup": [None], "lr": [1.0],
                  "weight_decay": [None]}
    search_space = {"d_coef": {"log_uniform": [0.1, 10.0]},
                    "weight_decay": {"choice": [0.0, 1e-3, 1e-2, 0.1]}}
    scale = Scale(recipe_lr=False,
                  source="Mishchenko and Defazio (konstmish/prodigy README): "
                  "lr is a multiplier of the estimated step size, 1.0")

    def make_optimizer(self, params, lr, weight_decay, run):
        from pytorch_optimizer import Prodigy  # slow import: only when used
        safeguard = (run.warmup_steps > 0 if self.safeguard_warmup is None
                     else bool(self.safeguard_warmup))
        return Prodigy(params, lr=lr, betas=(self.beta1, self.beta2),
                       d_coef=self.d_coef, weight_decay=weight_decay,
                       weight_decouple=True, safeguard_warmup=safeguard)
