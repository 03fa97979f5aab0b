"""A study's report: per solver its search space, its trials, the chosen
values and the confirmed results (95% Student-t intervals, Welch tests
against the baseline, time to the target), as Markdown and as one offline
HTML page with the confirmed curves."""
import json

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from benchmark_utils.reporting import html
from benchmark_utils.reporting.results import (
    final_metrics, higher_is_better, mean_curve, significance, solver_base,
    target_table)

SHOWN = ("objective_val_loss", "objective_val_acc", "objective_test_loss",
         "objective_test_acc")


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


def search_text(result, solver):
    """What the solver searched, and (thesis protocol) what it reused from
    the baseline and through which scale rule."""
    study = result["study"]
    pinned = result.get("fixed", {}).get(solver, {})
    space = {k: v for k, v in study["spaces"][solver].items()
             if k not in pinned}
    text = json.dumps(space) if space else "nothing left to search"
    if pinned:
        rule = study["classes"][solver].scale.describe()
        text += (f"; reused from {study['baseline']}: {sorted(pinned)}, "
                 f"through its scale rule: {rule}")
    return text


def tables(result):
    """(rows of the choice table, header and rows of the confirmed table,
    target, target rows or None, failure rows), for both renderings."""
    study, confirm = result["study"], result["confirm"]
    choice = [[solver, search_text(result, solver),
               str(len(result["names"][solver])),
               ", ".join(f"{k}={v}" for k, v in sorted(params.items())),
               f"{score:.4g}"]
              for solver, (params, score) in result["chosen"].items()]
    failures = [[f["solver"], f["phase"], f["run"], f["error"]]
                for f in result.get("failures", [])]
    if confirm.empty:
        return choice, ["solver"], [], None, None, failures
    by_base = {solver_base(n): n for n in confirm["solver_name"].unique()}
    baseline = by_base.get(study["baseline"])
    columns = [c for c in SHOWN if c in confirm]
    fm = final_metrics(confirm, columns, baseline=baseline)
    confirmed = []
    for name, row in fm.iterrows():
        cells = [solver_base(name), str(int(row.n_seeds - row.n_diverged))]
        for c in columns:
            text = _cell(row[c], row[f"{c}:low"], row[f"{c}:high"],
                         row.n_seeds - row.n_diverged)
            if baseline is not None and name != baseline:
                text += f"; {significance(row[f'{c}:p'])}"
            cells.append(text)
        confirmed.append(cells)
    target = study_target(study, confirm)
    reach = None
    if target is not None:
        tt = target_table(confirm, study["select"], target)
        reach = [[solver_base(n), f"{r.reached:.0%}",
                  _cell(r.step, r["step:low"], r["step:high"],
                        round(r.reached * r.n_seeds)),
                  _cell(r.time, r["time:low"], r["time:high"],
                        round(r.reached * r.n_seeds))]
                 for n, r in tt.iterrows()]
    return choice, ["solver", "seeds", *[c.removeprefix("objective_")
                                         for c in columns]], confirmed, \
        target, reach, failures


CHOICE_HEAD = ["solver", "search space", "trials", "chosen",
               "validation score of the chosen trial"]
REACH_HEAD = ["solver", "seeds reaching the target", "steps to target",
              "time to target (s)"]
FAILURE_HEAD = ["solver", "phase", "run", "error"]
FAILURES = ("Runs that raised: each costs only itself (the study goes on "
            "with the others); a solver with no finished trial is not "
            "confirmed, one whose confirmation failed has no confirmed "
            "results.")


def markdown(result):
    study = result["study"]
    choice, head, confirmed, target, reach, failures = tables(result)

    def row(cells):     # a "|" inside a cell (an error message) is escaped
        return "| " + " | ".join(str(c).replace("|", "\\|")
                                 for c in cells) + " |"

    def table(header, rows):
        return "\n".join([row(header), "|" + " --- |" * len(header)]
                         + [row(r) for r in rows])
    parts = [f"# Study {study['name']}: {study['dataset']}",
             protocol_text(study),
             "## Search spaces and chosen values", table(CHOICE_HEAD, choice),
             f"## Confirmed with {study['confirm_seeds']} fresh seeds",
             INTERVALS, table(head, confirmed)]
    if reach is not None:
        parts += [f"## Target {study['select'].removeprefix('objective_')}"
                  f" = {target:.4g}", table(REACH_HEAD, reach)]
    if failures:
        parts += ["## Failed runs", FAILURES, table(FAILURE_HEAD, failures)]
    return "\n\n".join(parts) + "\n"


INTERVALS = ("Mean over seeds [95% Student-t interval, scipy.stats.t]; p: "
             "two-sided Welch t-test (scipy.stats.ttest_ind, equal_var="
             "False) against the baseline, significant below 0.05.")


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


def html_page(result):
    """One self-contained page (plotly.js inlined: renders offline)."""
    study, confirm = result["study"], result["confirm"]
    choice, head, confirmed, target, reach, failures = tables(result)

    table = html.table
    figures = []
    for column in ("objective_val_loss", "objective_test_acc"):
        if column not in confirm:
            continue
        fig = go.Figure()
        colors = qualitative.Dark24
        for i, name in enumerate(confirm["solver_name"].unique()):
            runs = confirm[confirm["solver_name"] == name]
            c = mean_curve(runs, column, "objective_epoch")
            label, color = solver_base(name), colors[i % len(colors)]
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
        figures.append(fig.to_html(full_html=False,
                                   include_plotlyjs=not figures))
    body = [f"<h1>Study {html.escape(study['name'])}: "
            f"{html.escape(study['dataset'])}</h1>",
            f"<p>{html.escape(protocol_text(study))}</p>",
            "<h2>Search spaces and chosen values</h2>",
            table(CHOICE_HEAD, choice),
            f"<h2>Confirmed with {study['confirm_seeds']} fresh seeds</h2>",
            f"<p>{html.escape(INTERVALS)}</p>", table(head, confirmed)]
    if reach is not None:
        body += [f"<h2>Target {study['select'].removeprefix('objective_')}"
                 f" = {target:.4g}</h2>", table(REACH_HEAD, reach)]
    if failures:
        body += ["<h2>Failed runs</h2>", f"<p>{html.escape(FAILURES)}</p>",
                 table(FAILURE_HEAD, failures)]
    return html.document(f"Study {study['name']}",
                         "".join(body) + "".join(figures))
