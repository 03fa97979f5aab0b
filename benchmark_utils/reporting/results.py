"""Numbers behind the result plots: curves averaged over seeds, the speedup
table (thesis Table 4.4), the final-metrics table (Tables 4.2, 4.3) and the
(alpha, beta) grids (Figures 4.1, 4.12-4.14).

Every function takes a results frame as ``benchopt run`` writes it (one row
per evaluation: ``solver_name``, ``idx_rep``, ``stop_val``, ``time``,
``objective_*`` columns, ``p_solver_*`` parameters) already restricted to one
dataset and objective, and returns plain pandas/numpy values. The plot
classes in plots/ only format them.

Repetitions ("seeds") of a solver evaluate at the same points (same
schedule); their curves are aligned on benchopt's evaluation index
``stop_val``.
"""
import re
import warnings

import numpy as np
import pandas as pd

# x axes a curve can be drawn against: label -> column. The objective
# counts examples seen in the task's unit: samples, or tokens for language
# models (samples are steps times the batch size: not offered).
X_AXES = {"epoch": "objective_epoch", "step": "objective_step",
          "time": "time", "tokens": "objective_tokens"}
# Objective columns that are bookkeeping, not metrics.
NOT_METRICS = {"objective_name", "objective_lr", "objective_diverged",
               "objective_budget_done", "objective_samples",
               "objective_device_runs", "objective_state_bytes_per_param",
               "objective_peak_memory_mib",
               *X_AXES.values()}


def device_runs(df):
    """The most runs that shared a device during one evaluation stage of
    these results (training/sharing.py); 1 where none did, or for results
    from before the count was recorded."""
    if "objective_device_runs" not in df:
        return 1
    most = df["objective_device_runs"].max()
    return int(most) if pd.notna(most) else 1


def packing_warning(df):
    """What every time comparison of packed results must say; empty where
    no run shared its device."""
    n = device_runs(df)
    if n <= 1:
        return ""
    return (f"Packed runs: up to {n} runs shared a device at once, so their "
            "wall-clock times distort each other and are not comparable "
            "with runs alone on a device. Steps and epochs are exact.")


def x_axes(df):
    """Labels of the x axes that ``df`` can draw, epochs first."""
    return [label for label, col in X_AXES.items()
            if col in df and df[col].notna().any()]


def x_column(label):
    """The column of an x axis label of ``x_axes``."""
    return X_AXES[label]


def _numeric_objective_columns(df):
    return [c for c in df.columns if c.startswith("objective_")
            and c not in NOT_METRICS and pd.api.types.is_numeric_dtype(df[c])]


def metric_columns(df):
    """Numeric objective columns that are metrics (not throughputs such as
    samples_per_second), ``objective_value`` first."""
    cols = [c for c in _numeric_objective_columns(df)
            if not c.endswith("_per_second")]
    return sorted(cols, key=lambda c: c != "objective_value")


def curve_columns(df):
    """What a convergence plot can show: the metrics, then the learning
    rate (the schedule) and the throughputs."""
    return metric_columns(df) + ["objective_lr"] * ("objective_lr" in df) \
        + [c for c in _numeric_objective_columns(df)
           if c.endswith("_per_second")]


def higher_is_better(column):
    """Accuracies are maximized; losses, perplexities, values minimized."""
    return bool(re.search(r"acc|top\d", column))


def metric_label(column):
    return column.removeprefix("objective_")


def solver_base(name):
    return name.split("[", 1)[0]


def solver_params(name):
    """{parameter: value as written} of a solver name such as
    "innaprop[alpha=0.1,beta=0.9]"."""
    inner = name.partition("[")[2].removesuffix("]")
    if not inner:
        return {}
    return dict(item.split("=", 1) for item in re.split(r",(?=\w+=)", inner))


def short_names(names):
    """{name: short name}: each solver without the parameters shared by
    every solver of its family in ``names`` ("adamw" rather than
    "adamw[beta1=0.9,...]"; "innaprop[alpha=0.1,beta=0.9]" in a grid)."""
    parsed = {n: (solver_base(n), solver_params(n)) for n in names}
    short = {}
    for name, (base, params) in parsed.items():
        family = [p for b, p in parsed.values() if b == base]
        keep = [k for k in params
                if len({p.get(k) for p in family}) > 1]
        short[name] = base + (
            "[" + ",".join(f"{k}={params[k]}" for k in keep) + "]"
            if keep else "")
    return short


