"""A study's report: per solver its search space, its trials, the chosen
values, what tuning bought (the expected best after k trials, from the
defaults at k = 0), how the score moved with each searched parameter, the
confirmed results (95% Student-t intervals, Welch tests against the
baseline with Benjamini-Hochberg adjusted p-values, time to the target)
and what each method costs; as Markdown and as one HTML page that renders
offline (plotly.js inlined, or loaded from a site's assets folder)."""
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from benchmark_utils.reporting import html
from benchmark_utils.reporting.budget import (ADJUSTED, adjusted_p,
                                              adjusted_verdict, cost_table,
                                              expected_best_curve)
from benchmark_utils.reporting.results import (
    final_metrics, higher_is_better, mean_curve, packing_warning,
    solver_base, solvers_in_order, target_table)
from benchmark_utils.tuning.study import trial_name, trial_scores

SHOWN = ("objective_val_loss", "objective_val_acc", "objective_test_loss",
         "objective_test_acc")
COLORS = qualitative.Dark24


def study_target(study, confirm):
    """The target of the selection metric: the study's number, or (the
    AlgoPerf way) the median over seeds of the tuned baseline's best; None
    when the baseline has no confirmed runs."""
    column, target = study["select"], study["target"]
    if target != "tuned_baseline_median":
        return target
    if confirm.empty:
        return None
    runs = confirm[confirm["solver_name"].map(solver_base)
                   == study["baseline"]]
    if runs.empty:
        return None
    best = runs.groupby("idx_rep")[column].agg(
        "max" if higher_is_better(column) else "min")
    return float(best.median())


def _cell(mean, low, high, n):
    if not np.isfinite(mean):
        return "-"
    if n < 2 or not np.isfinite(low):
        return f"{mean:.4g} (1 seed: no interval)"
    return f"{mean:.4g} [{low:.4g}, {high:.4g}]"


def _score(value):
    """A validation score, or why there is none."""
    return f"{value:.4g}" if np.isfinite(value) else "diverged or failed"


def _frame(result, key):
    frame = result.get(key)
    return pd.DataFrame() if frame is None else frame


def search_text(result, solver):
    """What the solver searched, and (thesis protocol) what it reused from
    the baseline and through which scale rule."""
    study = result["study"]
    pinned = result.get("fixed", {}).get(solver, {})
    text = json.dumps(free_space(result, solver)) \
        if free_space(result, solver) else "nothing left to search"
    if pinned:
        text += (f"; reused from {study['baseline']}: {sorted(pinned)}, "
                 f"through its scale rule: {scale_rule(study, solver)}")
    return text


def scale_rule(study, solver):
    """The solver's scale rule as the study recorded it (or, for a study
    just loaded, from its class)."""
    if "scale_rules" in study:
        return study["scale_rules"][solver]
    return study["classes"][solver].scale.describe()


def free_space(result, solver):
    """The part of the solver's search space its trials drew (the thesis
    protocol pins lr and weight decay)."""
    pinned = result.get("fixed", {}).get(solver, {})
    return {k: v for k, v in result["study"]["spaces"][solver].items()
            if k not in pinned}


# -- the cost of tuning ------------------------------------------------------

def trial_results(result):
    """{solver: [(params, validation score)] of every trial drawn, in the
    order drawn}: the score of ``trial_scores`` (mean over the trial seeds
    at the last evaluation), NaN for a trial that diverged or raised (a
    draw of the search space that failed is a worst draw)."""
    df, column = _frame(result, "trials"), result["study"]["select"]
    scores = trial_scores(df, column) if not df.empty else pd.Series()
    out = {}
    for solver, options in result["names"].items():
        rows = []
        for params in options.values():
            name = trial_name(df, solver, params) if not df.empty else None
            rows.append((params, float(scores.get(name, np.nan))
                         if name is not None else np.nan))
        out[solver] = rows
    return out


def default_scores(result):
    """{solver: the validation score of its run at its defaults (budget
    0)}; NaN where it diverged, raised or was not run."""
    df, column = _frame(result, "defaults"), result["study"]["select"]
    if df.empty:
        return {}
    scores = trial_scores(df, column)
    return {solver_base(name): float(v) for name, v in scores.items()}


def tuning_curves(result):
    """{solver: [score at its defaults, expected best of 1 trial, ...,
    of all its trials]}: budget.expected_best_curve of its trials'
    validation scores (k draws without replacement, Sivaprasad et al.
    2020), the defaults' run at k = 0."""
    maximize = higher_is_better(result["study"]["select"])
    defaults = default_scores(result)
    return {solver: expected_best_curve([s for _, s in rows], maximize,
                                        defaults.get(solver, np.nan))
            for solver, rows in trial_results(result).items()}


