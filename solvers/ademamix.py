from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    """AdEMAMix (Pagliardini et al. 2024), pytorch-optimizer's
    implementation: AdamW plus a slow momentum (beta3 = 0.9999) weighted by
    alpha = 5. Its warm-ups of alpha and beta3 last the whole run
    (t_alpha_beta3 = the run's optimizer steps), as the paper sets them.
    Decoupled weight decay; lr and weight decay from the recipe."""

    name = "ademamix"
    parameters = {"beta1": [0.9], "beta2": [0.999], "beta3": [0.9999],
                  "alpha": [5.0], "lr": [None], "weight_decay": [None]}
    search_space = {"lr": {"log_uniform": [1e-4, 1e-2]},
                    "weight_decay": {"log_uniform": [1e-4, 1e-1]},
                    "alpha": {"uniform": [2.0, 10.0]}}

    def make_optimizer(self, params, lr, weight_decay, run):
        from pytorch_optimizer import AdEMAMix  # slow import: only when used
        return AdEMAMix(params, lr=lr,
                        betas=(self.beta1, self.beta2, self.beta3),
                        alpha=self.alpha, t_alpha_beta3=run.total_steps,
                        weight_decay=weight_decay, weight_decouple=True)