def solvers_in_order(df, first="adamw"):
    """Solver names of ``df``: the ``first`` family (the baseline) first,
    then the others in order of appearance."""
    names = list(dict.fromkeys(df["solver_name"]))
    return sorted(names, key=lambda n: solver_base(n) != first)


def baselines(df, max_settings=3):
    """Solvers a speedup table can be measured against, the default
    first: those of families run with at most ``max_settings`` settings
    (AdamW, the thesis's two INNAprop settings; not each point of a grid),
    or the first solver if there are none."""
    names = solvers_in_order(df)
    counts = pd.Series([solver_base(n) for n in names]).value_counts()
    return [n for n in names if counts[solver_base(n)] <= max_settings] \
        or names[:1]


def bands(df):
    """Band choices: none to choose with one seed per solver."""
    several = df.groupby("solver_name")["idx_rep"].nunique().max() > 1
    return ["std", "min-max"] if several else ["std"]


def n_diverged(runs):
    """Repetitions of one solver that diverged."""
    if "objective_diverged" not in runs:
        return 0
    return int((runs.groupby("idx_rep")["objective_diverged"].max() > 0)
               .sum())


def seed_table(runs, column):
    """One solver's runs as a table: one row per evaluation (``stop_val``),
    one column per repetition, values of ``column``."""
    return runs.groupby(["stop_val", "idx_rep"])[column].last().unstack()


def x_values(runs, x_col):
    """The x value of each evaluation, averaged over repetitions (identical
    for epochs and steps, not for wall time)."""
    return runs.groupby("stop_val")[x_col].mean()


def mean_curve(runs, column, x_col, band="std"):
    """Mean over repetitions of ``column`` at each evaluation, and a band.

    band: "std" (mean +- the standard deviation over repetitions, ddof=1)
    or "min-max". With one repetition there is no band (None).

    The curve stops at the last evaluation where every repetition has a
    finite value: a seed that diverged or was cut short ends the mean
    curve there rather than silently leaving the average.

    Returns a DataFrame indexed by ``stop_val`` with x, mean, low, high,
    n_seeds.
    """
    return band_curve(seed_table(runs, column), x_values(runs, x_col), band)


def band_curve(values, x, band="std"):
    """``mean_curve`` from a ``seed_table`` and ``x_values``."""
    x = x.reindex(values.index)
    complete = np.isfinite(values.to_numpy(dtype=float)).all(axis=1)
    stop = len(complete) if complete.all() else int(np.argmin(complete))
    values, x = values.iloc[:stop], x.iloc[:stop]
    n = values.shape[1]
    mean = values.mean(axis=1)
    if n < 2:
        low = high = None
    elif band == "std":
        std = values.std(axis=1, ddof=1)
        low, high = mean - std, mean + std
    elif band == "min-max":
        low, high = values.min(axis=1), values.max(axis=1)
    else:
        raise ValueError(f"band must be 'std' or 'min-max', got {band!r}.")
    return pd.DataFrame({"x": x, "mean": mean, "low": low, "high": high,
                         "n_seeds": n}, index=values.index)


def _first_reaching(curve, target, maximize):
    """Index of the first row of ``curve["mean"]`` at least as good as
    ``target``, or None."""
    good = (curve["mean"] >= target) if maximize else \
        (curve["mean"] <= target)
    return good.idxmax() if good.any() else None


def solver_curves(df, column, step_col="objective_step"):
    """Per solver: its mean curve of ``column`` (``mean_curve`` against
    wall time, plus the mean step of each evaluation) and its best value
    per repetition, mean and std (ddof=1) over repetitions. What
    ``speedup_table`` needs, computed once for every baseline."""
    maximize = higher_is_better(column)
    if step_col not in df:
        step_col = "stop_val"
    curves = {}
    for solver in solvers_in_order(df):
        runs = df[df["solver_name"] == solver]
        curve = mean_curve(runs, column, "time")
        curve["step"] = runs.groupby("stop_val")[step_col].mean().reindex(
            curve.index)
        per_seed = runs.groupby("idx_rep")[column].agg(
            "max" if maximize else "min")
        n = len(per_seed)
        _, low, high, _ = t_interval(per_seed)
        curves[solver] = dict(
            curve=curve, best_mean=per_seed.mean(), best_low=low,
            best_high=high, best_values=per_seed.to_numpy(dtype=float),
            best_std=per_seed.std(ddof=1) if n > 1 else np.nan,
            n_seeds=n, n_diverged=n_diverged(runs))
    return curves