def curve_rows(curves):
    n = max((len(c) for c in curves.values()), default=1)
    head = ["solver", "k = 0 (defaults)"] + [f"k = {k}" for k in range(1, n)]
    rows = [[solver] + [_score(v) for v in curve]
            + [""] * (n - len(curve)) for solver, curve in curves.items()]
    return head, rows


# -- the confirmed results ---------------------------------------------------

def confirmed_table(study, confirm):
    """Header and rows of the confirmed metrics: mean [95% interval] over
    seeds, and against the baseline the raw and the Benjamini-Hochberg
    adjusted p-values (over the solvers of each column), the verdict
    following the adjusted one."""
    by_base = {solver_base(n): n for n in confirm["solver_name"].unique()}
    baseline = by_base.get(study["baseline"])
    columns = [c for c in SHOWN if c in confirm]
    fm = final_metrics(confirm, columns, baseline=baseline)
    for c in columns:
        fm[f"{c}:p_adjusted"] = adjusted_p(fm[f"{c}:p"])
    rows = []
    for name, row in fm.iterrows():
        cells = [solver_base(name), str(int(row.n_seeds - row.n_diverged))]
        for c in columns:
            text = _cell(row[c], row[f"{c}:low"], row[f"{c}:high"],
                         row.n_seeds - row.n_diverged)
            if baseline is not None and name != baseline:
                text += "; " + adjusted_verdict(row[f"{c}:p"],
                                                row[f"{c}:p_adjusted"])
            cells.append(text)
        rows.append(cells)
    return ["solver", "seeds", *[c.removeprefix("objective_")
                                 for c in columns]], rows


def cost_rows(confirm, baseline):
    """Per confirmed solver: its optimizer state (bytes per parameter),
    its time per step and its ratio to the baseline's (same run), its peak
    device memory (CUDA only)."""
    if confirm.empty or "objective_step" not in confirm:
        return []
    table = cost_table(confirm, baseline).reindex(
        solvers_in_order(confirm, baseline))
    rows = []
    for name, r in table.iterrows():
        rows.append([
            solver_base(name),
            f"{r.state_bytes_per_param:.2f}"
            if np.isfinite(r.state_bytes_per_param) else "not recorded",
            f"{r.step_time_vs_baseline:.2f}x ({1e3 * r.seconds_per_step:.3g}"
            " ms)" if np.isfinite(r.step_time_vs_baseline) else "-",
            f"{r.peak_memory_mib:.0f}" if np.isfinite(r.peak_memory_mib)
            else "n/a on CPU"])
    return rows


def tables(result):
    """Every table of the report, for both renderings: {key: (header,
    rows)}, plus the target (or None)."""
    study, confirm = result["study"], _frame(result, "confirm")
    defaults = default_scores(result)
    out = {"choice": (CHOICE_HEAD, [
        [solver, search_text(result, solver),
         str(len(result["names"][solver])),
         ", ".join(f"{k}={v}" for k, v in sorted(params.items())),
         _score(score), _score(defaults.get(solver, np.nan))]
        for solver, (params, score) in result["chosen"].items()])}
    out["failures"] = (FAILURE_HEAD, [
        [f["solver"], f["phase"], f["run"], f["error"]]
        for f in result.get("failures", [])])
    out["tuning"] = curve_rows(tuning_curves(result))
    out["trials"] = (["solver", "trial", "values", "validation score"], [
        [solver, str(i + 1),
         ", ".join(f"{k}={v}" for k, v in sorted(params.items())),
         _score(score)]
        for solver, rows in trial_results(result).items()
        for i, (params, score) in enumerate(rows)])
    target = None
    if not confirm.empty:
        out["confirmed"] = confirmed_table(study, confirm)
        out["costs"] = (COST_HEAD, cost_rows(confirm, study["baseline"]))
        target = study_target(study, confirm)
        if target is not None:
            tt = target_table(confirm, study["select"], target)
            out["reach"] = (REACH_HEAD, [
                [solver_base(n), f"{r.reached:.0%}",
                 _cell(r.step, r["step:low"], r["step:high"],
                       round(r.reached * r.n_seeds)),
                 _cell(r.time, r["time:low"], r["time:high"],
                       round(r.reached * r.n_seeds))]
                for n, r in tt.iterrows()])
    return out, target


REACH = ("Steps and seconds to the target: geometric mean over the seeds "
         "that reached it [95% Student-t interval on the log scale, "
         "always positive, where the plain one of 2-3 seeds can go below "
         "zero].")
CHOICE_HEAD = ["solver", "search space", "trials", "chosen",
               "validation score of the chosen trial",
               "validation score at its defaults"]
REACH_HEAD = ["solver", "seeds reaching the target", "steps to target",
              "time to target (s)"]
