from benchopt import BaseObjective

from benchmark_utils import distributed
from benchmark_utils.solver import TrainingBudgetCriterion
from benchmark_utils.trainer import default_device


class Objective(BaseObjective):
    """Train a network under its dataset's recipe; judge it the same way for
    every solver.

    ``value`` is the training loss (language models: the validation loss).
    With ``train_metrics="running"`` the training metrics are the averages
    over the batches of the last stage, as the thesis's curves report them
    (the first point, before any step, is a full pass); ``"full"`` re-runs
    the whole training set in eval mode at every evaluation.
    """

    name = "INNAprop benchmark"
    min_benchopt_version = "1.10"
    requirements = ["pip::torch", "pip::torchvision", "pip::scikit-learn"]

    parameters = {"train_metrics": ["running"]}

    sampling_strategy = "callback"
    stopping_criterion = TrainingBudgetCriterion()

    def set_data(self, task):
        self.task = task.to(distributed.local_device(default_device()))

    def get_objective(self):
        # Same seed for every solver of a repetition: same initial weights,
        # same batches. Repetitions differ.
        seed = self.get_seed(use_dataset=True, use_repetition=True)
        return dict(task=self.task, seed=seed)

    def evaluate_result(self, model, progress):
        running = progress["running"] if self.train_metrics == "running" \
            else None
        # Data-parallel runs: every process evaluates its share.
        distributed.command("evaluate", running)
        metrics = self.task.evaluate(model, running)
        metrics.update(step=progress["step"], epoch=progress["epoch"],
                       lr=progress["lr"],
                       diverged=int(progress["diverged"]),
                       budget_done=progress["budget_done"])
        # Examples seen and training throughput, in the task's unit
        # ("samples", or "tokens" for language models).
        unit = getattr(self.task, "sample_unit", "samples")
        seen, train_time = progress["seen"], progress["train_time"]
        metrics[unit] = seen
        metrics[f"{unit}_per_second"] = seen / train_time if train_time \
            else 0.0
        # The optimizer's own diagnostics (SophiaG: win_rate).
        metrics.update(progress.get("optimizer_metrics", {}))
        return metrics

    def get_one_result(self):
        model = self.task.build_model().to(self.task.device)
        return dict(model=model, progress=dict(
            step=0, epoch=0.0, lr=self.task.recipe.lr, diverged=False,
            budget_done=0.0, seen=0, train_time=0.0, running={}))