def speedup_table(df, column="objective_value", baseline=None, curves=None):
    """Table 4.4: how fast each solver reaches the baseline's best.

    For every solver:
    - best: its best value of ``column`` over the run, per repetition,
      then mean and standard deviation (ddof=1) over repetitions;
    - the target is the best value of the baseline's mean curve (mean over
      repetitions at each evaluation), reached by the baseline at step
      ``S_base`` and wall time ``T_base``;
    - step / time: the first evaluation at which the solver's mean curve is
      at least as good as the target (NaN if never);
    - speedup_steps = S_base / step, speedup_time = T_base / time (the
      thesis's "51,000 steps (1.96x faster)" for a baseline best at 100,000
      steps).
    Steps and times are those of evaluations: their resolution is the
    evaluation interval (the recipe's ``eval_every``).

    Args:
        df: results of one dataset and objective.
        column: the metric; accuracies are maximized, the rest minimized.
        baseline: a solver name of ``df``; default: the first AdamW.
        curves: ``solver_curves(df, column)``, if already computed.

    Returns a DataFrame indexed by solver name (baseline first) with
    best_mean, best_std, best_low, best_high (Student-t interval), best_p
    (Welch test against the baseline's bests), n_seeds, n_diverged, step,
    time, speedup_steps, speedup_time; its ``attrs`` hold target, baseline, base_step,
    base_time.
    """
    maximize = higher_is_better(column)
    curves = solver_curves(df, column) if curves is None else curves
    solvers = list(curves)
    baseline = solvers[0] if baseline is None else baseline
    if baseline not in curves:
        raise ValueError(f"baseline {baseline!r} is not among the solvers "
                         f"of these results: {solvers}.")
    if curves[baseline]["n_diverged"]:
        raise ValueError(
            f"Baseline diverged: no speedup ({baseline} diverged in "
            f"{curves[baseline]['n_diverged']} of "
            f"{curves[baseline]['n_seeds']} seeds, so its best value is "
            "that of an unfinished run). Pick another baseline.")
    base = curves[baseline]["curve"]
    if base.empty:
        raise ValueError(f"The baseline {baseline} has no evaluation where "
                         "all its repetitions are finite.")
    at = base["mean"].idxmax() if maximize else base["mean"].idxmin()
    target = base.loc[at, "mean"]
    base_step, base_time = base.loc[at, "step"], base.loc[at, "x"]
    rows = {}
    for solver in sorted(solvers, key=lambda s: s != baseline):
        info = curves[solver]
        curve = info["curve"]
        hit = _first_reaching(curve, target, maximize)
        step = time = np.nan
        if hit is not None:
            step, time = curve.loc[hit, "step"], curve.loc[hit, "x"]
        rows[solver] = dict(
            best_mean=info["best_mean"], best_std=info["best_std"],
            best_low=info["best_low"], best_high=info["best_high"],
            best_p=np.nan if solver == baseline else welch_test(
                info["best_values"], curves[baseline]["best_values"]),
            n_seeds=info["n_seeds"], n_diverged=info["n_diverged"],
            step=step, time=time,
            speedup_steps=base_step / step if step > 0 else np.nan,
            speedup_time=base_time / time if time > 0 else np.nan)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs.update(target=target, baseline=baseline,
                       base_step=base_step, base_time=base_time,
                       maximize=maximize)
    return table


# Tables 4.2 and 4.3: test top-1 (and top-5) accuracy, then the losses.
FINAL_METRICS = {"objective_test_acc": "test top-1 (%)",
                 "objective_test_top5": "test top-5 (%)",
                 "objective_test_loss": "test loss",
                 "objective_train_loss": "train loss",
                 "objective_train_acc": "train acc (%)"}