COST_HEAD = ["solver", "optimizer state (bytes per parameter)",
             "step time vs the baseline (per step)", "peak memory (MiB)"]
FAILURE_HEAD = ["solver", "phase", "run", "error"]
FAILURES = ("Runs that raised: each costs only itself (the study goes on "
            "with the others); a solver with no finished trial is not "
            "confirmed, one whose confirmation failed has no confirmed "
            "results.")
INTERVALS = ("Mean over seeds [95% Student-t interval, scipy.stats.t]; p: "
             "two-sided Welch t-test (scipy.stats.ttest_ind, equal_var="
             "False) against the baseline. " + ADJUSTED)
TUNING = ("The cost of tuning: the validation score a solver can expect "
          "from k trials of its search space, drawn without replacement "
          "from the study's trials (the expected best of k, exact; "
          "Sivaprasad et al. 2020), from k = 0, one run at the solver's "
          "defaults on the trials' seeds (Schmidt, Schneider and Hennig "
          "2021's one-shot budget), to k = all its trials (their best). A "
          "trial that diverged or raised counts as the worst draw. The "
          "score is the final validation value (even when the study "
          "selects on the steps to a target).")
SENSITIVITY = ("The validation score of every trial against each "
               "parameter the solver searched (the chosen trial in "
               "black; dashed: the score at its defaults). Trials that "
               "diverged or raised are not drawn; their count is in each "
               "title.")
COSTS = ("What each method costs, measured in the confirmation runs (one "
         "benchopt run, the same workload): its optimizer state in bytes "
         "per parameter (4 per fp32 tensor the size of the parameters), "
         "its time per optimizer step (median over seeds of training time "
         "/ steps) relative to the baseline's in the same run, and the "
         "device's peak memory (CUDA only).")


def protocol_text(study):
    if study["protocol"] == "thesis":
        how = (f"Thesis protocol (Table 4.1): {study['baseline']} is tuned "
               f"with {study['trials']} trials; the other solvers reuse its "
               "lr and weight decay (through their scale rules) and search "
               "only their own parameters.")
    else:
        how = (f"Tuned protocol: every solver gets {study['trials']} "
               "scrambled-Halton trials of its own search space (same "
               f"sequence seed {study['seed']}).")
    return (how + f" Trials run {study['trial_seeds']} seed(s); selection on "
            f"{study['select'].removeprefix('objective_')} at the last "
            "evaluation (steps to the target when the study sets one), "
            "never on the test split.")


def sections(result):
    """The report as (level, title, text, key of its table, figure maker)
    parts, in order; each rendering draws what it can."""
    study, confirm = result["study"], _frame(result, "confirm")
    parts = [
        (2, "Search spaces and chosen values", "", "choice", None),
        (2, f"Confirmed with {study['confirm_seeds']} fresh seeds",
         INTERVALS, "confirmed", None),
        (2, "TARGET", REACH, "reach", None),
        (2, "The cost of tuning: expected best validation score after k "
         "trials", TUNING, "tuning", tuning_figure),
        (2, "Sensitivity: every trial's validation score", SENSITIVITY,
         "trials", sensitivity_figures),
        (2, "What each method costs", COSTS + (
            " " + packing_warning(confirm) if not confirm.empty
            and packing_warning(confirm) else ""), "costs", None),
        (2, "Failed runs", FAILURES, "failures", None),
        (2, "Confirmed curves", "", None, curve_figures),
    ]
    return parts


def markdown(result):
    study = result["study"]
    found, target = tables(result)

    def row(cells):     # a "|" inside a cell (an error message) is escaped
        return "| " + " | ".join(str(c).replace("|", "\\|")
                                 for c in cells) + " |"

    def table(header, rows):
        return "\n".join([row(header), "|" + " --- |" * len(header)]
                         + [row(r) for r in rows])
    out = [f"# Study {study['name']}: {study['dataset']}",
           protocol_text(study)]
    for _, title, text, key, _ in sections(result):
        if key is None or key not in found:
            continue
        head, rows = found[key]
        if key == "failures" and not rows:
            continue
        if key == "reach":
            title = target_title(study, target)
        out += [f"## {title}"] + ([text] if text else []) + \
            [table(head, rows)]
    return "\n\n".join(out) + "\n"


def target_title(study, target):
    return (f"Target {study['select'].removeprefix('objective_')} = "
            f"{target:.4g}")


# -- figures -------------------------------------------------------------

