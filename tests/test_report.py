"""A study's report: the cost of tuning (expected best after k trials, from
the defaults), the multiplicity-adjusted comparisons and the cost columns,
against hand-computed cases on hand-built results."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark_utils.tuning.report import (confirmed_table, cost_rows,
                                           html_page, markdown,
                                           tuning_curves)


def runs(solver, finals, params=None, column="objective_val_loss",
         seconds=1.0, state=8.0):
    """Results rows of one solver: one seed per final value, evaluated at
    steps 0 and 100 (``seconds`` a step: time 100 * seconds at the end)."""
    rows = []
    for rep, final in enumerate(finals):
        for k in (0, 1):
            rows.append({"solver_name": solver, "idx_rep": rep,
                         "stop_val": k, "objective_step": 100 * k,
                         "objective_epoch": k, "time": 100 * k * seconds,
                         column: 2.0 if k == 0 else final,
                         "objective_diverged": int(not np.isfinite(final)),
                         "objective_state_bytes_per_param": state * k,
                         "objective_peak_memory_mib": np.nan,
                         **{f"p_solver_{p}": v
                            for p, v in (params or {}).items()}})
    return rows


def study(**keys):
    return dict(name="tiny", dataset="digits[n_val=100]", protocol="tuned",
                trials=3, trial_seeds=1, confirm_seeds=3, seed=0,
                select="objective_val_loss", target=None, baseline="adamw",
                spaces={"adamw": {"lr": {"log_uniform": [1e-4, 1e-2]}},
                        "sgd": {"lr": {"log_uniform": [1e-3, 1.0]}}},
                scale_rules={}, **keys)


def tuning_result():
    """adamw: 3 trials of final validation loss 0.5, 0.2, 0.9 and 0.7 at
    its defaults; sgd: 2 trials, 0.4 and one that diverged, and a defaults
    run that raised (no results)."""
    lrs = {"adamw": (1e-4, 1e-3, 1e-2), "sgd": (0.01, 0.1)}
    finals = {"adamw": (0.5, 0.2, 0.9), "sgd": (0.4, np.nan)}
    rows, names = [], {}
    for solver in lrs:
        names[solver] = {}
        for lr, final in zip(lrs[solver], finals[solver]):
            string = f"{solver}[lr={lr}]"
            names[solver][string] = {"lr": lr}
            rows += runs(string, [final], {"lr": lr})
    defaults = pd.DataFrame(runs("adamw[lr=None]", [0.7]))
    return dict(study=study(), trials=pd.DataFrame(rows), defaults=defaults,
                names=names, chosen={"adamw": ({"lr": 1e-3}, 0.2),
                                     "sgd": ({"lr": 0.01}, 0.4)},
                confirm=pd.DataFrame(), failures=[], fixed={})


def test_the_expected_best_after_k_trials_starts_at_the_defaults():
    curves = tuning_curves(tuning_result())
    # adamw, losses 0.5 0.2 0.9: k = 1 their mean; k = 2 the subsets
    # {0.5, 0.2} {0.5, 0.9} {0.2, 0.9} have minima 0.2 0.5 0.2; k = 3 the
    # best.
    assert curves["adamw"] == pytest.approx([0.7, 1.6 / 3, 0.9 / 3, 0.2])
    # sgd: its defaults raised (NaN); with one trial drawn, half the time
    # the diverged one: the expected best is the worst, infinite; with both,
    # 0.4.
    assert math.isnan(curves["sgd"][0])
    assert curves["sgd"][1:] == [math.inf, 0.4]


def test_the_report_shows_the_curve_and_every_trial():
    result = tuning_result()
    report = markdown(result)
    tuning = report.split("## The cost of tuning")[1].split("## ")[0]
    assert "| adamw | 0.7 | 0.5333 | 0.3 | 0.2 |" in tuning
    assert "| sgd | diverged or failed | diverged or failed | 0.4 |  |" \
        in tuning
    trials = report.split("## Sensitivity")[1].split("## ")[0]
    assert "| adamw | 2 | lr=0.001 | 0.2 |" in trials
    assert "| sgd | 2 | lr=0.1 | diverged or failed |" in trials
    choice = report.split("## Search spaces")[1].split("## ")[0]
    assert "| adamw | {\"lr\": {\"log_uniform\": [0.0001, 0.01]}} | 3 | " \
        "lr=0.001 | 0.2 | 0.7 |" in choice
    page = html_page(result, assets_url="assets")
    assert '<script src="assets/plotly.min.js"></script>' in page
    assert "expected best val_loss after k trials" in page.lower()
    # One sensitivity figure per solver, the defaults' score dashed.
    assert page.count("of each trial (") == 2
    assert "1 of 2 diverged or raised, not drawn" in page
    assert 'plotly.js v' not in page       # not inlined
    assert "plotly.js v" in html_page(result)


def confirm_frame():
    """Three seeds each: adamw (baseline) 1.0 1.1 1.2; a 1.25 1.35 1.45;
    b 1.0 1.2 1.4 (test accuracy, in percent, for the sake of the test)."""
    rows = []
    for solver, finals, seconds, state in (
            ("adamw[lr=0.001]", (1.0, 1.1, 1.2), 0.02, 8.0),
            ("a[lr=0.01]", (1.25, 1.35, 1.45), 0.03, 8.0),
            ("b[lr=0.1]", (1.0, 1.2, 1.4), 0.01, 4.0)):
        rows += runs(solver, finals, column="objective_test_acc",
                     seconds=seconds, state=state)
    return pd.DataFrame(rows)


def test_the_confirmed_table_adjusts_the_p_values_and_reads_the_adjusted():
    head, rows = confirmed_table(study(), confirm_frame())
    assert head == ["solver", "seeds", "test_acc"]
    base = [1.0, 1.1, 1.2]
    p_a = stats.ttest_ind([1.25, 1.35, 1.45], base, equal_var=False).pvalue
    p_b = stats.ttest_ind([1.0, 1.2, 1.4], base, equal_var=False).pvalue
    # By hand (Benjamini-Hochberg, m = 2, p_a < p_b): a's p times 2 / 1,
    # b's times 2 / 2, then the running minimum from the largest.
    assert p_a < 0.05 < 2 * p_a < p_b
    adj_a, adj_b = 2 * p_a, p_b
    assert rows[0][:2] == ["adamw", "3"] and ";" not in rows[0][2]
    assert rows[1][2].endswith(
        f"; no significant difference (p = {p_a:.2g}, adjusted p = "
        f"{adj_a:.2g})")            # significant raw, not once adjusted
    assert rows[2][2].endswith(f"(p = {p_b:.2g}, adjusted p = {adj_b:.2g})")
    low, high = stats.t.interval(0.95, 2, loc=1.35, scale=0.1 / np.sqrt(3))
    assert rows[1][2].startswith(f"1.35 [{low:.4g}, {high:.4g}]")


def test_the_cost_columns_compare_with_the_baseline_in_the_same_run():
    rows = cost_rows(confirm_frame(), "adamw")
    # seconds per step: 0.02 (adamw), 0.03, 0.01: ratios 1, 1.5, 0.5.
    assert rows == [["adamw", "8.00", "1.00x (20 ms)", "n/a on CPU"],
                    ["a", "8.00", "1.50x (30 ms)", "n/a on CPU"],
                    ["b", "4.00", "0.50x (10 ms)", "n/a on CPU"]]
    cuda = confirm_frame().assign(objective_peak_memory_mib=812.4)
    assert cost_rows(cuda, "adamw")[0][3] == "812"


def test_the_headline_reads_the_adjusted_p_and_the_speedup():
    """Test accuracy: adamw 90 91 92, a 93 94 95, b 90 92 94 (3 seeds);
    validation loss at steps 0, 100, 200: adamw 2, 1, 0.5 (the target,
    its median best, reached at step 200), a 2, 0.4, 0.3 (reached at 100:
    2x), b 2, 1.5, 1 (never)."""
    from benchmark_utils.tuning.publish import headline
    curves = {"adamw[lr=0.001]": ([90, 91, 92], [2.0, 1.0, 0.5]),
              "a[lr=0.01]": ([93, 94, 95], [2.0, 0.4, 0.3]),
              "b[lr=0.1]": ([90, 92, 94], [2.0, 1.5, 1.0])}
    rows = []
    for solver, (accs, losses) in curves.items():
        for rep, acc in enumerate(accs):
            for k, loss in enumerate(losses):
                rows.append({"solver_name": solver, "idx_rep": rep,
                             "stop_val": k, "objective_step": 100 * k,
                             "time": 10.0 * k, "objective_val_loss": loss,
                             "objective_test_acc": acc - 2 + k,
                             "objective_diverged": 0})
    result = dict(study=study() | {"target": "tuned_baseline_median"},
                  confirm=pd.DataFrame(rows))
    metric, table = headline(result)
    assert metric == "test_acc"
    p = {s: stats.ttest_ind(curves[s][0], curves["adamw[lr=0.001]"][0],
                            equal_var=False).pvalue for s in ("a[lr=0.01]",
                                                              "b[lr=0.1]")}
    # Benjamini-Hochberg, m = 2: the smaller p doubled, unless the larger
    # one is smaller still; the larger one as it is.
    small, large = sorted(p.values())
    adjusted = {s: (min(2 * small, large) if v == small else large)
                for s, v in p.items()}
    low, high = stats.t.interval(0.95, 2, loc=94, scale=stats.sem(
        [93, 94, 95]))
    assert table[0] == ["adamw", "91 [%.4g, %.4g]" % stats.t.interval(
        0.95, 2, loc=91, scale=stats.sem([90, 91, 92])), "baseline", "1.00x"]
    assert table[1] == ["a", f"94 [{low:.4g}, {high:.4g}]",
                        f"{p['a[lr=0.01]']:.2g} "
                        f"({adjusted['a[lr=0.01]']:.2g})", "2.00x"]
    assert table[2][2] == (f"{p['b[lr=0.1]']:.2g} "
                           f"({adjusted['b[lr=0.1]']:.2g})")
    assert table[2][3] == "never reached"
