"""benchopt glue: the base class of every solver plugin and the stopping rule.

A solver plugin is a small file:

    from benchmark_utils.solver import TrainingSolver
    from benchmark_utils.optim import INNAprop

    class Solver(TrainingSolver):
        name = "innaprop"
        parameters = {"alpha": [0.1], "beta": [0.9], "lr": [None],
                      "weight_decay": [None]}

        def make_optimizer(self, params, lr, weight_decay):
            return INNAprop(params, lr=lr, alpha=self.alpha, beta=self.beta,
                            weight_decay=weight_decay)

``lr`` and ``weight_decay`` left to None take the dataset's recipe.
"""
import sys
import time

from benchopt import BaseSolver
from benchopt.stopping_criterion import StoppingCriterion

from benchmark_utils.trainer import Trainer


class TrainingBudgetCriterion(StoppingCriterion):
    """Stop when the recipe's budget is spent, never on slow progress.

    benchopt's default criterion stops a run whose value stalls for three
    evaluations, and it drops the whole curve of a run it marks diverged.
    Here the training loop itself stops at its budget or on a non-finite
    loss (reported in the ``diverged`` column, curve kept). benchopt's own
    --timeout and --max-runs still apply; when they cut a run before its
    budget, this says so loudly.
    """

    def __init__(self, strategy="callback", key_to_monitor=None,
                 minimize=True):
        super().__init__(strategy=strategy, key_to_monitor=None,
                         minimize=minimize)

    def check_convergence(self, objective_list):
        done = objective_list[-1].get("objective_budget_done", 0.0)
        return False, min(1.0, float(done))

    def should_stop(self, stop_val, objective_list):
        stop, status, next_val = super().should_stop(stop_val, objective_list)
        done = objective_list[-1].get("objective_budget_done", 1.0)
        if stop and status in ("timeout", "max_runs") and done < 1:
            flag = "--timeout" if status == "timeout" else "--max-runs"
            print(f"\nWARNING: benchopt's {flag} stopped {self.solver} at "
                  f"{100 * done:.1f}% of its training budget. Use "
                  "--no-timeout and a larger --max-runs (the run configs in "
                  "configs/ set both) to train to the end.",
                  file=sys.stderr, flush=True)
        return stop, status, next_val


class TrainingSolver(BaseSolver):
    """Base class of the solver plugins: runs the shared training loop."""

    sampling_strategy = "callback"
    stopping_criterion = TrainingBudgetCriterion()
    requirements = ["pip::torch"]

    # Solvers whose algorithm needs extra passes (Sophia) override this with
    # a method (trainer, batch) -> None, run after every optimizer step.
    after_step = None

    def make_optimizer(self, params, lr, weight_decay):
        """Return a torch.optim.Optimizer over ``params`` (param groups)."""
        raise NotImplementedError

    def set_objective(self, task, seed):
        self.task, self.seed = task, seed
        recipe = task.recipe
        lr = getattr(self, "lr", None)
        wd = getattr(self, "weight_decay", None)
        self.run_lr = recipe.lr if lr is None else float(lr)
        self.run_weight_decay = (recipe.weight_decay if wd is None
                                 else float(wd))
        # Build once here so that invalid hyperparameters fail before any
        # training, with the optimizer's own message.
        self._new_trainer()

    def _new_trainer(self):
        self.trainer = Trainer(self.task, self.make_optimizer, self.seed,
                               self.run_lr, self.run_weight_decay,
                               after_step=self.after_step)

    def warm_up(self):
        # Untimed, once per solver: compile the model (and any compiled
        # optimizer kernels), autotune cuDNN, initialise CUDA, on a throwaway
        # trainer so that the measured run starts from the same fresh state.
        if self.task.device.type == "cuda" or self.task.recipe.compile:
            start = time.perf_counter()
            Trainer(self.task, self.make_optimizer, self.seed, self.run_lr,
                    self.run_weight_decay, after_step=self.after_step
                    ).warm_up()
            self.warm_up_time = time.perf_counter() - start
            print(f"\n{self}: warm-up (compilation, autotuning) took "
                  f"{self.warm_up_time:.1f} s, outside the timed runs.",
                  file=sys.stderr, flush=True)

    def pre_run_hook(self, stop_val):
        # Untimed: each run starts from the same fresh model and optimizer.
        if self.trainer.step > 0:
            self._new_trainer()

    def run(self, callback):
        trainer = self.trainer
        while callback():
            if trainer.finished:
                break
            trainer.train_stage()
        if trainer.diverged:
            print(f"\n{self} diverged at step {trainer.step} (non-finite "
                  "loss); its curve stops there.", file=sys.stderr,
                  flush=True)

    def get_result(self):
        return dict(model=self.trainer.model,
                    progress=self.trainer.progress())

    def get_next(self, stop_val):
        # Evaluate at every stage: once per eval_every epochs or steps.
        return stop_val + 1
