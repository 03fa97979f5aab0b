import torch

from benchmark_utils.optim import SophiaG
from benchmark_utils.solver import TrainingSolver

# The Sophia authors: "always use about 2x larger weight decay than what you
# would use for AdamW"; the lr of SophiaG is about AdamW's (GPT-2 small:
# both 6e-4).
WD_RATIO = 2


class Solver(TrainingSolver):
    """SophiaG (Liu et al. 2023) with the authors' betas (0.965, 0.99), rho
    0.04 and a Hessian refresh every k = 10 steps.

    lr=None takes the recipe's (AdamW's) lr; weight_decay=None twice the
    recipe's (decoupled). Each refresh, after every k-th optimizer step and
    inside the timed region, runs a forward pass on the step's last
    micro-batch, samples labels from the model's softmax, backpropagates the
    mean loss against them and updates the Hessian estimate (the recipe's
    gradient clipping applies, as in the authors' script). With gradient
    accumulation the authors refresh on the whole step's data; here only
    its last micro-batch is used. The fraction of unclipped coordinates is
    logged as ``win_rate`` (the authors advise 0.1-0.5; tune rho for it).
    """

    name = "sophia"
    parameters = {"beta1": [0.965], "beta2": [0.99], "rho": [0.04],
                  "hessian_interval": [10], "lr": [None],
                  "weight_decay": [None]}

    def make_optimizer(self, params, lr, weight_decay):
        if self.weight_decay is None:
            weight_decay *= WD_RATIO
            for group in params:
                group["weight_decay"] *= WD_RATIO
        return SophiaG(params, lr=lr, betas=(self.beta1, self.beta2),
                       rho=self.rho, weight_decay=weight_decay)

    def after_step(self, trainer, batch):
        if trainer.step % self.hessian_interval != 0:
            return
        with torch.autocast(trainer.device.type, dtype=trainer.autocast_dtype,
                            enabled=trainer.autocast_dtype is not None):
            loss = trainer.task.sampled_loss(trainer.forward_model, batch)
        loss.backward()
        if trainer.recipe.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(trainer.model.parameters(),
                                           trainer.recipe.grad_clip)
        # bs: the labels the loss averages over (examples, or tokens).
        trainer.optimizer.update_hessian(bs=batch[1].numel())
        trainer.optimizer.zero_grad(set_to_none=True)
