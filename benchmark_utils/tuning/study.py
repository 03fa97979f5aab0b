"""A tuning study: its file, its trials, the selection and the confirmation.

Every run goes through ``benchopt run`` (a subprocess, as a user runs it),
so benchopt's cache, resume, ``-j`` and ``--parallel-config`` (SLURM)
apply; ``benchopt_args`` in the study file are passed on.
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmark_utils.tuning.space import check_space, draw

PROTOCOLS = ("tuned", "thesis")
DEFAULTS = dict(trials=5, trial_seeds=1, confirm_seeds=3, seed=0,
                baseline="adamw", protocol="tuned",
                select="objective_val_loss", target=None, benchopt_args=[])


def load_study(path, bench="."):
    """The study file (YAML) as a dict, checked: ``dataset`` (benchopt's
    dataset string, e.g. "digits[n_val=270]"), ``solvers`` (names, or
    {name: {search_space: ...}}), and the keys of DEFAULTS."""
    with open(path) as f:
        study = {**DEFAULTS, **(yaml.safe_load(f) or {})}
    study["name"] = study.get("name") or Path(path).stem
    allowed = {*DEFAULTS, "name", "dataset", "solvers"}
    if set(study) - allowed:
        raise ValueError(f"{path}: unknown keys "
                         f"{sorted(set(study) - allowed)}; allowed: "
                         f"{sorted(allowed)}.")
    for key in ("dataset", "solvers"):
        if not study.get(key):
            raise ValueError(f"{path}: {key!r} is required.")
    if study["protocol"] not in PROTOCOLS:
        raise ValueError(f"{path}: protocol={study['protocol']!r}; allowed: "
                         f"{PROTOCOLS}.")
    if not str(study["select"]).startswith("objective_val_"):
        raise ValueError(
            f"{path}: select={study['select']!r}: selection must read a "
            "validation column (objective_val_loss, objective_val_acc, ...), "
            "never the test split.")
    for key in ("trials", "trial_seeds", "confirm_seeds"):
        if not isinstance(study[key], int) or study[key] < 1:
            raise ValueError(f"{path}: {key}={study[key]!r} must be an "
                             "integer >= 1.")
    target = study["target"]
    if not (target is None or target == "tuned_baseline_median"
            or isinstance(target, (int, float))):
        raise ValueError(f"{path}: target={target!r}; allowed: a number, "
                         "'tuned_baseline_median' or nothing.")
    classes = solver_classes(bench)
    spaces = {}
    for entry in study["solvers"]:
        name, own = (entry, {}) if isinstance(entry, str) else \
            next(iter(entry.items()))
        if name not in classes:
            raise ValueError(f"{path}: solver {name!r} is not in "
                             f"{bench}/solvers; found: {sorted(classes)}.")
        cls = classes[name]
        space = (own or {}).get("search_space") or getattr(
            cls, "search_space", None)
        if not space:
            raise ValueError(f"{path}: solver {name!r} has no search_space "
                             "(neither the study nor the solver gives one).")
        spaces[name] = check_space(space, name, cls.parameters)
    study["spaces"], study["classes"] = spaces, classes
    if study["baseline"] not in spaces:
        raise ValueError(f"{path}: baseline {study['baseline']!r} is not "
                         f"among the solvers {sorted(spaces)}.")
    return study


def solver_classes(bench):
    """{name: Solver class} of ``bench/solvers/*.py``."""
    bench = str(Path(bench).resolve())
    if bench not in sys.path:
        sys.path.insert(0, bench)
    classes = {}
    for file in sorted(Path(bench, "solvers").glob("*.py")):
        spec = importlib.util.spec_from_file_location(
            f"study_solver_{file.stem}", file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        classes[module.Solver.name] = module.Solver
    return classes


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
    """``benchopt run`` of ``solvers`` (strings) on the study's dataset;
    returns its results frame. ``page=False`` skips benchopt's result page
    (the trials': dozens of solvers, slow to render, not read)."""
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
           *map(str, study["benchopt_args"])]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=dict(
        os.environ, BENCHOPT_RAISE_ON_ERROR=os.environ.get(
            "BENCHOPT_RAISE_ON_ERROR", "1")))
    return pd.read_parquet(result)


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
    ``column``. ``names`` is {solver: {trial solver string: params}}.

    Without a target the score is the final value (accuracies maximized,
    losses minimized); with one it is the mean over seeds of the steps to
    reach it (fewer is better, never reached is worst), the final value
    breaking ties."""
    from benchmark_utils.reporting.results import (higher_is_better,
                                                   per_seed_to_target)
    maximize = higher_is_better(column)
    scores = trial_scores(df, column)
    chosen = {}
    for solver, options in names.items():
        best = None
        for params in options.values():
            string = trial_name(df, solver, params)
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
        chosen[solver] = (best[1], best[2])
    return chosen


def reused_lr_wd(study, base_params):
    """{solver: {lr, weight_decay}}: the tuned baseline's values, through
    each solver's scale rule (the values its lr=None would take from a
    recipe holding them), rounded as trials are."""
    lr_wd = {k: base_params[k] for k in ("lr", "weight_decay")
             if k in base_params}
    fixed = {}
    for name, cls in study["classes"].items():
        scales = dict(lr=cls.scale.lr, weight_decay=cls.scale.weight_decay)
        fixed[name] = {k: float(f"{v * scales[k]:.4g}")
                       for k, v in lr_wd.items() if k in cls.parameters}
    return fixed


def run_study(study, bench="."):
    """Trials, selection and confirmation; returns what the report needs."""
    name, column = study["name"], study["select"]
    target = study["target"] if isinstance(study["target"], (int, float)) \
        else None
    base = study["baseline"]
    names, frames, fixed = {}, [], {}

    def run_trials(plan, tag):
        strings = {s: {solver_string(s, p): p for p in ps}
                   for s, ps in plan.items()}
        names.update(strings)
        frames.append(run_benchopt(
            bench, study, [x for v in strings.values() for x in v],
            study["trial_seeds"], f"{name}_{tag}", study["seed"],
            page=False))
        return select(frames[-1], strings, column, target)

    if study["protocol"] == "thesis":
        # Table 4.1: AdamW tuned; the others reuse its lr and weight decay
        # (through their scale rules) and search only their own parameters.
        chosen = run_trials(trials(study, only=[base]), "trials_baseline")
        fixed = reused_lr_wd(study, chosen[base][0])
        others = [s for s in study["spaces"] if s != base]
        chosen.update(run_trials(trials(study, fixed, only=others),
                                 "trials_others"))
    else:
        chosen = run_trials(trials(study), "trials")
    winners = {s: solver_string(s, p) for s, (p, _) in chosen.items()}
    # Fresh seeds: benchopt's base seed moves past the trials'.
    confirm = run_benchopt(bench, study, winners.values(),
                           study["confirm_seeds"], f"{name}_confirm",
                           study["seed"] + 1)
    return dict(study=study, trials=pd.concat(frames), names=names,
                chosen=chosen, winners=winners, confirm=confirm,
                fixed={s: v for s, v in fixed.items() if s != base})
