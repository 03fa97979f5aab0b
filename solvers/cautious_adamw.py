from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training.method import Scale


class Solver(TrainingSolver):
    """Cautious AdamW (Liang et al. 2024, "Cautious optimizers: improving
    training with one line of code"), timm's implementation, which the
    authors' README points to (``AdamWLegacy(caution=True)``, what timm's
    optimizer factory builds for ``"cadamw"``): AdamW whose momentum is
    masked where it disagrees in sign with the gradient, the mask rescaled
    by 1 / max(mean(mask), 1e-3), as in the authors' ``c_adamw.py``.
    AdamW's defaults: betas (0.9, 0.999), eps 1e-8, decoupled decay.

    lr and decay from the recipe: the method is AdamW plus one line, run at
    AdamW's hyperparameters in the paper. Search space: AdamW's.
    """

    name = "cautious_adamw"
    parameters = {"beta1": [0.9], "beta2": [0.999], "eps": [1e-8],
                  "lr": [None], "weight_decay": [None]}
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]}}
    scale = Scale(source="Liang et al. 2024: AdamW's hyperparameters, one "
                  "line changed")

    def make_optimizer(self, params, lr, weight_decay, run):
        from timm.optim import AdamWLegacy  # slow import: only when used
        return AdamWLegacy(params, lr=lr, betas=(self.beta1, self.beta2),
                           eps=self.eps, weight_decay=weight_decay,
                           caution=True)
