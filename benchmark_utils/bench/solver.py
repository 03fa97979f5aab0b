"""benchopt's solver: the base class of every solver plugin.

A solver plugin is a small file: its name, its parameters, its search
space, its scale rule and how it builds its optimizer.

    from innaprop import INNAprop
    from benchmark_utils.bench.solver import TrainingSolver

    class Solver(TrainingSolver):
        name = "innaprop"
        parameters = {"alpha": [0.1], "beta": [0.9], "lr": [None],
                      "weight_decay": [None]}

        def make_optimizer(self, params, lr, weight_decay, run):
            return INNAprop(params, lr=lr, alpha=self.alpha, beta=self.beta,
                            weight_decay=weight_decay)

``lr`` and ``weight_decay`` left to None take the dataset's recipe through
the solver's ``scale`` (training/method.py). An algorithm that needs hooks
(Sophia's extra pass, Schedule-Free's evaluation point) returns them from
``method``. The training loop is training/trainer.py's, replicated over
data-parallel processes by training/workers.py; the stopping rule is the
objective's; checkpoints and resume are bench/resume.py's.
"""
import sys
import time

from benchopt import BaseSolver

from benchmark_utils.bench.resume import RunCheckpoints, restart_clock
from benchmark_utils.training import (checks, identity, parallel, sharing,
                                      workers)
from benchmark_utils.training.method import Method, Scale
from benchmark_utils.training.progress import status_line

# A run longer than this prints where it stands at each evaluation.
PROGRESS_AFTER = 60.0


class TrainingSolver(BaseSolver):
    """Base class of the solver plugins: runs the shared training loop."""

    sampling_strategy = "callback"
    requirements = ["pip::torch"]

    # How lr and weight decay left to None follow the recipe's (AdamW's
    # tuned values), and where that rule comes from.
    scale = Scale()

    def make_optimizer(self, params, lr, weight_decay, run):
        """A torch.optim.Optimizer over ``params`` (parameter groups, with
        their own ``weight_decay`` where the recipe exempts biases and
        norms); ``run`` is a RunInfo (the model, its named parameters and
        the run's number of optimizer steps)."""
        raise NotImplementedError

    def method(self, lr, weight_decay):
        """What the trainer runs. Solvers whose algorithm needs hooks
        return them here (``Method``'s fields: after_step,
        evaluation_mode, bn_recalibration, schedule)."""
        return Method(self.make_optimizer, lr, weight_decay)

    def _get_state(self):
        # benchopt's result cache keys on the solver's parameters, its
        # file, and what this returns: the code the run executes (shared
        # code, the optimizers, datasets, objective), so that an edit of
        # any of it never serves the old code's results.
        return {"code": identity.code_version(type(self))}

    def __setstate__(self, state):
        pass   # recomputed where it is needed

    def check_parameters(self):
        """Raise on parameters outside the method's domain, before any
        training; the optimizer's constructor checks its own. Solvers with
        parameters of their own (Sophia's refresh interval) extend it."""
        for name in ("lr", "weight_decay"):
            checks.number(f"{self.name}'s {name}", getattr(self, name, None),
                          minimum=0, allow_none=True)

    def set_objective(self, task, seed):
        self.task, self.seed = task, seed
        self.check_parameters()
        lr, weight_decay = self.scale.resolve(
            task.recipe, getattr(self, "lr", None),
            getattr(self, "weight_decay", None), name=self.name)
        self.run_method = self.method(lr, weight_decay)
        # Build once here so that invalid hyperparameters fail before any
        # training, with the optimizer's own message.
        self._new_trainer()

    def _new_trainer(self):
        n_procs = parallel.requested_processes()
        if n_procs > 1:
            workers.spawn_workers(n_procs, self.task.device)
        self.trainer = workers.ReplicatedTrainer(self.task, self.run_method,
                                                 self.seed)

    def warm_up(self):
        # Untimed, once per solver: compile the model (and any compiled
        # optimizer kernels), autotune cuDNN, initialise CUDA, on a throwaway
        # trainer so that the measured run starts from the same fresh state.
        # On the CPU too: the first solver of a process otherwise pays the
        # lazy start of torch's kernels and thread pools in its timed region.
        start = time.perf_counter()
        workers.ReplicatedTrainer.warm_up(self.task, self.run_method,
                                          self.seed)
        self.warm_up_time = time.perf_counter() - start
        # Said on the CPU too when it is long (a kernel's first build).
        if self.task.device.type == "cuda" or self.task.recipe.compile \
                or self.warm_up_time >= 2.0:
            print(f"\n{self}: warm-up (compilation, autotuning, kernel "
                  f"builds) took "
                  f"{self.warm_up_time:.1f} s, outside the timed runs.",
                  file=sys.stderr, flush=True)

    def pre_run_hook(self, stop_val):
        # Untimed: each run starts from the same fresh model and optimizer.
        if self.trainer.step > 0:
            self._new_trainer()

    def run(self, callback):
        # Other runs on this device meanwhile distort the wall-clock times
        # (sharing.py); each evaluation records how many there were.
        self.share = sharing.DeviceShare(self.task.device)
        self.share.start()
        self.run_start = time.perf_counter()
        try:
            self._run(callback)
        finally:
            self.share.finish()

    def _run(self, callback):
        trainer = self.trainer
        with RunCheckpoints.open(self, callback) as checkpoints:
            # A crashed or interrupted run restarts from its last evaluation
            # (checkpointed in evaluation mode, as benchopt evaluated it).
            resumed = checkpoints.resume(trainer)
            if resumed and checkpoints.over_max_runs():
                return
            while resumed or callback():
                if not resumed:
                    checkpoints.save(trainer)
                resumed = False
                if trainer.finished:
                    break
                self._evaluation_mode(False)
                restart_clock(callback)
                trainer.train_stage()
            if trainer.diverged:
                print(f"\n{self} diverged at step {trainer.step} (non-finite "
                      "loss); its curve stops there.", file=sys.stderr,
                      flush=True)
            checkpoints.finish(trainer)

    def _evaluation_mode(self, on):
        """Into (or out of) the state the model is evaluated in, on every
        process; untimed (benchopt's clock stops in get_result)."""
        method = self.run_method
        if method.evaluation_mode is None and not method.bn_recalibration:
            return
        self.trainer.set_evaluation_mode(on)

    def get_result(self):
        # benchopt calls this, untimed, at every evaluation.
        self._evaluation_mode(True)
        progress = self.trainer.progress()
        share = getattr(self, "share", None)
        progress.device_runs = share.stage_runs() if share else 1
        self._say_where_it_stands()
        return dict(evaluate=self.trainer.evaluate, progress=progress)

    def _say_where_it_stands(self):
        """On a long run, at each evaluation: the epoch (or step) of the
        budget, the time per unit and the time left; benchopt's own
        percentage says nothing about hours."""
        start = getattr(self, "run_start", None)
        trainer = self.trainer
        if start is None or trainer.step == 0:
            return
        elapsed = time.perf_counter() - start
        if elapsed < PROGRESS_AFTER:
            return
        recipe = trainer.recipe
        unit, done, total = (("epoch", trainer.epoch, recipe.epochs)
                             if recipe.epochs is not None else
                             ("step", trainer.step, recipe.max_steps))
        line = status_line(self, unit, done, total, trainer.train_time,
                           elapsed)
        print(f"\n{line}", file=sys.stderr, flush=True)

    def get_next(self, stop_val):
        # Evaluate at every stage: once per eval_every epochs or steps.
        return stop_val + 1
