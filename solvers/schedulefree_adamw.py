from schedulefree import AdamWScheduleFree

from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training.method import Method


class Solver(TrainingSolver):
    """Schedule-Free AdamW (Defazio et al. 2024; the authors' schedulefree
    package), AlgoPerf's self-tuning winner. No learning-rate schedule: the
    method averages its iterates instead, after its own linear warmup
    (``warmup_fraction`` of the run's steps, 5% by default). Evaluations and
    checkpoints see the averaged weights (optimizer.eval()), training goes
    on from the training ones (optimizer.train()), and batch-norm
    statistics are recomputed at the evaluated point on ``bn_batches``
    training batches, as its README requires (both outside the timed
    region). lr and weight decay from the recipe."""

    name = "schedulefree_adamw"
    parameters = {"beta1": [0.9], "beta2": [0.999], "eps": [1e-8],
                  "warmup_fraction": [0.05], "bn_batches": [10],
                  "lr": [None], "weight_decay": [None]}
    search_space = {"lr": {"log_uniform": [1e-4, 3e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]},
                    "beta1": {"choice": [0.9, 0.95]}}

    def method(self, lr, weight_decay):
        # No schedule: the method averages its iterates instead.
        return Method(self.make_optimizer, lr, weight_decay,
                      evaluation_mode=self.evaluation_mode,
                      bn_recalibration=self.bn_batches, schedule=False)

    def make_optimizer(self, params, lr, weight_decay, run):
        optimizer = AdamWScheduleFree(
            params, lr=lr, betas=(self.beta1, self.beta2), eps=self.eps,
            weight_decay=weight_decay,
            warmup_steps=int(self.warmup_fraction * run.total_steps))
        optimizer.train()      # it starts in evaluation mode
        return optimizer

    def evaluation_mode(self, trainer, on):
        if on:
            trainer.optimizer.eval()
        else:
            trainer.optimizer.train()