def final_columns(df):
    """The columns of the final-metrics table present in ``df``: the image
    classification ones, then any other metric (a language model's
    validation loss or perplexity); the value alone if nothing else."""
    cols = [c for c in FINAL_METRICS if c in df and df[c].notna().any()]
    cols += [c for c in metric_columns(df)
             if c not in FINAL_METRICS and c != "objective_value"]
    return cols or ["objective_value"]


def final_metrics(df, columns=None, baseline=None):
    """Each solver's metrics at its last evaluation, mean and standard
    deviation (ddof=1) over repetitions, the 95% Student-t interval of the
    mean (``t_interval``) and the p-value of a two-sided Welch t-test
    against the ``baseline`` (default: the first solver, AdamW).

    A repetition that diverged has no meaningful final value: it is left
    out of the means and counted in ``n_diverged``; one stopped before the
    end of its budget (--timeout) is counted in ``n_cut``.

    Returns a DataFrame indexed by solver with, for each column c,
    ``c`` (mean), ``c:std``, ``c:low``, ``c:high`` and ``c:p`` (NaN for the
    baseline itself), plus n_seeds, n_diverged, n_cut; ``attrs["baseline"]``.
    """
    columns = final_columns(df) if columns is None else columns
    rows, kept_values = {}, {}
    for solver in solvers_in_order(df):
        runs = df[df["solver_name"] == solver].sort_values("stop_val")
        last = runs.groupby("idx_rep").tail(1).set_index("idx_rep")
        diverged = last.get("objective_diverged",
                            pd.Series(0, index=last.index)) > 0
        done = last.get("objective_budget_done",
                        pd.Series(1.0, index=last.index))
        kept = last[~diverged]
        row = dict(n_seeds=len(last), n_diverged=int(diverged.sum()),
                   n_cut=int(((done < 1) & ~diverged).sum()))
        for col in columns:
            values = kept[col].astype(float) if col in kept else \
                pd.Series(dtype=float)
            row[col] = values.mean()
            row[f"{col}:std"] = (values.std(ddof=1) if len(values) > 1
                                 else np.nan)
            _, row[f"{col}:low"], row[f"{col}:high"], _ = t_interval(values)
            kept_values[solver, col] = values
        rows[solver] = row
    baseline = next(iter(rows), None) if baseline is None else baseline
    for solver, row in rows.items():
        for col in columns:
            row[f"{col}:p"] = np.nan if solver == baseline else welch_test(
                kept_values[solver, col], kept_values[baseline, col])
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs["baseline"] = baseline
    return table


def varying_params(runs):
    """The ``p_solver_*`` parameters that take several values in
    ``runs`` (one solver family), in column order."""
    return [c.removeprefix("p_solver_") for c in runs.columns
            if c.startswith("p_solver_")
            and runs[c].map(grid_value).nunique() > 1]


