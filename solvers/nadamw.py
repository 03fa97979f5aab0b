from innaprop import NAdamW
from benchmark_utils.bench.solver import TrainingSolver
from benchmark_utils.training import checks
from benchmark_utils.training.method import Method, Scale

# AlgoPerf (mlcommons/algorithmic-efficiency). Its self-tuning baseline
# (algorithms/baselines/self_tuning/pytorch_nadamw_full_budget.py, HPARAMS)
# is the one point it runs untuned on every workload:
ONE_MINUS_BETA1 = 0.06733926164
BETA2 = 0.9955159689799007
# Its search space (algorithms/archived_paper_baselines/nadamw/
# tuning_search_space.json): lr and 1 - beta1 and weight decay log-uniform;
# beta2 and warmup take the points of its external-tuning baseline
# (algorithms/baselines/external_tuning/tuning_search_space.json: beta2
# 0.998-0.9955, warmup_factor 0.02, 0.05, 0.1) and the archived space's
# beta2 0.999.
SEARCH_SPACE = {"lr": {"log_uniform": [1e-4, 1e-2]},
                "one_minus_beta1": {"log_uniform": [4e-3, 0.1]},
                "beta2": {"choice": [0.999, 0.9955]},
                "weight_decay": {"log_uniform": [5e-3, 1.0]},
                "warmup_fraction": {"choice": [0.02, 0.05, 0.1]}}


class Solver(TrainingSolver):
    """NAdamW as AlgoPerf's baseline runs it (innaprop.NAdamW, written from
    its update rule: Adam with Nesterov's look-ahead at a constant beta1,
    decoupled decay multiplied by the lr). torch.optim.NAdam is another
    method (Dozat's momentum schedule); ``nadam`` runs that one.

    Defaults: 1 - beta1 = 0.0673 and beta2 = 0.9955, AlgoPerf's self-tuning
    baseline point; eps 1e-8, its class default. lr and decay from the
    recipe (AdamW's): AlgoPerf decays NAdamW as AdamW and searches the same
    lr range for both. The schedule is the recipe's, as for every solver;
    ``warmup_fraction`` replaces the recipe's warmup by that share of the
    schedule (AlgoPerf's ``warmup_factor``, searched in its tuning; its
    self-tuning point is 0.02). The search space is AlgoPerf's (above).
    """

    name = "nadamw"
    parameters = {"one_minus_beta1": [ONE_MINUS_BETA1], "beta2": [BETA2],
                  "eps": [1e-8], "warmup_fraction": [None], "lr": [None],
                  "weight_decay": [None]}
    search_space = SEARCH_SPACE
    scale = Scale(source="AlgoPerf: NAdamW decays as AdamW (p *= 1 - lr wd) "
                  "and its baselines search the same lr range "
                  "(archived_paper_baselines/{adamw,nadamw})")

    def check_parameters(self):
        super().check_parameters()
        checks.number("nadamw's one_minus_beta1", self.one_minus_beta1,
                      minimum=0, strict=True)
        checks.number("nadamw's warmup_fraction", self.warmup_fraction,
                      minimum=0, allow_none=True)
        if self.one_minus_beta1 > 1 or (self.warmup_fraction or 0) >= 1:
            raise ValueError(
                "nadamw needs 0 < one_minus_beta1 <= 1 and warmup_fraction "
                f"< 1; got one_minus_beta1={self.one_minus_beta1!r}, "
                f"warmup_fraction={self.warmup_fraction!r}.")

    def method(self, lr, weight_decay):
        return Method(self.make_optimizer, lr, weight_decay,
                      warmup_fraction=self.warmup_fraction)

    def make_optimizer(self, params, lr, weight_decay, run):
        return NAdamW(params, lr=lr,
                      betas=(1 - self.one_minus_beta1, self.beta2),
                      eps=self.eps, weight_decay=weight_decay)
