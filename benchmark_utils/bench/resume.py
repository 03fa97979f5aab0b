"""Checkpoint and resume of a benchopt run: benchopt's side.

The one place that knows benchopt's private callback attributes: a resumed
run continues benchopt's curve and clock (``curve``, ``it``,
``next_stopval``, ``time_iter``, ``_last_it_log``, the stopping criterion's
``n_eval`` and ``rho``), so that the final curve has every point once and
times that exclude the lost work. They are benchopt 1.10's
(benchopt/callback.py); another version raises a clear error instead of
resuming wrongly. The checkpoint files are training/checkpoint.py's, a run's
code identity and the listing of stale checkpoints training/resume.py's.
"""
import sys
import time

import benchopt

from benchmark_utils.training import environment, identity
from benchmark_utils.training.checkpoint import CheckpointStore

TESTED_BENCHOPT = ("1.10",)


def check_benchopt_version(version=None):
    """Raise unless ``version`` (benchopt's own by default) is one whose
    callback internals this module was written against."""
    version = version or benchopt.__version__
    if ".".join(version.split(".")[:2]) not in TESTED_BENCHOPT:
        raise RuntimeError(
            f"benchopt {version} is installed, but checkpoint and resume "
            f"were written against benchopt {', '.join(TESTED_BENCHOPT)} "
            "(they restore its callback's private state). Install "
            "benchopt>=1.10,<1.11, or run with INNAPROP_CHECKPOINTS=0.")


class NoCheckpoints:
    """What a run without checkpoints uses: benchopt's test runs (no run
    metadata), INNAPROP_CHECKPOINTS=0, or a folder that cannot be written."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def resume(self, trainer):
        return False

    def save(self, trainer):
        pass

    def finish(self, trainer):
        pass


def _warn(message):
    print(f"\nWARNING: {message}", file=sys.stderr, flush=True)


class RunCheckpoints:
    """The checkpoints of one benchopt run, and its resumption.

    Keyed by the dataset, objective, solver (with their parameters), seed,
    repetition, code and data source: ``root/<hash>/``. Used as a context
    manager, it holds the run's lock while the run trains.
    """

    def __init__(self, store, callback, name):
        self.store, self.callback, self.name = store, callback, name

    @classmethod
    def open(cls, solver, callback):
        meta = getattr(callback, "meta", None)
        if not meta or not environment.checkpoints():
            return NoCheckpoints()
        check_benchopt_version()
        root = environment.checkpoint_dir()
        store = CheckpointStore(
            root, dataset=meta["dataset_name"],
            objective=meta["objective_name"], solver=meta["solver_name"],
            seed=solver.seed, repetition=meta["idx_rep"],
            code=identity.code_version(type(solver)),
            data=getattr(solver.task, "source", ""))
        try:
            store.lock()
        except OSError as e:   # read-only, not a folder, disk full
            _warn(f"checkpoints cannot be written under {root} ({e}); "
                  f"{solver} runs without them. Point INNAPROP_CHECKPOINT_DIR "
                  "at a writable folder, or set INNAPROP_CHECKPOINTS=0 to "
                  "silence this.")
            return NoCheckpoints()
        return cls(store, callback, str(solver))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.store is not None:
            self.store.unlock()
        return False

    def save(self, trainer):
        """Checkpoint after an evaluation, outside the timed region. A
        failed write (a full disk) warns once; the run goes on without."""
        if self.store is None:
            return
        try:
            self.store.save(dict(trainer=trainer.state_dict(),
                                 callback=_callback_state(self.callback)),
                            index=self.callback.it)
        except OSError as e:
            _warn(f"writing a checkpoint of {self.name} in {self.store.dir} "
                  f"failed ({e}); the run goes on without checkpoints. Free "
                  "some space, point INNAPROP_CHECKPOINT_DIR elsewhere, or "
                  "set INNAPROP_CHECKPOINTS=0.")
            self.store.unlock()
            self.store = None
        self.callback.time_callback = time.perf_counter()

    def resume(self, trainer):
        """Restore the newest good checkpoint into ``trainer`` (and every
        worker) and benchopt's callback; False when there is none."""
        state = self.store.load()
        if state is None:
            changed = self.store.others_of_the_same_run()
            if changed:
                _warn(f"{self.name}: its data source changed since the "
                      f"checkpoint in {changed[0]} was written (now "
                      f"{self.store.fields['data']}); starting afresh.")
            return False
        # Every process of a data-parallel run reads the same file.
        trainer.restore(state["trainer"], self.store.loaded_path)
        _restore_callback(self.callback, state["callback"])
        print(f"\n{self.name}: resumed from its checkpoint at step "
              f"{trainer.step} (epoch {trainer.epoch}), "
              f"{len(self.callback.curve)} evaluations already done.",
              file=sys.stderr, flush=True)
        return True

    def over_max_runs(self):
        """True when the resumed curve already holds more evaluations than
        this command's --max-runs allows: the curve is cut to that number
        and the run stops (a later, larger -n resumes it)."""
        criterion = self.callback.stopping_criterion
        if criterion.n_eval <= criterion.max_runs:
            return False
        del self.callback.curve[criterion.max_runs + 1:]
        self.callback.status = "max_runs"
        return True

    def finish(self, trainer):
        if trainer.finished and self.store is not None:
            self.store.clear()   # benchopt caches the finished run's results


def restart_clock(callback):
    """Exclude what was done since benchopt's last evaluation (a checkpoint,
    leaving evaluation mode) from the run's measured time."""
    callback.time_callback = time.perf_counter()


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
