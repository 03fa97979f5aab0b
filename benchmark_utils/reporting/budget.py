"""The cost of tuning: the score a method can expect after k trials, and
p-values adjusted for the number of comparisons a table makes.

Expected best after k trials (Sivaprasad et al. 2020, "Optimizer
benchmarking needs to account for hyperparameter tuning"): of a study's n
trials of a method, k drawn without replacement; the expected best of the
k, computed exactly from the n scores. With the scores sorted from worst to
best, s_(1) <= ... <= s_(n), the best of k draws is s_(i) with probability
C(i - 1, k - 1) / C(n, k) (the other k - 1 draws among the i - 1 worse), so

    E[best of k] = sum_i s_(i) C(i - 1, k - 1) / C(n, k).

k = 1 is the mean of the trials, k = n their best; k = 0 is the method at
its published defaults (Schmidt et al. 2021's "one-shot" budget), a run of
its own. A diverged trial is the worst score.

Adjusted p-values: a table comparing m solvers with one baseline makes m
tests; at p < 0.05 each, about 0.05 m "significant" differences come by
chance alone. ``adjusted_p`` applies Benjamini and Hochberg's false
discovery rate control (scipy.stats.false_discovery_control), and the
verdict follows the adjusted value.
"""
import math

import numpy as np
from scipy import stats

METHOD = "Benjamini-Hochberg"


def expected_best(scores, k, maximize):
    """The expected best of ``k`` of ``scores`` drawn without replacement
    (1 <= k <= len(scores)); NaN scores count as the worst."""
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must be between 1 and the {n} trials.")
    worst = -np.inf if maximize else np.inf
    ordered = np.sort(np.where(np.isnan(scores), worst, scores))
    if not maximize:
        ordered = ordered[::-1]           # from worst (largest) to best
    weights = np.array([math.comb(i - 1, k - 1) for i in range(1, n + 1)],
                       dtype=float) / math.comb(n, k)
    finite = weights > 0
    if not np.isfinite(ordered[finite]).all():
        return worst                       # a diverged trial can be the best
    return float(np.dot(weights[finite], ordered[finite]))


def expected_best_curve(scores, maximize, default=np.nan):
    """[score at k = 0 (``default``), E[best of 1], ..., E[best of n]]."""
    return [default] + [expected_best(scores, k, maximize)
                        for k in range(1, len(scores) + 1)]


def adjusted_p(pvalues):
    """Benjamini-Hochberg adjusted p-values of one table's comparisons;
    NaN (no test) stays NaN and does not count as a comparison."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.isfinite(p)
    if tested.any():
        out[tested] = stats.false_discovery_control(p[tested], method="bh")
    return out


def cost_table(df, baseline="adamw"):
    """What each solver costs, from one results frame (one workload):
    its optimizer state in bytes per parameter, its peak device memory
    (MiB, CUDA only), its time per optimizer step (the median over its
    runs of training time / steps) and that time over the baseline's from
    the same frame. Rows: solver names; NaN where not measured."""
    import pandas as pd
    last = df.sort_values("stop_val").groupby(["solver_name", "idx_rep"]) \
        .tail(1)
    rows = {}
    for name, runs in last.groupby("solver_name", sort=False):
        steps = runs["objective_step"].where(runs["objective_step"] > 0)
        rows[name] = dict(
            state_bytes_per_param=_median(runs, "objective_state_bytes_"
                                          "per_param"),
            peak_memory_mib=_median(runs, "objective_peak_memory_mib"),
            seconds_per_step=float((runs["time"] / steps).median()))
    table = pd.DataFrame.from_dict(rows, orient="index")
    base = [n for n in table.index if n.split("[")[0] == baseline]
    table["step_time_vs_baseline"] = (
        table["seconds_per_step"] / table.loc[base[0], "seconds_per_step"]
        if base else float("nan"))
    return table


def _median(runs, column):
    if column not in runs:
        return float("nan")
    return float(runs[column].median())


ALPHA = 0.05


def adjusted_verdict(p, p_adjusted):
    """How a table of several comparisons reads one of them: the raw and
    the adjusted p-value, the verdict following the adjusted one.
    (results.significance reads a single comparison.)"""
    if not np.isfinite(p):
        return "no test (fewer than 2 seeds)"
    numbers = f"p = {p:.2g}, adjusted p = {p_adjusted:.2g}"
    if p_adjusted < ALPHA:
        return f"significant ({numbers})"
    return f"no significant difference ({numbers})"


ADJUSTED = (f"Adjusted p: {METHOD} (false discovery rate, scipy.stats."
            "false_discovery_control) over the solvers compared with the "
            "baseline in the same column; the verdict (significant below "
            f"{ALPHA}) follows the adjusted p.")