def grid_value(value):
    """A parameter value as a grid axis holds it: None (the recipe's
    value, stored as NaN) is a value of its own, "None"."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "None"
    return value


def _grid_order(value):
    return (0, 0.0, "") if value == "None" else (
        (1, float(value), "") if isinstance(value, (int, float, np.number))
        else (2, 0.0, str(value)))


def grid_solvers(df):
    """Solver families of ``df`` run over a grid of at least two
    parameters."""
    return [base for base in dict.fromkeys(df["solver_name"].map(solver_base))
            if len(varying_params(
                df[df["solver_name"].map(solver_base) == base])) >= 2]


def checkpoints(df, n_max=4):
    """Where a heatmap can be read: a few evaluated epochs (the last one,
    then about 10%, 25% and 50% of it), or steps when the budget is in
    steps. Returns labels such as "epoch 200", "epoch 20"."""
    unit = "epoch"
    if "objective_diverged" in df:
        # A diverged run's last point falls mid-epoch: not a place where
        # the other runs were evaluated.
        df = df[df["objective_diverged"].fillna(0) == 0]
    points = df["objective_epoch"].dropna() if "objective_epoch" in df \
        else pd.Series(dtype=float)
    if points.empty or not np.allclose(points, points.round()):
        unit, points = "step", df["objective_step"].dropna()
    values = np.unique(points.to_numpy())
    last = values.max()
    chosen = []
    for fraction in (1.0, 0.1, 0.25, 0.5)[:n_max]:
        value = values[np.argmin(np.abs(values - fraction * last))]
        if value > 0 and value not in chosen:
            chosen.append(value)
    return [f"{unit} {value:g}" for value in chosen]


def grid(df, solver, params, column, at):
    """A solver family's metric over a grid of two of its parameters.

    Args:
        df: results of one dataset and objective.
        solver: the family, e.g. "innaprop".
        params: (x, y) parameter names, e.g. ("alpha", "beta").
        column: the metric.
        at: "epoch E" or "step S" (see ``checkpoints``).

    Returns a list of panels, one per combination of the family's other
    varying parameters: dicts with ``fixed`` ({name: value}), ``values``
    (DataFrame, rows: y values, columns: x values; the metric at ``at``
    averaged over repetitions; NaN where missing), ``diverged`` (same
    shape, True where some repetition diverged before ``at``) and
    ``n_seeds``.
    """
    unit, value = at.split(" ")
    col = {"epoch": "objective_epoch", "step": "objective_step"}[unit]
    runs = df[df["solver_name"].map(solver_base) == solver]
    px, py = (f"p_solver_{p}" for p in params)
    runs = runs.assign(**{c: runs[c].map(grid_value) for c in runs.columns
                          if c.startswith("p_solver_")})
    others = [f"p_solver_{p}" for p in varying_params(runs)
              if p not in params]
    xs = sorted(runs[px].unique(), key=_grid_order)
    ys = sorted(runs[py].unique(), key=_grid_order)
    panels = []
    groups = runs.groupby(others, sort=False) if others else \
        [((), runs)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        values = pd.DataFrame(np.nan, index=ys, columns=xs)
        diverged = pd.DataFrame(False, index=ys, columns=xs)
        n_seeds = 0
        for (x, y), cell in part.groupby([px, py], sort=False):
            at_point = cell[np.isclose(cell[col], float(value))]
            seeds = cell["idx_rep"].nunique()
            n_seeds = max(n_seeds, seeds)
            finite = at_point[np.isfinite(at_point[column])]
            if finite["idx_rep"].nunique() == seeds:
                values.loc[y, x] = finite[column].mean()
            elif cell.get("objective_diverged",
                          pd.Series(0, index=cell.index)).max() > 0:
                diverged.loc[y, x] = True
        panels.append(dict(
            fixed={o.removeprefix("p_solver_"): k
                   for o, k in zip(others, key)},
            values=values, diverged=diverged, n_seeds=n_seeds))
    return panels


# -- intervals, tests and targets --------------------------------------------
CONFIDENCE = 0.95
ALPHA = 0.05        # significance level of the Welch tests


def t_interval(values, confidence=CONFIDENCE):
    """(mean, low, high, n): the Student-t interval of the mean of the
    finite ``values`` (scipy.stats.t); low = high = NaN with fewer than two
    values, where no interval can be given."""
    from scipy import stats
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return np.nan, np.nan, np.nan, 0
    mean = v.mean()
    if n < 2:
        return mean, np.nan, np.nan, n
    sem = v.std(ddof=1) / np.sqrt(n)
    if sem == 0:
        return mean, mean, mean, n
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sem)
    return mean, low, high, n


def log_t_interval(values, confidence=CONFIDENCE):
    """(geometric mean, low, high, n) of the finite positive ``values``:
    ``t_interval`` of their logarithms, exponentiated. For quantities that
    cannot be negative (steps or seconds to a target), whose Student-t
    interval of the mean goes below zero with two or three spread seeds
    (1899 [-782, 4580] steps); on the log scale it is always positive. A
    zero (reached at the first evaluation) has no log: the plain interval,
    cut at zero, where the mean cannot be."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if (v < 0).any():
        raise ValueError(f"log_t_interval needs values >= 0, got {v}")
    if (v == 0).any():      # reached at the first evaluation: no log scale
        mean, low, high, n = t_interval(v, confidence)
        return mean, max(low, 0.0), high, n
    mean, low, high, n = t_interval(np.log(v), confidence)
    return np.exp(mean), np.exp(low), np.exp(high), n


