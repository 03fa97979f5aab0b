import torch

from innaprop import MARS
from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.optimizers.combined import CombinedOptimizer
from benchmark_utils.training.method import Scale

# The authors' GPT-2 settings (AGI-Arena/MARS, README's table and
# config/train_gpt2_*_mars.py): MARS's lr is 10x AdamW's (small: 6e-3
# against 6e-4) and its weight decay a tenth (0.01 against 0.1), the same
# decay per step. The tensors they leave to AdamW (``optimize_1d=False``)
# take half MARS's lr (lr_1d 3e-3 against 6e-3, in every size), betas
# (0.9, 0.95) and AdamW's decay (weight_decay_1d 0.1, ten times MARS's).
LR_RATIO = 10.0
LR_1D_RATIO = 0.5
BETAS_1D = (0.9, 0.95)


class Solver(TrainingSolver):
    """MARS-AdamW (Yuan et al. 2024) as its authors run it: the MARS update
    (innaprop.MARS, the authors' rule: betas (0.95, 0.99), gamma 0.025,
    eps 1e-8, decoupled decay) on the 2-D weight matrices, and AdamW on
    every other tensor (biases, norms, conv filters: the authors' code sends
    only tensors of exactly two dimensions to MARS) with half MARS's lr,
    betas (0.9, 0.95) and ten times its decay.

    lr and decay left to None: 10x the recipe's lr and a tenth of its decay
    (the authors' GPT-2 settings against their AdamW baseline); the AdamW
    part thus takes 5x the recipe's lr and its decay. Remaining deviation:
    the recipe's undecayed groups (biases, norms, embeddings where it
    exempts them) stay undecayed; the authors decay every tensor of the
    AdamW part by 0.1. Search space: the authors' lr grid for their vision
    runs, 1e-5 to 1e-1 (README), and this benchmark's decay range."""

    name = "mars"
    parameters = {"beta1": [0.95], "beta2": [0.99], "gamma": [0.025],
                  "lr": [None], "weight_decay": [None]}
    search_space = {"lr": {"log_uniform": [1e-5, 1e-1]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]}}
    scale = Scale(lr=LR_RATIO, weight_decay=1 / LR_RATIO,
                  source="AGI-Arena/MARS README, GPT-2 table: lr 6e-3 and "
                  "decay 0.01 against AdamW's 6e-4 and 0.1")

    def make_optimizer(self, params, lr, weight_decay, run):
        matrices = [dict(g, params=[p for p in g["params"] if p.ndim == 2])
                    for g in params]
        others = [dict(g, params=[p for p in g["params"] if p.ndim != 2],
                       weight_decay=g["weight_decay"] * LR_RATIO)
                  for g in params]
        parts = []
        matrices = [g for g in matrices if g["params"]]
        others = [g for g in others if g["params"]]
        if matrices:
            parts.append(MARS(matrices, lr=lr, betas=(self.beta1, self.beta2),
                              gamma=self.gamma, weight_decay=weight_decay))
        if others:
            parts.append(torch.optim.AdamW(others, lr=lr * LR_1D_RATIO,
                                           betas=BETAS_1D))
        return CombinedOptimizer(*parts)
