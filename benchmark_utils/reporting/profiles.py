"""One score across workloads: AlgoPerf's performance profiles.

Computed as mlcommons/algorithmic-efficiency scores submissions
(scoring/performance_profile.py ``compute_performance_profiles``,
scoring/score_submissions.py ``compute_leaderboard_score``):

- For workload w and solver s, t[w, s] is the time (or the number of
  steps) to reach the workload's target: numpy's median over seeds (over
  studies, in AlgoPerf) of the first evaluation at which a seed's curve of
  the target metric is at least as good as the target. A seed that never
  reaches it counts as infinite, so the median is infinite as soon as half
  of the seeds never reach it.
- A time more than 4 times the fastest solver's on that workload counts as
  infinite too.
- The ratio r[w, s] = t[w, s] / min over solvers of t[w, s] is 1 for the
  fastest, infinite for a solver that never reaches the target. The profile
  of s is rho_s(tau) = the fraction of workloads with r[w, s] <= tau, on
  100 evenly spaced tau in [1, 4], and its score is the profile's integral
  by the trapezoidal rule divided by 4 - 1: 1 for a solver fastest
  everywhere, 0 for one that never comes within 4 times the best.

A workload is one (dataset with its parameters, objective) pair; its target
is the median over the baseline's seeds of their best value of the target
metric (validation loss where it exists), the AlgoPerf way of setting
targets from a tuned baseline.

Written here, not taken from AlgoPerf's package: that package scores its
own logs and submissions, and is not installable from PyPI on its own.
"""
import math

import numpy as np
import pandas as pd

from benchmark_utils.reporting import html, provenance, results
from benchmark_utils.reporting.budget import (ADJUSTED, adjusted_p,
                                              adjusted_verdict)
from benchmark_utils.reporting.results import (higher_is_better,
                                               per_seed_to_target,
                                               short_names, solver_base,
                                               log_t_interval, welch_test)

TAU_MAX = 4.0
# AlgoPerf's points of the profile (score_submissions.py: num_points=100).
TAUS = np.linspace(1.0, TAU_MAX, 100)
TARGET_COLUMNS = ("objective_val_loss", "objective_value")
NEVER = ("A solver's time to a target is the median over its seeds; a seed "
         "that never reaches the target counts as infinitely slow, so a "
         "solver half or more of whose seeds never reach it counts as "
         "infinitely slow there, and so does one slower than 4 times the "
         "fastest solver on that workload (AlgoPerf's rule): its ratio is "
         "infinite and it adds nothing to its profile or score there.")


def target_column(df):
    for col in TARGET_COLUMNS:
        if col in df and df[col].notna().any():
            return col
    raise ValueError("These results have no objective_value.")


def baseline_of(df, baseline="adamw"):
    names = list(dict.fromkeys(df["solver_name"]))
    for name in names:
        if solver_base(name) == baseline:
            return name
    return names[0]


