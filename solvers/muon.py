import torch

from benchmark_utils.optimizers.combined import CombinedOptimizer
from benchmark_utils.optimizers.muon import (Muon, hidden_matrices,
                                             stacked_rows)
from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training.method import Scale


class Solver(TrainingSolver):
    """Muon (Jordan et al. 2024) on the hidden weight matrices, AdamW on the
    rest (embeddings, first layer, head, biases and norms), as KellerJordan/
    Muon advises. Muon is torch.optim.Muon (momentum 0.95, Nesterov, 5
    Newton-Schulz steps), conv filters viewed as matrices
    (benchmark_utils/optimizers/muon.py).

    The lr and decay split is Moonlight's (Liu et al. 2025, "Muon is
    scalable"): with adjust_lr_fn="match_rms_adamw" Muon's update has
    AdamW's RMS, so both parts take the recipe's (AdamW's) lr and weight
    decay; ``muon_lr_ratio`` scales Muon's. ``adjust_lr_fn="original"``
    is Keller Jordan's scaling, for which lr about 0.02 is his default.
    """

    name = "muon"
    parameters = {"momentum": [0.95], "ns_steps": [5],
                  "adjust_lr_fn": ["match_rms_adamw"], "muon_lr_ratio": [1.0],
                  "beta1": [0.9], "beta2": [0.999], "lr": [None],
                  "weight_decay": [None]}
    # AdamW's space (Moonlight matches AdamW's update RMS), and Muon's lr
    # relative to it.
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]},
                    "muon_lr_ratio": {"log_uniform": [0.3, 3.0]}}
    scale = Scale(source="Liu et al. 2025 (Moonlight): match_rms_adamw gives "
                  "Muon's update AdamW's RMS, so both parts take AdamW's lr "
                  "and weight decay")

    def make_optimizer(self, params, lr, weight_decay, run):
        hidden = {id(p) for p in hidden_matrices(run.model)}
        muon = [p for g in params for p in g["params"] if id(p) in hidden]
        rest = [dict(g, params=[p for p in g["params"] if id(p) not in hidden])
                for g in params]
        rest = [g for g in rest if g["params"]]
        parts = []
        if muon:
            parts.append(Muon(muon, lr=lr * self.muon_lr_ratio,
                              weight_decay=weight_decay,
                              momentum=self.momentum, ns_steps=self.ns_steps,
                              adjust_lr_fn=self.adjust_lr_fn,
                              row_blocks=stacked_rows(run.model)))
        if rest:
            parts.append(torch.optim.AdamW(rest, lr=lr,
                                           betas=(self.beta1, self.beta2),
                                           weight_decay=weight_decay))
        return CombinedOptimizer(*parts)
