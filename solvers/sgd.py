import torch

from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training.method import Scale

# SGD steps on its own scale, not on AdamW's (the recipe's).
LR_RATIO = 100


class Solver(TrainingSolver):
    """torch.optim.SGD with momentum 0.9 (Nesterov optional), the usual
    setting for CIFAR ResNets.

    The recipe's lr and weight decay are AdamW's. lr=None takes 100x the
    recipe's lr (AdamW's 1e-3 becomes 0.1); weight_decay=None takes the
    recipe's divided by 100, so that lr x weight_decay is the recipe's. The
    decay is torch's L2 penalty added to the gradient, which momentum then
    amplifies up to 1 / (1 - momentum). Values set here are used as is:
    -s "sgd[lr=0.05,weight_decay=5e-4,nesterov=True]".
    """

    name = "sgd"
    parameters = {"momentum": [0.9], "nesterov": [False], "lr": [None],
                  "weight_decay": [None]}
    # Tuning studies' default (benchmark_utils/tuning).
    search_space = {"lr": {"log_uniform": [1e-3, 1.0]},
                    "weight_decay": {"log_uniform": [1e-6, 1e-3]}}
    scale = Scale(lr=LR_RATIO, weight_decay=1 / LR_RATIO,
                  source="SGD's usual lr 0.1 for CIFAR ResNets against "
                  "AdamW's 1e-3; decay per step lr x weight_decay kept")

    def make_optimizer(self, params, lr, weight_decay, run):
        return torch.optim.SGD(params, lr=lr, momentum=self.momentum,
                               nesterov=self.nesterov,
                               weight_decay=weight_decay)
