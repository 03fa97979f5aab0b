"""benchopt glue: the base class of every solver plugin.

A solver plugin is a small file:

    from innaprop import INNAprop
    from benchmark_utils.training.solver import TrainingSolver

    class Solver(TrainingSolver):
        name = "innaprop"
        parameters = {"alpha": [0.1], "beta": [0.9], "lr": [None],
                      "weight_decay": [None]}

        def make_optimizer(self, params, lr, weight_decay):
            return INNAprop(params, lr=lr, alpha=self.alpha, beta=self.beta,
                            weight_decay=weight_decay)

``lr`` and ``weight_decay`` left to None take the dataset's recipe. The
stopping rule (the recipe's budget) is the objective's; checkpoints and
resume are resume.py's.
"""
import sys
import time

from benchopt import BaseSolver

from benchmark_utils.training import checks, parallel, sharing, workers
from benchmark_utils.training.resume import RunCheckpoints, restart_clock
from benchmark_utils.training.trainer import Trainer, param_groups


class TrainingSolver(BaseSolver):
    """Base class of the solver plugins: runs the shared training loop."""

    sampling_strategy = "callback"
    requirements = ["pip::torch"]

    # Where an algorithm steps on another scale than AdamW (whose tuned
    # values the recipe holds), the factors applied to the recipe's lr and
    # weight decay when the solver's own are left to None.
    lr_scale = 1.0
    weight_decay_scale = 1.0

    # Solvers whose algorithm needs extra passes (Sophia) override this with
    # a method (trainer, batches) -> None, run after every optimizer step
    # with the step's micro-batches.
    after_step = None

    # Solvers whose optimizer evaluates other weights than it trains
    # (Schedule-Free) override this with a method (trainer, on) -> None,
    # run when an evaluation and its checkpoint begin (on=True) and when
    # training goes on (on=False), outside the timed region.
    evaluation_mode = None
    # Batches over which batch-norm statistics are recomputed at each
    # evaluation, after evaluation_mode (untimed); 0: none.
    bn_recalibration = 0
    # False: the method sets its own step sizes (Schedule-Free: no schedule;
    # Prodigy: no recipe lr, its lr parameter is a multiplier).
    uses_schedule = True
    uses_recipe_lr = True

    def make_optimizer(self, params, lr, weight_decay):
        """Return a torch.optim.Optimizer over ``params`` (param groups)."""
        raise NotImplementedError

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
        recipe = task.recipe
        lr = getattr(self, "lr", None)
        wd = getattr(self, "weight_decay", None)
        if lr is None and not self.uses_recipe_lr:
            raise ValueError(f"{self.name} does not take the recipe's "
                             "learning rate: give its lr.")
        self.run_lr = (recipe.lr * self.lr_scale if lr is None
                       else float(lr))
        self.run_weight_decay = (
            recipe.weight_decay * self.weight_decay_scale if wd is None
            else float(wd))
        # Build once here so that invalid hyperparameters fail before any
        # training, with the optimizer's own message.
        self._new_trainer()

    def _trainer_spec(self):
        """What every process needs to build this run's trainer."""
        return (self.task, self.make_optimizer,
                dict(seed=self.seed, lr=self.run_lr,
                     weight_decay=self.run_weight_decay,
                     after_step=self.after_step,
                     evaluation_mode=self.evaluation_mode,
                     bn_recalibration=self.bn_recalibration,
                     schedule=self.uses_schedule))

    def _new_trainer(self):
        n_procs = parallel.requested_processes()
        task, make_optimizer, kwargs = spec = self._trainer_spec()
        if n_procs > 1:
            workers.spawn_workers(n_procs, self.task.device)
            # Fail here, alone, on invalid hyperparameters: the workers
            # must not build a trainer that rank 0 will not.
            make_optimizer(param_groups(task.build_model(),
                                        kwargs["weight_decay"]),
                           kwargs["lr"], kwargs["weight_decay"])
        workers.command("setup", spec)
        self.trainer = Trainer(task, make_optimizer, **kwargs)

    def warm_up(self):
        # Untimed, once per solver: compile the model (and any compiled
        # optimizer kernels), autotune cuDNN, initialise CUDA, on a throwaway
        # trainer so that the measured run starts from the same fresh state.
        # On the CPU too: the first solver of a process otherwise pays the
        # lazy start of torch's kernels and thread pools in its timed region
        # (measured: AdamW, run first, 1.8 s to a digits target against
        # 0.3 s for the solvers after it).
        start = time.perf_counter()
        task, make_optimizer, kwargs = spec = self._trainer_spec()
        workers.command("warm_up", spec)
        Trainer(task, make_optimizer, **kwargs).warm_up()
        self.warm_up_time = time.perf_counter() - start
        # Said on the CPU too when it is long: the fused INNAprop step's
        # first build there takes 15-20 s.
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
                workers.command("train")
                trainer.train_stage()
            if trainer.diverged:
                print(f"\n{self} diverged at step {trainer.step} (non-finite "
                      "loss); its curve stops there.", file=sys.stderr,
                      flush=True)
            checkpoints.finish(trainer)

    def _evaluation_mode(self, on):
        """Into (or out of) the state the model is evaluated in, on every
        process; untimed (benchopt's clock stops in get_result)."""
        if self.evaluation_mode is None and not self.bn_recalibration:
            return
        workers.command("evaluation_mode", on)
        self.trainer.set_evaluation_mode(on)

    def get_result(self):
        # benchopt calls this, untimed, at every evaluation.
        self._evaluation_mode(True)
        progress = self.trainer.progress()
        share = getattr(self, "share", None)
        progress.device_runs = share.stage_runs() if share else 1
        return dict(model=self.trainer.model, progress=progress)

    def get_next(self, stop_val):
        # Evaluate at every stage: once per eval_every epochs or steps.
        return stop_val + 1
