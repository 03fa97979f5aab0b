"""Checkpoint and resume of a benchopt run.

The one place that knows benchopt's private callback attributes: a resumed
run continues benchopt's curve and clock (``curve``, ``it``,
``next_stopval``, ``time_iter``, ``_last_it_log``, the stopping criterion's
``n_eval`` and ``rho``), so that the final curve has every point once and
times that exclude the lost work. They are benchopt 1.10's
(benchopt/callback.py); another version raises a clear error instead of
resuming wrongly.
"""
import hashlib
import os
import sys
import time
from functools import lru_cache
from pathlib import Path

import benchopt

from benchmark_utils.training import workers
from benchmark_utils.training.checkpoint import CheckpointStore

ROOT = Path(__file__).resolve().parents[2]
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
    metadata) or INNAPROP_CHECKPOINTS=0."""

    def resume(self, trainer):
        return False

    def save(self, trainer):
        pass

    def finish(self, trainer):
        pass


class RunCheckpoints:
    """The checkpoints of one benchopt run, and its resumption.

    Keyed by the dataset, objective, solver (with their parameters), seed,
    repetition and code: ``root/<hash>/``.
    """

    def __init__(self, store, callback, name):
        self.store, self.callback, self.name = store, callback, name

    @classmethod
    def open(cls, solver, callback):
        meta = getattr(callback, "meta", None)
        if not meta or os.environ.get("INNAPROP_CHECKPOINTS", "1") == "0":
            return NoCheckpoints()
        check_benchopt_version()
        root = os.environ.get("INNAPROP_CHECKPOINT_DIR") or (
            ROOT / "checkpoints")
        store = CheckpointStore(
            root, dataset=meta["dataset_name"],
            objective=meta["objective_name"], solver=meta["solver_name"],
            seed=solver.seed, repetition=meta["idx_rep"],
            code=code_version(type(solver)))
        return cls(store, callback, str(solver))

    def save(self, trainer):
        """Checkpoint after an evaluation, outside the timed region."""
        self.store.save(dict(trainer=trainer.state_dict(),
                             callback=_callback_state(self.callback)),
                        index=self.callback.it)
        self.callback.time_callback = time.perf_counter()

    def resume(self, trainer):
        """Restore the newest good checkpoint into ``trainer`` (and every
        worker) and benchopt's callback; False when there is none."""
        state = self.store.load()
        if state is None:
            return False
        trainer.load_state_dict(state["trainer"])
        workers.command("load", str(self.store.loaded_path))
        _restore_callback(self.callback, state["callback"])
        print(f"\n{self.name}: resumed from its checkpoint at step "
              f"{trainer.step} (epoch {trainer.epoch}), "
              f"{len(self.callback.curve)} evaluations already done.",
              file=sys.stderr, flush=True)
        return True

    def finish(self, trainer):
        if trainer.finished:
            self.store.clear()   # benchopt caches the finished run's results


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
def code_version(solver_class):
    """A hash of the code a run executes (shared code, the optimizer
    package, the solver's file, the datasets, the objective): a checkpoint
    of other code is not resumed."""
    files = (sorted(ROOT.glob("benchmark_utils/**/*.py"))
             + sorted(ROOT.glob("innaprop/*.py"))
             + sorted(ROOT.glob("datasets/*.py")) + [ROOT / "objective.py"])
    solver_file = getattr(solver_class, "_module_filename", None)
    if solver_file is not None:
        files.append(Path(solver_file))
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]