def tuning_figure(result):
    """Expected best validation score against the number of trials k, one
    line per solver, k = 0 being its defaults."""
    fig = go.Figure()
    for i, (solver, curve) in enumerate(tuning_curves(result).items()):
        k = [j for j, v in enumerate(curve) if np.isfinite(v)]
        fig.add_scatter(x=k, y=[curve[j] for j in k], name=solver,
                        mode="lines+markers",
                        line=dict(color=COLORS[i % len(COLORS)]))
    metric = result["study"]["select"].removeprefix("objective_")
    fig.update_layout(title=f"Expected best {metric} after k trials "
                      "(k = 0: the defaults)", xaxis_title="trials k",
                      yaxis_title=f"expected best {metric}", height=450,
                      xaxis=dict(dtick=1))
    return [fig]


def sensitivity_figures(result):
    """Per solver: its trials' validation score against each searched
    parameter (log axis for log-uniform ones)."""
    figures = []
    metric = result["study"]["select"].removeprefix("objective_")
    defaults = default_scores(result)
    for solver, rows in trial_results(result).items():
        space = free_space(result, solver)
        if not space:
            continue
        chosen = result["chosen"].get(solver, (None,))[0]
        failed = sum(not np.isfinite(s) for _, s in rows)
        params = list(space)
        fig = make_subplots(rows=1, cols=len(params),
                            shared_yaxes=True, subplot_titles=params)
        drawn = [(p, s) for p, s in rows if np.isfinite(s)]
        for j, param in enumerate(params, start=1):
            x = [_axis_value(p[param]) for p, _ in drawn]
            fig.add_scatter(
                x=x, y=[s for _, s in drawn], mode="markers",
                showlegend=False, name=solver, row=1, col=j,
                marker=dict(size=10, color=["black" if p == chosen else
                                            COLORS[0] for p, _ in drawn]))
            if "log_uniform" in space[param]:
                fig.update_xaxes(type="log", row=1, col=j)
            if "choice" in space[param]:
                fig.update_xaxes(type="category", row=1, col=j)
        if np.isfinite(defaults.get(solver, np.nan)):
            fig.add_hline(y=defaults[solver], line_dash="dash",
                          row="all", col="all")
        fig.update_layout(
            title=f"{solver}: {metric} of each trial ({failed} of "
            f"{len(rows)} diverged or raised, not drawn)",
            yaxis_title=metric, height=330)
        figures.append(fig)
    return figures


def _axis_value(value):
    return str(value) if isinstance(value, (bool, str)) else value


def curve_figures(result):
    confirm = _frame(result, "confirm")
    figures = []
    for column in ("objective_val_loss", "objective_test_acc",
                   "objective_test_loss"):
        if column not in confirm or confirm[column].isna().all():
            continue
        fig = go.Figure()
        for i, name in enumerate(confirm["solver_name"].unique()):
            runs = confirm[confirm["solver_name"] == name]
            c = mean_curve(runs, column, "objective_epoch")
            label, color = solver_base(name), COLORS[i % len(COLORS)]
            fig.add_scatter(x=c["x"], y=c["mean"], name=label,
                            legendgroup=label, mode="lines",
                            line=dict(color=color))
            if c["low"].notna().any():
                fig.add_scatter(x=list(c["x"]) + list(c["x"])[::-1],
                                y=list(c["low"]) + list(c["high"])[::-1],
                                fill="toself", fillcolor=color, opacity=0.15,
                                showlegend=False, legendgroup=label,
                                line=dict(width=0), name=label,
                                hoverinfo="skip")
        fig.update_layout(title=f"{column.removeprefix('objective_')}, "
                          "mean over confirmation seeds (band: std)",
                          xaxis_title="epoch", height=450)
        figures.append(fig)
    return figures


def html_page(result, assets_url=None):
    """The report as one page: plotly.js inlined (``assets_url`` None: a
    self-contained file that renders offline), or loaded from
    ``assets_url``/plotly.min.js (a site's shared copy)."""
    study = result["study"]
    found, target = tables(result)
    e = html.escape
    inline = [assets_url is None]       # plotly.js with the first figure

    def to_html(fig):
        text = fig.to_html(full_html=False, include_plotlyjs=inline[0])
        inline[0] = False
        return text
    body = [f"<h1>Study {e(study['name'])}: {e(study['dataset'])}</h1>",
            f"<p>{e(protocol_text(study))}</p>"]
    for _, title, text, key, figures in sections(result):
        has_table = key is not None and key in found and (
            key != "failures" or found[key][1])
        drawn = figures(result) if figures is not None and (
            key is None or key in found) else []
        if not has_table and not drawn:
            continue
        if key == "reach":
            title = target_title(study, target)
        body += [f"<h2>{e(title)}</h2>"] + \
            ([f"<p>{e(text)}</p>"] if text else [])
        body += [to_html(fig) for fig in drawn]
        if has_table:
            body.append(html.table(*found[key]))
    head = "" if assets_url is None else \
        f'<script src="{e(assets_url)}/plotly.min.js"></script>'
    return html.document(f"Study {study['name']}", "".join(body), head=head)
