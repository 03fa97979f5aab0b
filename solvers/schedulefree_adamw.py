from schedulefree import AdamWScheduleFree

from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training.method import Method, Scale

# AlgoPerf's self-tuning Schedule-Free AdamW entry, by the authors
# (facebookresearch/schedule_free, schedulefree/algoperf/self_tuning/
# schedule_free_adamw/submission.py, HPARAMS): lr 2.5e-3, 1 - beta1 0.1,
# beta2 0.9955, weight decay 0.0812, r 0.75, weight_lr_power 2, warmup
# int(0.02 * step_hint * 0.75) steps. AlgoPerf's self-tuning NAdamW
# baseline, on the same workloads, takes lr 1.7486e-3 and the same decay:
# Schedule-Free's lr is 1.43x NAdamW's (within the README's "1x-10x larger
# than with schedule-based approaches").
LR_RATIO = 0.0025 / 0.0017486387539278373
WARMUP_FRACTION = 0.02 * 0.75


class Solver(TrainingSolver):
    """Schedule-Free AdamW (Defazio et al. 2024; the authors' schedulefree
    package), AlgoPerf's self-tuning winner, with that entry's settings:
    betas (0.9, 0.9955), r 0.75, weight_lr_power 2, eps 1e-8, its own
    linear warmup over 1.5% of the run's steps (2% x 0.75) and no
    learning-rate schedule (it averages its iterates instead).

    lr and decay left to None: 1.43x the recipe's (AdamW's) lr, the ratio
    of the entry's lr to AlgoPerf's NAdamW baseline's (inside the README's
    1-10x), and the recipe's decay (both entries use 0.081). Evaluations
    and checkpoints see the averaged weights (optimizer.eval()), training
    goes on from the training ones (optimizer.train()), and batch-norm
    statistics are recomputed at the evaluated point on ``bn_batches`` = 50
    training batches, as the README's example does (both outside the timed
    region).

    Search space: AlgoPerf's external-tuning points for this entry span lr
    5e-4 to 5e-3 (schedulefree/algoperf/external_tuning/
    schedule_free_adamw/tuning_search_space.json); beta1 0.9, 0.95 or 0.98
    (README: "increase to 0.95 or 0.98 for very long runs").
    """

    name = "schedulefree_adamw"
    parameters = {"beta1": [0.9], "beta2": [0.9955], "eps": [1e-8],
                  "r": [0.75], "weight_lr_power": [2.0],
                  "warmup_fraction": [WARMUP_FRACTION], "bn_batches": [50],
                  "lr": [None], "weight_decay": [None]}
    search_space = {"lr": {"log_uniform": [5e-4, 5e-3]},
                    "beta1": {"choice": [0.9, 0.95, 0.98]}}
    scale = Scale(lr=LR_RATIO,
                  source="AlgoPerf self-tuning entries: Schedule-Free AdamW "
                  "lr 2.5e-3 against NAdamW 1.75e-3, the same decay "
                  "(README: 1-10x a scheduled AdamW's lr)")

    def method(self, lr, weight_decay):
        # No schedule: the method averages its iterates instead.
        return Method(self.make_optimizer, lr, weight_decay,
                      evaluation_mode=self.evaluation_mode,
                      bn_recalibration=self.bn_batches, schedule=False)

    def make_optimizer(self, params, lr, weight_decay, run):
        optimizer = AdamWScheduleFree(
            params, lr=lr, betas=(self.beta1, self.beta2), eps=self.eps,
            weight_decay=weight_decay, r=self.r,
            weight_lr_power=self.weight_lr_power,
            warmup_steps=int(self.warmup_fraction * run.total_steps))
        optimizer.train()      # it starts in evaluation mode
        return optimizer

    def evaluation_mode(self, trainer, on):
        if on:
            trainer.optimizer.eval()
        else:
            trainer.optimizer.train()
