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
import hashlib
import os
import sys
import time
from functools import lru_cache
from pathlib import Path

from benchopt import BaseSolver
from benchopt.stopping_criterion import StoppingCriterion

from benchmark_utils import distributed
from benchmark_utils.checkpoint import CheckpointStore
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

    # Where an algorithm steps on another scale than AdamW (whose tuned
    # values the recipe holds), the factors applied to the recipe's lr and
    # weight decay when the solver's own are left to None.
    lr_scale = 1.0
    weight_decay_scale = 1.0

    # Solvers whose algorithm needs extra passes (Sophia) override this with
    # a method (trainer, batches) -> None, run after every optimizer step
    # with the step's micro-batches.
    after_step = None

    def make_optimizer(self, params, lr, weight_decay):
        """Return a torch.optim.Optimizer over ``params`` (param groups)."""
        raise NotImplementedError

    def set_objective(self, task, seed):
        self.task, self.seed = task, seed
        recipe = task.recipe
        lr = getattr(self, "lr", None)
        wd = getattr(self, "weight_decay", None)
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
                     after_step=self.after_step))

    def _new_trainer(self):
        n_procs = distributed.requested_processes()
        if n_procs > 1:
            distributed.spawn_workers(n_procs, self.task.device)
        task, make_optimizer, kwargs = spec = self._trainer_spec()
        distributed.command("setup", spec)
        self.trainer = Trainer(task, make_optimizer, **kwargs)

    def warm_up(self):
        # Untimed, once per solver: compile the model (and any compiled
        # optimizer kernels), autotune cuDNN, initialise CUDA, on a throwaway
        # trainer so that the measured run starts from the same fresh state.
        if self.task.device.type == "cuda" or self.task.recipe.compile:
            start = time.perf_counter()
            task, make_optimizer, kwargs = spec = self._trainer_spec()
            distributed.command("warm_up", spec)
            Trainer(task, make_optimizer, **kwargs).warm_up()
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
        store = self._checkpoint_store(callback)
        # A crashed or interrupted run restarts from its last evaluation.
        resumed = store is not None and self._resume(store, callback)
        while resumed or callback():
            if not resumed:
                self._save(store, callback)
            resumed = False
            if trainer.finished:
                break
            distributed.command("train")
            trainer.train_stage()
        if trainer.diverged:
            print(f"\n{self} diverged at step {trainer.step} (non-finite "
                  "loss); its curve stops there.", file=sys.stderr,
                  flush=True)
        if store is not None and trainer.finished:
            store.clear()   # benchopt caches the finished run's results

    def get_result(self):
        return dict(model=self.trainer.model,
                    progress=self.trainer.progress())

    def get_next(self, stop_val):
        # Evaluate at every stage: once per eval_every epochs or steps.
        return stop_val + 1

    # -- checkpoints -------------------------------------------------------
    def _checkpoint_store(self, callback):
        """This run's checkpoints: keyed by the dataset, objective, solver
        (with their parameters), seed, repetition and code. None for
        benchopt's test runs (no run metadata) or INNAPROP_CHECKPOINTS=0."""
        meta = getattr(callback, "meta", None)
        if not meta or os.environ.get("INNAPROP_CHECKPOINTS", "1") == "0":
            return None
        root = os.environ.get("INNAPROP_CHECKPOINT_DIR") or (
            Path(__file__).resolve().parents[1] / "checkpoints")
        return CheckpointStore(
            root, dataset=meta["dataset_name"],
            objective=meta["objective_name"], solver=meta["solver_name"],
            seed=self.seed, repetition=meta["idx_rep"],
            code=_code_version(type(self)))

    def _save(self, store, callback):
        """Checkpoint after an evaluation, outside the timed region."""
        if store is None:
            return
        store.save(dict(trainer=self.trainer.state_dict(),
                        callback=_callback_state(callback)),
                   index=callback.it)
        callback.time_callback = time.perf_counter()

    def _resume(self, store, callback):
        state = store.load()
        if state is None:
            return False
        self.trainer.load_state_dict(state["trainer"])
        distributed.command("load", str(store.loaded_path))
        _restore_callback(callback, state["callback"])
        print(f"\n{self}: resumed from its checkpoint at step "
              f"{self.trainer.step} (epoch {self.trainer.epoch}), "
              f"{len(callback.curve)} evaluations already done.",
              file=sys.stderr, flush=True)
        return True


# benchopt 1.10's callback (benchopt/callback.py) keeps the curve and its
# clock in these attributes; a resumed run continues them, so that the final
# curve has every point once and times that exclude the lost work.
def _callback_state(callback):
    criterion = callback.stopping_criterion
    return dict(curve=list(callback.curve), it=callback.it,
                next_stopval=callback.next_stopval,
                time_iter=callback.time_iter,
                last_it_log=callback._last_it_log,
                n_eval=criterion.n_eval, rho=criterion.rho)


def _restore_callback(callback, state):
    callback.curve[:] = state["curve"]
    callback.it = state["it"]
    callback.next_stopval = state["next_stopval"]
    callback.time_iter = state["time_iter"]
    callback._last_it_log = state["last_it_log"]
    callback.stopping_criterion.n_eval = state["n_eval"]
    callback.stopping_criterion.rho = state["rho"]
    callback.time_callback = time.perf_counter()


@lru_cache(maxsize=None)
def _code_version(solver_class):
    """A hash of the code a run executes (shared code, the solver's file,
    the datasets, the objective): a checkpoint of other code is not
    resumed."""
    root = Path(__file__).resolve().parents[1]
    files = sorted(root.glob("benchmark_utils/**/*.py")) + sorted(
        root.glob("datasets/*.py")) + [root / "objective.py"]
    solver_file = getattr(solver_class, "_module_filename", None)
    if solver_file is not None:
        files.append(Path(solver_file))
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]
