"""benchopt's run, made to keep what finished and to say what it skipped.

benchopt 1.10 loses every finished run when a later one fails with
BENCHOPT_RAISE_ON_ERROR set, or when the user presses Ctrl-C: its results
loop re-raises before ``save_results``. It also exits 0 when a dataset
named with ``-d`` was skipped. ``install()`` wraps five of its module-level
names, looked up when a run calls them:

- ``Benchmark.check_dataset_patterns``, the run's first step: the
  INNAPROP_* variables are checked (training/environment.py), and which
  datasets were named (``-d`` or a config's ``dataset:``), as opposed to
  "all of them";
- ``benchopt.runner.parallel_run``: the stream of finished runs; an error
  or an interruption ends the stream instead of the process, so benchopt
  goes on to save and plot what finished;
- ``benchopt.runner.save_results``: where the results went;
- ``benchopt.base.print_exc``: ``benchopt prepare`` says why data
  cannot be had (DataNotFound) in its one paragraph, not a traceback;
- ``benchopt.cli.main.print_stats``, the last call of ``benchopt run``:
  the summary of what was skipped or lost, the working tree's diff beside
  the results (reporting/provenance.py), and a non-zero exit status when
  a run failed, was interrupted, or a named dataset had no data.

The objective and bench/dataset.py call ``install()`` (benchopt imports
one of them before it calls any of these: ``benchopt prepare`` imports
only the datasets). Another benchopt version gets a warning and benchopt's own
behaviour.
"""
import sys
import traceback
import warnings

from benchmark_utils.reporting import provenance
from benchmark_utils.training import environment

TESTED_BENCHOPT = ("1.10",)
# Exit status of an interrupted run, as a shell reports Ctrl-C.
INTERRUPTED = 130


class _State:
    """What the run in this process did, reset when a run starts."""

    def __init__(self):
        self.named = None       # base names of the datasets named; None: all
        self.missing = {}       # dataset name -> why its data are absent
        self.failure = None     # "interrupted", or the error's one line
        self.output = None      # the results file written


STATE = _State()


def record_missing(dataset, message):
    """A dataset skipped because its files are absent (bench/dataset.py)."""
    STATE.missing.setdefault(dataset, message)


def install():
    """Wrap benchopt's run as the module docstring says; idempotent."""
    import benchopt
    from benchopt import runner
    from benchopt import base
    from benchopt.benchmark import Benchmark
    from benchopt.cli import main

    if getattr(runner, "_innaprop_keeps_results", False):
        return
    version = ".".join(benchopt.__version__.split(".")[:2])
    if version not in TESTED_BENCHOPT:
        warnings.warn(f"benchopt {benchopt.__version__}: "
                      "benchmark_utils/bench/runner.py was written for "
                      f"{', '.join(TESTED_BENCHOPT)}; a failed or "
                      "interrupted run may lose the finished ones.",
                      stacklevel=2)
        return
    Benchmark.check_dataset_patterns = _named(
        Benchmark.check_dataset_patterns)
    runner.parallel_run = _keeping(runner.parallel_run)
    base.print_exc = _one_paragraph(base.print_exc)
    runner.save_results = _saved(runner.save_results)
    main.print_stats = _finishing(main.print_stats)
    runner._innaprop_keeps_results = True


def _named(check):
    def check_dataset_patterns(self, patterns, *args, **kwargs):
        global STATE
        STATE = _State()       # a new run starts
        try:
            environment.check()
        except environment.BadEnvironment as e:
            print(e, file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        STATE.named = {name for p in patterns or () for name in _bases(p)} \
            or None
        return check(self, patterns, *args, **kwargs)
    return check_dataset_patterns


def _bases(pattern):
    """The dataset names of a ``-d`` pattern, or of a config's entry (a
    string, or {name: parameters})."""
    if isinstance(pattern, dict):
        return [_base(k) for k in pattern]
    return [_base(str(pattern))]


def _base(pattern):
    return pattern.split("[")[0].strip()


def _keeping(parallel_run):
    def keeping(*args, **kwargs):
        try:
            for item in parallel_run(*args, **kwargs):
                if item[2] == "interrupted":   # benchopt would exit here
                    raise KeyboardInterrupt
                yield item
        except KeyboardInterrupt:
            STATE.failure = "interrupted"
            print("\nInterrupted: the runs that finished are saved; "
                  "rerun the same command to resume the others.",
                  file=sys.stderr, flush=True)
        except Exception as e:  # noqa: BLE001 (BENCHOPT_RAISE_ON_ERROR)
            traceback.print_exc()
            STATE.failure = f"{type(e).__name__}: {e}".splitlines()[0]
            print("\nA run failed (above); the runs that finished before it "
                  "are saved.", file=sys.stderr, flush=True)
    return keeping


def _one_paragraph(print_exc):
    """``benchopt prepare`` prints a failed preparation's traceback; data
    that cannot be had here (DataNotFound) get their message instead."""
    def printing(*args, **kwargs):
        from benchmark_utils.data.download import DataNotFound
        error = sys.exc_info()[1]
        if isinstance(error, DataNotFound):
            print(f"  {error}", flush=True)
            return
        print_exc(*args, **kwargs)
    return printing


def _saved(save_results):
    def saved(*args, **kwargs):
        STATE.output = save_results(*args, **kwargs)
        return STATE.output
    return saved


def _finishing(print_stats):
    def finishing(*args, **kwargs):
        print_stats(*args, **kwargs)
        status = finish(STATE)
        if status:
            raise SystemExit(status)
    return finishing


def finish(state):
    """Say what the run skipped or lost, keep the diff beside the results;
    the exit status (0: everything named ran)."""
    if state.output is not None:
        provenance.save_diff(state.output)
    # Skipped datasets were each named once by benchopt ("Reason: ...");
    # those the user named end the output, with a failing status.
    named_missing = {d: why for d, why in state.missing.items()
                     if state.named is not None and _base(d) in state.named}
    if state.failure == "interrupted":
        return INTERRUPTED
    if state.failure is not None:
        print(f"A run failed: {state.failure}", file=sys.stderr, flush=True)
        return 1
    for dataset, why in named_missing.items():
        print(f"{dataset}: no data. {why}", file=sys.stderr, flush=True)
    return 1 if named_missing else 0
