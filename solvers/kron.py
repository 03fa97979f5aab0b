from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training.method import Scale

# kron-torch's README ("Basic hyperparameters"): "start with a learning rate
# around 3x smaller than adam's, and a weight decay 3-10x larger". The low
# end, so that lr x decay stays the recipe's (as lion).
LR_RATIO = 1 / 3


class Solver(TrainingSolver):
    """PSGD Kron (Xi-Lin Li's preconditioned SGD with Kronecker-factored
    preconditioners), pytorch-optimizer's implementation
    (benchmark_utils/optimizers/kron.py). Defaults are those of kron-torch,
    its reference implementation: momentum 0.9, preconditioner updates
    with probability 1 for 500 steps then annealed to 0.03, preconditioner
    lr 0.1 and initial scale 1, triangular factors up to dimension 8192,
    diagonal ones for 1-D tensors, decoupled decay on tensors of two or
    more dimensions only.

    lr and decay left to None: a third of the recipe's lr and 3x its decay
    (kron-torch README). Search space: AdamW's scaled by that rule.
    Remaining deviations from kron-torch 0.3.3 (float64, 30 steps: about
    1e-5 apart, relative): pytorch-optimizer fits the preconditioner
    without kron-torch's small damping noise on the momentum (sqrt of
    float32's eps times its mean magnitude), bounds the spectral norm in its
    own way, clips the update RMS at 1.1 with 1e-6 instead of 1e-12 in the
    denominator, and keeps conv filters as 4-D tensors where kron-torch
    first merges their dimensions into a matrix.
    """

    name = "kron"
    parameters = {"momentum": [0.9], "lr": [None], "weight_decay": [None]}
    search_space = {"lr": {"log_uniform": [3e-5, 3e-3]},
                    "weight_decay": {"log_uniform": [3e-4, 3e-1]}}
    scale = Scale(lr=LR_RATIO, weight_decay=1 / LR_RATIO,
                  source="kron-torch README: lr about 3x smaller than "
                  "Adam's, weight decay 3-10x larger")

    def make_optimizer(self, params, lr, weight_decay, run):
        # pytorch-optimizer's import is slow: only when Kron runs.
        from benchmark_utils.optimizers.kron import Kron
        return Kron(params, lr=lr, momentum=self.momentum,
                    weight_decay=weight_decay, weight_decouple=True)
