"""A tuning study: its file, its trials, the selection and the confirmation.

Every run goes through ``benchopt run`` (a subprocess, as a user runs it),
so benchopt's cache, resume, ``-j`` and ``--parallel-config`` (SLURM)
apply; ``benchopt_args`` in the study file are passed on.

The study file is checked whole before the first trial (checks.py). A
solver whose trials raise costs only itself: benchopt goes on with the
others (``BENCHOPT_RAISE_ON_ERROR=0``), the failed trials are recorded with
their error, and the report lists them. A run that fails as a whole (the
data are missing) stops the study on its one-line reason (``StudyError``).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmark_utils.tuning.checks import (
    StudyError, check_benchopt_args, check_count, check_dataset, check_name,
    check_select, check_target, parse_selection, plugin_classes)
from benchmark_utils.tuning.space import check_space, draw

PROTOCOLS = ("tuned", "thesis")
DEFAULTS = dict(trials=5, trial_seeds=1, confirm_seeds=3, seed=0,
                baseline="adamw", protocol="tuned",
                select="objective_val_loss", target=None, benchopt_args=[])


def load_study(path, bench="."):
    """The study file (YAML) as a dict, checked whole (checks.py):
    ``dataset`` (benchopt's dataset string, e.g. "digits[n_val=270]"),
    ``solvers`` (names, or {name: {search_space: ...}}), and the keys of
    DEFAULTS. Raises StudyError (a ValueError) naming the file, the key,
    the value and what is allowed; nothing has run then."""
    with open(path) as f:
        raw = yaml.safe_load(f) or {}
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: a study file is a mapping of keys, got "
                         f"{type(raw).__name__}.")
    study = {**DEFAULTS, **raw}
    allowed = {*DEFAULTS, "name", "dataset", "solvers"}
    if set(study) - allowed:
        raise StudyError(f"{path}: unknown keys "
                         f"{sorted(set(study) - allowed)}; allowed: "
                         f"{sorted(allowed)}.")
    study["name"] = check_name(study.get("name") or Path(path).stem, path)
    for key in ("dataset", "solvers"):
        if not study.get(key):
            raise StudyError(f"{path}: {key!r} is required.")
    if study["protocol"] not in PROTOCOLS:
        raise StudyError(f"{path}: protocol={study['protocol']!r}; allowed: "
                         f"{PROTOCOLS}.")
    for key in ("trials", "trial_seeds", "confirm_seeds"):
        check_count(key, study[key], path)
    if type(study["seed"]) is not int or study["seed"] < 0:
        raise StudyError(f"{path}: seed={study['seed']!r}: allowed: an "
                         "integer >= 0.")
    study["benchopt_args"] = check_benchopt_args(study["benchopt_args"],
                                                 path)
    cls, params, _ = check_dataset(study["dataset"], bench, path)
    check_select(study["select"], cls, params, path)
    study["target"] = check_target(study["target"], study["select"], path)
    study["spaces"], study["classes"] = solver_spaces(
        study["solvers"], solver_classes(bench), bench, path)
    if study["baseline"] not in study["spaces"]:
        raise StudyError(f"{path}: baseline={study['baseline']!r} is not "
                         f"among the solvers {sorted(study['spaces'])}.")
    return study


def solver_spaces(entries, classes, bench, path):
    """({solver: its checked search space}, classes) of the study's
    ``solvers`` list."""
    if not isinstance(entries, list):
        raise StudyError(f"{path}: solvers={entries!r}: allowed: a list of "
                         "solver names or {name: {search_space: ...}}.")
    spaces = {}
    for entry in entries:
        if isinstance(entry, dict) and len(entry) == 1:
            name, own = next(iter(entry.items()))
        else:
            name, own = entry, {}
        own = own or {}
        if not isinstance(name, str) or not isinstance(own, dict) or \
                set(own) - {"search_space"}:
            raise StudyError(f"{path}: solvers: {entry!r}: allowed: a "
                             "solver name, or {name: {search_space: ...}}.")
        if name not in classes:
            raise StudyError(f"{path}: solver {name!r} is not in "
                             f"{bench}/solvers; found: {sorted(classes)}.")
        if name in spaces:
            raise StudyError(f"{path}: solver {name!r} is listed twice.")
        cls = classes[name]
        space = own.get("search_space") or getattr(cls, "search_space", None)
        if not space:
            raise StudyError(f"{path}: solver {name!r} has no search_space "
                             "(neither the study nor the solver gives one).")
        where = "the study's" if own.get("search_space") else \
            f"solvers/{Path(sys.modules[cls.__module__].__file__).name}'s"
        try:
            spaces[name] = check_space(space, name, cls.parameters)
        except ValueError as e:
            raise StudyError(f"{path}: {where} search_space: {e}") from None
    return spaces, classes


def solver_classes(bench):
    """{name: Solver class} of ``bench/solvers/*.py``."""
    return plugin_classes(bench, "solvers", "Solver")


def solver_string(name, params):
    """benchopt's solver selection, e.g. "adamw[lr=0.001,weight_decay=0.1]"."""
    inner = ",".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{name}[{inner}]" if inner else name


def trials(study, fixed=None, only=None):
    """{solver: [params of each trial]}: ``study["trials"]`` scrambled
    Halton draws of each solver's space, with the same sequence seed for
    every solver. ``fixed`` ({solver: {param: value}}) pins parameters
    (the thesis protocol's reused lr and weight decay); a solver left with
    nothing to search runs once."""
    fixed = fixed or {}
    out = {}
    for name, space in study["spaces"].items():
        if only is not None and name not in only:
            continue
        pinned = fixed.get(name, {})
        free = {k: v for k, v in space.items() if k not in pinned}
        draws = draw(free, study["trials"], study["seed"]) if free else [{}]
        out[name] = [{**d, **pinned} for d in draws]
    return out


def run_benchopt(bench, study, solvers, n_reps, output, seed, page=True):
    """``benchopt run`` of ``solvers`` (strings) on the study's dataset:
    (its results frame, {benchopt's solver name: error} of the runs that
    failed). A failing solver does not stop the others; a run that fails as
    a whole raises StudyError with its last line. ``page=False`` skips
    benchopt's result page (the trials': dozens of solvers, slow to render,
    not read)."""
    bench = Path(bench)
    folder = bench / "outputs"
    folder.mkdir(exist_ok=True)
    config = folder / f"{output}.yml"
    config.write_text(yaml.safe_dump(dict(
        dataset=[study["dataset"]], solver=list(solvers),
        **{"n-repetitions": n_reps, "max-runs": 100000,
           "no-timeout": True})))
    result = folder / f"{output}.parquet"
    result.unlink(missing_ok=True)     # benchopt would write <output>_1
    cmd = [sys.executable, "-m", "benchopt", "run", str(bench), "--config",
           str(config), "--output", output, "--seed", str(seed),
           "--no-display", *([] if page else ["--no-plot"]),
           *study["benchopt_args"]]
    print("$", " ".join(cmd), flush=True)
    # The study handles a solver's errors itself: benchopt goes on.
    status, lines = run_logged(cmd, dict(os.environ, PYTHONUNBUFFERED="1",
                                         BENCHOPT_RAISE_ON_ERROR="0"))
    failed = failed_runs(lines)
    if status != 0 and not failed:
        raise StudyError(f"benchopt run ({output}) failed: "
                         f"{last_line(lines)}")
    frame = pd.read_parquet(result) if result.exists() else pd.DataFrame()
    return frame, failed


def run_logged(cmd, env):
    """Run ``cmd``, echoing its output (stderr merged, in order) as it
    comes: (exit status, the output's lines)."""
    out = bytearray()
    sink = getattr(sys.stdout, "buffer", None)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env) as proc:
        for chunk in iter(lambda: proc.stdout.read1(65536), b""):
            out += chunk
            if sink is not None:
                sink.write(chunk)
            else:
                sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
    text = ANSI.sub("", out.decode(errors="replace"))
    return proc.returncode, re.split(r"\r\n|\r|\n", text)


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# benchopt's line for a run that ended: "  |--adamw[lr=0.001,...]: error".
STATUS = re.compile(r"\|--(?P<name>\S.*?):\s*(?P<status>error|diverged)\s*$")


def last_line(lines):
    return next((line.strip() for line in reversed(lines) if line.strip()),
                "(no output)")


def failed_runs(lines):
    """{benchopt's solver name: why it failed} as benchopt's output says: each
    run's status line "error" follows the traceback it printed (its last
    line is the error)."""
    failed, error, in_traceback = {}, None, False
    for line in lines:
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
        elif in_traceback and line.strip() and not line.startswith(" "):
            error, in_traceback = line.strip(), False
        match = STATUS.search(line)
        if match:
            failed[match["name"]] = (error or "error") \
                if match["status"] == "error" else "diverged"
            error = None
    return failed


def failure_of(failed, solver, params):
    """The error of the trial of ``solver`` with ``params`` among
    ``failed`` (benchopt spells every parameter), or None."""
    for name, error in failed.items():
        try:
            base, spelled = parse_selection(name)
        except ValueError:
            continue
        if base == solver and all(
                same_value(spelled.get(k), v) for k, v in params.items()):
            return error
    return None


def same_value(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            not isinstance(a, bool) and not isinstance(b, bool):
        return bool(np.isclose(float(a), float(b)))
    return str(a) == str(b)


def trial_scores(df, column):
    """Per trial (solver name): the mean over its seeds of ``column`` at the
    last evaluation; a diverged or non-finite trial scores NaN. Reads only
    ``column`` (a validation column), never a test column."""
    if not column.startswith("objective_val_"):
        raise ValueError(f"selection column {column!r} is not a validation "
                         "column (objective_val_*).")
    cols = ["solver_name", "idx_rep", "stop_val", column]
    last = df[cols].sort_values("stop_val").groupby(
        ["solver_name", "idx_rep"]).tail(1)
    return last.groupby("solver_name")[column].agg(
        lambda v: v.mean() if np.isfinite(v).all() else np.nan)


def trial_name(df, solver, params):
    """The ``solver_name`` benchopt gave the trial of ``solver`` with
    ``params`` (it spells every parameter), or None if it did not run."""
    from benchmark_utils.reporting.results import solver_base
    mask = df["solver_name"].map(solver_base) == solver
    for k, v in params.items():
        col = df.get(f"p_solver_{k}")
        if col is None:
            return None
        mask &= np.isclose(col.astype(float), float(v)) \
            if isinstance(v, (int, float)) and not isinstance(v, bool) \
            else col.astype(str) == str(v)
    found = df.loc[mask, "solver_name"].unique()
    return found[0] if len(found) else None


def select(df, names, column, target=None):
    """{solver: (winning params, its score)}: each solver's best trial on
    ``column``. ``names`` is {solver: {trial solver string: params}}; a
    trial with no results (it failed) is not a candidate, and a solver
    with none is left out.

    Without a target the score is the final value (accuracies maximized,
    losses minimized); with one it is the mean over seeds of the steps to
    reach it (fewer is better, never reached is worst), the final value
    breaking ties."""
    from benchmark_utils.reporting.results import (higher_is_better,
                                                   per_seed_to_target)
    if df.empty:
        return {}
    maximize = higher_is_better(column)
    scores = trial_scores(df, column)
    chosen = {}
    for solver, options in names.items():
        best = None
        for params in options.values():
            string = trial_name(df, solver, params)
            if string is None:
                continue
            final = scores.get(string, np.nan)
            key = [-final if maximize else final]
            if target is not None:
                runs = df[df["solver_name"] == string][
                    ["solver_name", "idx_rep", "stop_val", "objective_step",
                     column]]
                steps = per_seed_to_target(runs, column, target)
                key.insert(0, steps.mean() if steps.notna().all()
                           else np.inf)
            key = [np.inf if not np.isfinite(k) else k for k in key]
            if best is None or key < best[0]:
                best = (key, params, final)
        if best is not None:
            chosen[solver] = (best[1], best[2])
    return chosen


def reused_lr_wd(study, base_params):
    """{solver: {lr, weight_decay}}: the tuned baseline's values, through
    each solver's scale rule (``cls.scale``: the values its lr=None would
    take from a recipe holding them), rounded as trials are. A method that
    never takes the recipe's lr (``scale.recipe_lr`` False, e.g. Prodigy)
    keeps searching its own."""
    lr_wd = {k: base_params[k] for k in ("lr", "weight_decay")
             if k in base_params}
    fixed = {}
    for name, cls in study["classes"].items():
        scales = dict(lr=cls.scale.lr, weight_decay=cls.scale.weight_decay)
        fixed[name] = {k: float(f"{v * scales[k]:.4g}")
                       for k, v in lr_wd.items() if k in cls.parameters
                       and (k != "lr" or cls.scale.recipe_lr)}
    return fixed


def run_study(study, bench="."):
    """Trials, the defaults, selection and confirmation; returns what the
    report needs (``study_result``) and writes the study's record
    (outputs/<study>_study.json, ``study_record``). A trial, defaults or
    confirmation run that raises is recorded in ``failures`` (solver, run,
    phase, error) and costs only itself."""
    name, column = study["name"], study["select"]
    target = numeric_target(study)
    base = study["baseline"]
    names, frames, fixed, failures, files = {}, [], {}, [], []

    def record(failed, solver, string, params, phase):
        error = failure_of(failed, solver, params)
        if error is not None:
            failures.append(dict(solver=solver, run=string, phase=phase,
                                 error=error))

    def run_trials(plan, tag):
        strings = {s: {solver_string(s, p): p for p in ps}
                   for s, ps in plan.items()}
        names.update(strings)
        frame, failed = run_benchopt(
            bench, study, [x for v in strings.values() for x in v],
            study["trial_seeds"], f"{name}_{tag}", study["seed"],
            page=False)
        frames.append(frame)
        files.append(f"{name}_{tag}.parquet")
        for solver, options in strings.items():
            for string, params in options.items():
                record(failed, solver, string, params, "trial")
        return select(frame, strings, column, target)

    if study["protocol"] == "thesis":
        # Table 4.1: AdamW tuned; the others reuse its lr and weight decay
        # (through their scale rules) and search only their own parameters.
        chosen = run_trials(trials(study, only=[base]), "trials_baseline")
        if base not in chosen:
            raise StudyError(
                f"the baseline {base} failed every trial "
                f"({failures[-1]['error'] if failures else 'no results'}):"
                " the thesis protocol reuses its lr and weight decay, so "
                "the other solvers cannot run.")
        fixed = reused_lr_wd(study, chosen[base][0])
        others = [s for s in study["spaces"] if s != base]
        chosen.update(run_trials(trials(study, fixed, only=others),
                                 "trials_others"))
    else:
        chosen = run_trials(trials(study), "trials")
    # Budget 0: every solver once at its defaults, on the trials' seeds
    # (the cost of tuning starts there).
    defaults, failed = run_benchopt(
        bench, study, list(study["spaces"]), study["trial_seeds"],
        f"{name}_defaults", study["seed"], page=False)
    for solver in study["spaces"]:
        record(failed, solver, solver, {}, "defaults")
    winners = {s: solver_string(s, p) for s, (p, _) in chosen.items()}
    confirm = pd.DataFrame()
    if winners:
        # Fresh seeds: benchopt's base seed moves past the trials'.
        try:
            confirm, failed = run_benchopt(
                bench, study, winners.values(), study["confirm_seeds"],
                f"{name}_confirm", study["seed"] + 1)
        except StudyError as e:
            raise StudyError(f"{e} (the trials are kept in outputs/"
                             f"{name}_trials*.parquet; running the study "
                             "again reuses them)") from None
        for solver, string in winners.items():
            record(failed, solver, string, chosen[solver][0],
                   "confirmation")
    saved = study_record(study, names, failures, fixed, files)
    path = Path(bench) / "outputs" / f"{name}_study.json"
    path.write_text(json.dumps(saved, indent=1) + "\n")
    return study_result(saved, pd.concat(frames), defaults, confirm)


def numeric_target(study):
    """The study's target when it is a number (selection on the steps to
    reach it), else None."""
    target = study["target"]
    return target if isinstance(target, (int, float)) and \
        not isinstance(target, bool) else None


# What of a study the record keeps: its file's settings as checked.
RECORDED = ("name", "dataset", "protocol", "trials", "trial_seeds",
            "confirm_seeds", "seed", "select", "target", "baseline",
            "benchopt_args", "spaces")


def study_record(study, names, failures, fixed, trial_files):
    """What a study's results files do not hold, as JSON-ready data: the
    study's settings and search spaces, each solver's scale rule, the
    trials run (``names``), the runs that raised (read in benchopt's log),
    the values the thesis protocol pinned, and the results files. With the
    files, ``study_result`` rebuilds the report without the solvers' code
    (which may have changed since)."""
    name = study["name"]
    return dict(
        study={k: study[k] for k in RECORDED},
        scale_rules={s: cls.scale.describe()
                     for s, cls in study["classes"].items()
                     if s in study["spaces"]},
        names=names, failures=failures,
        fixed={s: v for s, v in fixed.items() if s != study["baseline"]},
        files=dict(trials=list(trial_files),
                   defaults=f"{name}_defaults.parquet",
                   confirm=f"{name}_confirm.parquet"))


def study_result(record, trials_df, defaults, confirm):
    """What the report shows, from a study's record and its three results
    frames: the winners are selected again from the trials (the same rule
    as when the study ran), every number is computed from the frames."""
    study = dict(record["study"], scale_rules=record["scale_rules"])
    names = record["names"]
    chosen = select(trials_df, names, study["select"],
                    numeric_target(study))
    return dict(study=study, trials=trials_df, defaults=defaults,
                names=names, chosen=chosen,
                winners={s: solver_string(s, p)
                         for s, (p, _) in chosen.items()},
                confirm=confirm, failures=record["failures"],
                fixed=record["fixed"])
