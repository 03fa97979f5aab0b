from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    """SOAP (Vyas et al. 2024, "Shampoo with Adam in the preconditioner's
    eigenbasis"), pytorch-optimizer's implementation: betas (0.95, 0.95),
    eigenbases refreshed every ``precondition_frequency`` = 10 steps,
    dimensions above 10,000 left unpreconditioned, decoupled weight decay.
    lr and weight decay from the recipe (the authors tune SOAP on AdamW's
    lr grid)."""

    name = "soap"
    parameters = {"beta1": [0.95], "beta2": [0.95],
                  "precondition_frequency": [10], "lr": [None],
                  "weight_decay": [None]}
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        from pytorch_optimizer import SOAP  # slow import: only when used
        return SOAP(params, lr=lr, betas=(self.beta1, self.beta2),
                    weight_decay=weight_decay,
                    precondition_frequency=self.precondition_frequency)
