from innaprop import SophiaG
from benchmark_utils.training import checks
from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training.method import Method, Scale

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
    scale = Scale(weight_decay=WD_RATIO,
                  source="Liu et al.'s README (Liuhong99/Sophia): lr about "
                  "AdamW's, weight decay about 2x")

    def check_parameters(self):
        super().check_parameters()
        checks.positive_int("sophia's hessian_interval", self.hessian_interval)

    def make_optimizer(self, params, lr, weight_decay, run):
        return SophiaG(params, lr=lr, betas=(self.beta1, self.beta2),
                       rho=self.rho, weight_decay=weight_decay)

    def method(self, lr, weight_decay):
        return Method(self.make_optimizer, lr, weight_decay,
                      after_step=self.refresh_hessian)

    def refresh_hessian(self, trainer, batches):
        if trainer.step % self.hessian_interval != 0:
            return
        # The step's whole batch, as the authors' script: the mean sampled
        # loss over its micro-batches; bs counts its labels (examples, or
        # tokens) in every process.
        bs = trainer.backward_sampled(batches)
        trainer.optimizer.update_hessian(bs=bs)
        trainer.optimizer.zero_grad(set_to_none=True)
