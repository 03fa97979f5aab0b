from innaprop import INNAprop
from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    """INNAprop (thesis Algorithm 3). (alpha, beta) = (0.1, 0.9) is the
    thesis's fast setting; select its other one with
    -s "innaprop[alpha=2.0,beta=2.0]". lr and weight decay from the recipe.
    fused=True runs the fused step (a Triton kernel on CUDA, compiled during
    the untimed warm-up; a C++ kernel on the CPU, built or loaded during
    the warm-up); fused=False never does; the default (None) is the
    optimizer's: the foreach path on CUDA, as torch's AdamW, and the fused
    C++ step on the CPU for models of 2**20 parameters or more."""

    name = "innaprop"
    parameters = {"alpha": [0.1], "beta": [0.9], "sigma": [0.999],
                  "eps": [1e-8], "lr": [None], "weight_decay": [None],
                  "fused": [None]}
    # Tuning studies' default (benchmark_utils/tuning).
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]},
                    "alpha": {"uniform": [0.1, 3.0]},
                    "beta": {"uniform": [0.5, 3.0]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        return INNAprop(params, lr=lr, alpha=self.alpha, beta=self.beta,
                        sigma=self.sigma, eps=self.eps,
                        weight_decay=weight_decay, fused=self.fused)
