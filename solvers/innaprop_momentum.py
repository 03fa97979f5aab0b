from innaprop import INNApropMomentum
from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    """INNAprop in momentum form (thesis eqs. 4.21-4.23), which the thesis
    shows to be unstable (Figure 4.10). Defaults: INNAprop's (alpha, beta,
    sigma) = (0.1, 0.9, 0.999); lr and weight decay (decoupled) from the
    recipe. Figure 4.10 used no weight decay:
    -s "innaprop_momentum[weight_decay=0]"."""

    name = "innaprop_momentum"
    parameters = {"alpha": [0.1], "beta": [0.9], "sigma": [0.999],
                  "eps": [1e-8], "lr": [None], "weight_decay": [None]}
    # Tuning studies' default (benchmark_utils/tuning).
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]},
                    "alpha": {"uniform": [0.1, 3.0]},
                    "beta": {"uniform": [0.5, 3.0]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        return INNApropMomentum(params, lr=lr, alpha=self.alpha,
                                beta=self.beta, sigma=self.sigma,
                                eps=self.eps, weight_decay=weight_decay)