def workload_target(df, column, baseline):
    """The median over the baseline's seeds of each seed's best value; for
    an even number of seeds the worse of the two middle ones, so that at
    least half of the baseline's seeds reach it."""
    runs = df[df["solver_name"] == baseline]
    maximize = higher_is_better(column)
    best = runs.groupby("idx_rep")[column].agg("max" if maximize else "min")
    ordered = sorted(best.dropna(), reverse=maximize)   # best first
    return float(ordered[len(ordered) // 2])


def median(values):
    """numpy's median over seeds: infinite as soon as half of them are
    (AlgoPerf's ``np.median`` over studies)."""
    return float(np.median(np.asarray(values, dtype=float)))


def seed_times(runs, column, target, x):
    """Per seed: the first ``x`` (time or step) at which it reaches
    ``target``, inf if never (results.per_seed_to_target's NaN)."""
    return per_seed_to_target(runs, column, target, x).fillna(math.inf)


def interval(values):
    """The 95% interval of the finite values' geometric mean (a Student-t
    interval on the log scale: times and steps are positive, and the plain
    t-interval of two or three seeds can go below zero)."""
    return tuple(log_t_interval(values)[1:3])


def leaderboard(df, baseline="adamw"):
    """Per solver of one workload: median steps and time to the target,
    their 95% intervals over the seeds that reach it, the fraction of seeds
    reaching it, and Welch's p-value against the baseline's times, raw
    (``p_time``) and adjusted over the workload's solvers
    (``p_time_adjusted``, Benjamini-Hochberg)."""
    column = target_column(df)
    base = baseline_of(df, baseline)
    target = workload_target(df, column, base)
    x_step = "objective_step" if "objective_step" in df else "stop_val"
    rows = {}
    times = {}
    for solver in dict.fromkeys(df["solver_name"]):
        runs = df[df["solver_name"] == solver]
        steps = seed_times(runs, column, target, x_step)
        secs = seed_times(runs, column, target, "time")
        times[solver] = secs
        rows[solver] = dict(
            steps=median(steps), steps_interval=interval(steps),
            time=median(secs), time_interval=interval(secs),
            reached=float(np.isfinite(secs).mean()), n_seeds=len(secs))
    for solver, row in rows.items():
        row["p_time"] = (math.nan if solver == base
                         else welch_test(times[solver], times[base]))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["p_time_adjusted"] = adjusted_p(table["p_time"])
    table.attrs.update(target=target, column=column, baseline=base)
    return table


def cut(times):
    """AlgoPerf's rule: a time more than TAU_MAX times the workload's
    fastest counts as infinite (``times``: workloads x solvers)."""
    t = times.astype(float)
    return t.mask(t.gt(TAU_MAX * t.min(axis=1), axis=0), math.inf)


def ratios(times):
    """r[w, s] = t[w, s] / min_s t[w, s] (a DataFrame workloads x solvers)
    after ``cut``; inf where a solver never reaches the target (or is cut),
    and where no solver does."""
    t = cut(times)
    best = t.min(axis=1)
    r = t.div(best.where(best > 0, 1.0), axis=0)
    r[t.eq(best, axis=0)] = 1.0           # the fastest, 0 s or steps too
    return r.where(np.isfinite(r) & np.isfinite(t), math.inf)


def profile(r, taus=TAUS):
    """rho_s(tau): the fraction of workloads with r[w, s] <= tau."""
    return pd.DataFrame({s: [(r[s] <= tau).mean() for tau in taus]
                         for s in r.columns}, index=taus)


def score(r):
    """The profile's integral over [1, TAU_MAX] (trapezoidal rule on
    TAUS), divided by TAU_MAX - 1: AlgoPerf's leaderboard score."""
    prof = profile(r)
    return pd.Series(np.trapezoid(prof.to_numpy(), prof.index, axis=0)
                     / (TAU_MAX - 1), index=prof.columns)


def workloads(frames):
    """Split results (name -> frame) into workloads and check they may be
    aggregated. Returns ({workload: frame}, [left out: (what, why)],
    [warnings])."""
    kept, left_out, warnings = {}, [], []
    sources = {}
    for name, df in frames.items():
        for (dataset, objective), part in df.groupby(
                ["dataset_name", "objective_name"]):
            key = f"{dataset} / {objective}"
            if key not in kept:
                kept[key], sources[key] = part, name
                continue
            # The same workload in two files: one target, one recipe (the
            # dataset's parameters are in its name), one solver each.
            old = kept[key]
            clash = set(old["solver_name"]) & set(part["solver_name"])
            column = target_column(old)
            t_old = workload_target(old, column, baseline_of(old))
            t_new = workload_target(part, column, baseline_of(part))
            if baseline_of(part) in set(old["solver_name"]) and \
                    not math.isclose(t_old, t_new, rel_tol=1e-9):
                left_out.append((f"{name}: {key}", f"its target {t_new:.6g}"
                                 f" differs from {sources[key]}'s "
                                 f"{t_old:.6g}"))
            elif clash:
                left_out.append((f"{name}: {key}", "its solvers "
                                 f"{sorted(clash)} are already given by "
                                 f"{sources[key]}"))
            else:
                kept[key] = pd.concat([old, part], ignore_index=True)
    devices = set()
    for df in kept.values():
        info = provenance.columns(df)
        devices |= set(info.get("device", [])) or set(
            df.get("system-processor", pd.Series(dtype=str)).dropna())
    if len(devices) > 1:
        warnings.append("These results come from different hardware ("
                        + "; ".join(sorted(devices)) + "): the time-based "
                        "profile compares times measured on different "
                        "machines. The step-based one does not depend on "
                        "the hardware.")
    packed = [key for key, df in kept.items()
              if results.device_runs(df) > 1]
    if packed:
        warnings.append("Runs were packed on a device (several at once) in "
                        + ", ".join(sorted(packed)) + ": their "
                        "wall-clock times distort each other, so the "
                        "time-based profile is distorted there. The "
                        "step-based one is exact.")
    return kept, left_out, warnings


def profiles(frames, baseline="adamw"):
    """Everything the profile page shows: per axis ("steps", "time") the
    ratios, profile and scores, the leaderboards, what was left out and the
    warnings."""
    kept, left_out, warnings = workloads(frames)
    boards = {}
    for w, df in kept.items():
        try:
            boards[w] = leaderboard(df, baseline)
        except Exception as e:  # no target column, no time: left out
            left_out.append((w, f"no time to target can be computed "
                             f"({type(e).__name__}: {e})"))
    solvers = sorted({s for b in boards.values() for s in b.index})
    out = dict(leaderboards=boards, left_out=left_out, warnings=warnings)
    for axis in ("steps", "time"):
        times = pd.DataFrame({w: b[axis] for w, b in boards.items()}).T
        times = times.reindex(columns=solvers)
        r = ratios(times.fillna(math.inf))
        out[axis] = dict(ratios=r, profile=profile(r), score=score(r))
    return out


def _fmt(value, interval_=None, digits=4, ratio=1.0):
    """A median time or step count; "never" when infinite, and the 4x rule
    said where it made a finite time infinite (``ratio`` inf)."""
    if not np.isfinite(value):
        return "never (half or more of the seeds never reach it)"
    text = f"{value:.{digits}g}"
    if interval_ is not None and all(np.isfinite(interval_)):
        text += f" [{interval_[0]:.{digits}g}, {interval_[1]:.{digits}g}]"
    if not np.isfinite(ratio):
        text += f" (more than {TAU_MAX:g}x the fastest: counts as infinite)"
    return text


def page(result, assets_url="assets", title="Performance profiles"):
    """The profile page of ``profiles(...)``, loading plotly.js from
    ``assets_url`` (the site's own copy: no network)."""
    import plotly.graph_objects as go
    e = html.escape
    names = short_names(sorted(result["steps"]["score"].index))
    parts = []
    for axis, label in (("steps", "optimizer steps"), ("time", "time")):
        prof = result[axis]["profile"]
        fig = go.Figure()
        for s in prof.columns:
            fig.add_scatter(x=list(prof.index), y=list(prof[s]),
                            name=names.get(s, s),
                            mode="lines", line_shape="hv")
        fig.update_layout(title=f"Performance profile, {label} to target",
                          xaxis_title="tau (ratio to the fastest)",
                          yaxis_title="fraction of workloads within tau",
                          yaxis_range=[0, 1.05], height=420)
        # A fixed id: a rebuilt page differs only where its numbers do.
        parts.append(fig.to_html(include_plotlyjs=False, full_html=False,
                                 div_id=f"profile-{axis}"))
    scores = html.table(
        ["solver", "steps", "time"],
        [[names.get(s, s), f"{result['steps']['score'][s]:.3f}",
          f"{result['time']['score'][s]:.3f}"]
         for s in result["steps"]["score"].sort_values(ascending=False)
         .index])
    boards = []
    for w, b in result["leaderboards"].items():
        steps_r, time_r = (result[axis]["ratios"].loc[w]
                           for axis in ("steps", "time"))
        rows = [[names.get(s, s),
                 _fmt(r.steps, r.steps_interval, ratio=steps_r[s]),
                 _fmt(r.time, r.time_interval, ratio=time_r[s]),
                 f"{100 * r.reached:.0f}% of {r.n_seeds}",
                 "baseline" if s == b.attrs["baseline"]
                 else adjusted_verdict(r.p_time, r.p_time_adjusted)]
                for s, r in b.iterrows()]
        boards.append(
            f"<h3>{e(w)}</h3><p>Target: {e(b.attrs['column'])} "
            f"{b.attrs['target']:.6g} (median over "
            f"{e(names.get(b.attrs['baseline'], b.attrs['baseline']))}'s "
            "seeds of their best)</p>" + html.table(
                ["solver", "steps to target (median; 95% interval, log scale)",
                 "time to target (s)", "seeds reaching it",
                 "time vs baseline (Welch)"], rows))
    notes = "".join(f"<p class='warn'>{e(w)}</p>"
                    for w in result["warnings"])
    left = "".join(f"<li>{e(what)}: {e(why)}</li>"
                   for what, why in result["left_out"])
    left = f"<h3>Left out</h3><ul>{left}</ul>" if left else ""
    body = f"""<h1>{e(title)}</h1>
<p>{len(result['leaderboards'])} workloads. {e(NEVER)} A solver absent
from a workload counts the same. Score: the profile's integral over tau in
[1, {TAU_MAX:g}] (trapezoidal rule on {len(TAUS)} evenly spaced tau, as
AlgoPerf's scoring), divided by {TAU_MAX - 1:g}. Times against the
baseline's: Welch's test. {e(ADJUSTED)}</p>{notes}
<h2>Scores</h2>{scores}{''.join(parts)}<h2>Leaderboard</h2>{''.join(boards)}
{left}<p><a href="index.html">All runs</a></p>"""
    return html.document(
        title, body, head=f'<script src="{e(assets_url)}/plotly.min.js">'
        '</script>')
