from functools import partial

from benchopt import BaseObjective

from benchmark_utils.bench import runner
from benchmark_utils.bench.dataset import MISSING
from benchmark_utils.bench.stopping import TrainingBudgetCriterion
from benchmark_utils.reporting import provenance
from benchmark_utils.training import checks, parallel
from benchmark_utils.training.progress import Progress

# benchopt's main process imports this file before it runs anything: the
# user's command is recorded there for its workers to inherit, and a run
# keeps what finished when a later one fails or is interrupted.
provenance.record_command_line()
runner.install()


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
    # Every solver inherits it: stop at the recipe's budget, never on slow
    # progress.
    stopping_criterion = TrainingBudgetCriterion()

    def skip(self, task=None, **data):
        # A dataset whose files are absent (bench/dataset.py): skipped, with
        # what is missing and how to provide it.
        if MISSING in data:
            return True, data[MISSING]
        return False, None

    def set_data(self, task):
        checks.one_of("train_metrics", self.train_metrics, ("running", "full"))
        self.task = task.to(parallel.local_device(parallel.default_device()))

    def get_objective(self):
        # Same seed for every solver of a repetition: same initial weights,
        # same batches. Repetitions differ.
        seed = self.get_seed(use_dataset=True, use_repetition=True)
        return dict(task=self.task, seed=seed)

    def evaluate_result(self, evaluate, progress):
        # ``evaluate(running)``: the solver's trainer's metrics (in
        # data-parallel runs, every process evaluates its share).
        running = progress.running if self.train_metrics == "running" \
            else None
        metrics = evaluate(running)
        # Examples seen and training throughput, in the task's unit
        # ("samples", or "tokens" for language models), the optimizer's
        # own diagnostics (SophiaG: win_rate).
        metrics.update(progress.columns(self.task.sample_unit))
        # How the result was made, in every row of the results file.
        metrics.update(provenance.collect(self.task.device,
                                          parallel.world_size(),
                                          self.task.recipe))
        return metrics

    def get_one_result(self):
        model = self.task.build_model().to(self.task.device)
        return dict(evaluate=partial(self.task.evaluate, model),
                    progress=Progress(lr=self.task.recipe.lr))