def welch_test(values, base_values):
    """Two-sided Welch t-test of ``values`` against ``base_values``
    (scipy.stats.ttest_ind, equal_var=False): the p-value, NaN when either
    side has fewer than two finite values."""
    from scipy import stats
    a, b = (np.asarray(v, dtype=float) for v in (values, base_values))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return np.nan
    if np.var(a) == 0 and np.var(b) == 0:
        return 1.0 if a[0] == b[0] else 0.0
    with warnings.catch_warnings():    # nearly equal samples: still valid
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def significance(p):
    """How a table reads a p-value."""
    if not np.isfinite(p):
        return "no test (fewer than 2 seeds)"
    if p < ALPHA:
        return f"significant (p = {p:.2g})"
    return f"no significant difference (p = {p:.2g})"


def steps_to_target(steps, values, target, maximize):
    """The first of ``steps`` (any increasing x: steps, seconds) at which
    ``values`` is at least as good as ``target``, or NaN if never. A
    non-finite value (a diverged run) never reaches it."""
    v = np.asarray(values, dtype=float)
    good = np.isfinite(v) & ((v >= target) if maximize else (v <= target))
    return float(np.asarray(steps, dtype=float)[np.argmax(good)]) \
        if good.any() else np.nan


def per_seed_to_target(runs, column, target, x_col="objective_step"):
    """One solver's runs: per repetition, the ``x_col`` value (a step, or
    ``time``) of its first evaluation reaching ``target`` (NaN if never)."""
    maximize = higher_is_better(column)
    if x_col not in runs:
        x_col = "stop_val"
    return runs.sort_values("stop_val").groupby("idx_rep").apply(
        lambda r: steps_to_target(r[x_col], r[column], target, maximize),
        include_groups=False)


def target_table(df, column, target):
    """Per solver: steps and time to reach ``target`` of ``column``
    (geometric mean and its interval, ``log_t_interval``, over the seeds
    that reached it) and the fraction of seeds that reached it."""
    rows = {}
    for solver in solvers_in_order(df):
        runs = df[df["solver_name"] == solver]
        steps = per_seed_to_target(runs, column, target)
        times = per_seed_to_target(runs, column, target, "time")
        row = dict(n_seeds=len(steps), reached=float(steps.notna().mean()))
        for name, values in (("step", steps), ("time", times)):
            mean, low, high, _ = log_t_interval(values)
            row.update({name: mean, f"{name}:low": low, f"{name}:high": high})
        rows[solver] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs.update(target=target, column=column)
    return table


def speedup_interval(df, column, baseline, solver, x_col="objective_step",
                     n_resamples=999, seed=0):
    """Bootstrap percentile interval (scipy.stats.bootstrap, seeds of the
    baseline and of the solver resampled independently) of the speedup
    ``speedup_table`` reports: the baseline's x at its mean curve's best
    over the solver's first x reaching it. (NaN, NaN) with fewer than two
    seeds on either side."""
    from scipy import stats
    maximize = higher_is_better(column)
    if x_col not in df:
        x_col = "stop_val"
    tables = {}
    for name in (baseline, solver):
        runs = df[df["solver_name"] == name]
        tables[name] = (seed_table(runs, column).to_numpy(dtype=float),
                        seed_table(runs, x_col).to_numpy(dtype=float))
    (bv, bx), (sv, sx) = tables[baseline], tables[solver]
    if bv.shape[1] < 2 or sv.shape[1] < 2:
        return np.nan, np.nan

    def speedup(ib, js):
        base = np.nanmean(bv[:, ib], axis=1)
        if not np.isfinite(base).any():
            return np.nan
        at = np.nanargmax(base) if maximize else np.nanargmin(base)
        curve = sv[:, js].mean(axis=1)
        x = steps_to_target(np.nanmean(sx[:, js], axis=1), curve, base[at],
                            maximize)
        # Never reached in a resample: no speedup (0), not a gap.
        return np.nanmean(bx[at, ib]) / x if x > 0 else 0.0

    res = stats.bootstrap(
        (np.arange(bv.shape[1]), np.arange(sv.shape[1])), speedup,
        paired=False, vectorized=False, n_resamples=n_resamples,
        method="percentile", confidence_level=CONFIDENCE,
        random_state=np.random.default_rng(seed))
    return res.confidence_interval.low, res.confidence_interval.high
