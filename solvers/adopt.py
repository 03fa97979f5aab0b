from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training.method import Scale


class Solver(TrainingSolver):
    """ADOPT (Taniguchi et al. 2024) as its authors' code steps
    (iShohei220/adopt): pytorch-optimizer's implementation on the authors'
    clipping schedule, step**0.25 counted from 0
    (benchmark_utils/optimizers/adopt.py). The second moment of the
    previous step normalizes the gradient before the momentum. Defaults are
    the authors': betas (0.9, 0.9999), eps 1e-6, and decoupled weight decay
    where AdamW is the baseline (their README: ``decouple=True``).

    lr and decay from the recipe: the authors' README swaps ADOPT in for
    Adam/AdamW at the same lr. Search space: AdamW's (no published range).
    """

    name = "adopt"
    parameters = {"beta1": [0.9], "beta2": [0.9999], "eps": [1e-6],
                  "lr": [None], "weight_decay": [None]}
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]}}
    scale = Scale(source="iShohei220/adopt README: replace Adam(W) by ADOPT "
                  "at the same lr, decouple=True for AdamW")

    def make_optimizer(self, params, lr, weight_decay, run):
        # pytorch-optimizer's import is slow: only when ADOPT runs.
        from benchmark_utils.optimizers.adopt import ADOPT
        return ADOPT(params, lr=lr, betas=(self.beta1, self.beta2),
                     eps=self.eps, weight_decay=weight_decay,
                     weight_decouple=True)
