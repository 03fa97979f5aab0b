import torch

from innaprop import SophiaG
from benchmark_utils.training import checks
from benchmark_utils.training.solver import TrainingSolver

# The Sophia authors: "always use about 2x larger weight decay than what you
# would use for AdamW"; the lr of SophiaG is about AdamW's (GPT-2 small:
# both 6e-4).
WD_RATIO = 2


class Solver(TrainingSolver):
    """SophiaG (Liu et al. 2023) with the authors' betas (0.965, 0.99), rho
    0.04 and a Hessian refresh every k = 10 steps.

    lr=None takes the recipe's (AdamW's) lr; weight_decay=None twice the
    recipe's (decoupled). Each refresh, after every k-th optimizer step and
    inside the timed region, runs a forward pass on the step's batch (all
    its micro-batches, as the authors' script), samples labels from the
    model's softmax, backpropagates the mean loss against them and updates
    the Hessian estimate (the recipe's gradient clipping applies, as in the
    authors' script). The fraction of unclipped coordinates is
    logged as ``win_rate`` (the authors advise 0.1-0.5; tune rho for it).
    """

    name = "sophia"
    parameters = {"beta1": [0.965], "beta2": [0.99], "rho": [0.04],
                  "hessian_interval": [10], "lr": [None],
                  "weight_decay": [None]}
    # Tuning studies' default (benchmark_utils/tuning).
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 2e-1]},
                    "rho": {"log_uniform": [0.01, 0.1]}}
    weight_decay_scale = WD_RATIO

    def check_parameters(self):
        super().check_parameters()
        checks.positive_int("sophia's hessian_interval", self.hessian_interval)

    def make_optimizer(self, params, lr, weight_decay):
        return SophiaG(params, lr=lr, betas=(self.beta1, self.beta2),
                       rho=self.rho, weight_decay=weight_decay)

    def after_step(self, trainer, batches):
        if trainer.step % self.hessian_interval != 0:
            return
        # The step's whole batch, as the authors' script: the mean sampled
        # loss over its micro-batches (DDP: gradients reduced once, with
        # the last one).
        n = len(batches)
        for i, batch in enumerate(batches):
            with trainer.gradient_sync(last=i == n - 1):
                with trainer.autocast():
                    loss = trainer.task.sampled_loss(trainer.forward_model,
                                                     batch)
                (loss / n).backward()
        if trainer.recipe.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(trainer.model.parameters(),
                                           trainer.recipe.grad_clip)
        # bs: the labels the loss averages over (examples, or tokens), in
        # every process.
        bs = sum(batch[1].numel() for batch in batches)
        if trainer.shard is not None:
            bs *= trainer.shard[1]
        trainer.optimizer.update_hessian(bs=bs)
        trainer.optimizer.zero_grad(set_to_none=True)
