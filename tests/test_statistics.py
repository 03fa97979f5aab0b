"""Intervals, Welch tests, bootstrap speedups and targets, against
scipy.stats on hand-built results frames."""
import numpy as np
import pytest
from scipy import stats

from benchmark_utils.reporting.results import (
    final_metrics, per_seed_to_target, speedup_interval, speedup_table,
    log_t_interval, steps_to_target, t_interval, target_table,
    welch_test)
from test_results import results_frame

# Its module fixture runs once: its tests stay on one xdist worker.
pytestmark = pytest.mark.xdist_group("statistics")

A = [[2.0, 1.0, 0.50, 0.30], [2.0, 1.1, 0.60, 0.35], [2.0, 0.9, 0.55, 0.25]]
B = [[2.0, 0.6, 0.30, 0.20], [2.0, 0.7, 0.28, 0.22], [2.0, 0.5, 0.35, 0.18]]


def test_t_interval_is_scipys_student_t_and_none_with_one_seed():
    v = [0.3, 0.35, 0.25, 0.4]
    mean, low, high, n = t_interval(v)
    exp = stats.t.interval(0.95, 3, loc=np.mean(v), scale=stats.sem(v))
    assert (mean, n) == (pytest.approx(np.mean(v)), 4)
    assert (low, high) == pytest.approx(exp)
    mean, low, high, n = t_interval([0.3, np.nan])     # a diverged seed
    assert mean == 0.3 and n == 1 and np.isnan(low) and np.isnan(high)


def test_final_metrics_intervals_and_welch_p_match_scipy():
    df = results_frame({"adamw": A, "innaprop": B})
    table = final_metrics(df, ["objective_value"])
    a, b = [r[-1] for r in A], [r[-1] for r in B]
    low, high = stats.t.interval(0.95, 2, loc=np.mean(b), scale=stats.sem(b))
    assert table.loc["innaprop", "objective_value:low"] == pytest.approx(low)
    assert table.loc["innaprop", "objective_value:high"] == \
        pytest.approx(high)
    assert table.loc["innaprop", "objective_value:p"] == pytest.approx(
        stats.ttest_ind(b, a, equal_var=False).pvalue)
    assert np.isnan(table.loc["adamw", "objective_value:p"])
    assert np.isnan(welch_test([1.0], [1.0, 2.0]))     # one seed: no test


def test_speedup_table_carries_intervals_and_p_of_the_bests():
    df = results_frame({"adamw": A, "innaprop": B})
    table = speedup_table(df)
    best_a, best_b = [min(r) for r in A], [min(r) for r in B]
    assert table.loc["innaprop", "best_p"] == pytest.approx(
        stats.ttest_ind(best_b, best_a, equal_var=False).pvalue)
    assert table.loc["adamw", "best_low"] == pytest.approx(stats.t.interval(
        0.95, 2, loc=np.mean(best_a), scale=stats.sem(best_a))[0])


def test_steps_to_target_is_the_first_evaluation_at_least_as_good():
    assert steps_to_target([0, 10, 20, 30], [3, 2, 1, 0.5], 1.0, False) == 20
    assert np.isnan(steps_to_target([0, 10], [3, 2], 1.0, False))
    assert np.isnan(steps_to_target([0, 10], [3, np.nan], 1.0, False))
    assert steps_to_target([0, 10, 20], [50, 80, 90], 75, True) == 10


def test_target_table_counts_the_seeds_that_reach_it():
    df = results_frame({"adamw": A, "innaprop": B}, x_step=100)
    # 0.3: adamw seed 0 at step 300, seed 1 never, seed 2 at 300;
    # innaprop: 200, 200, 300.
    steps = per_seed_to_target(df[df.solver_name == "adamw"],
                               "objective_value", 0.3)
    assert steps[0] == 300 and np.isnan(steps[1]) and steps[2] == 300
    table = target_table(df, "objective_value", 0.3)
    assert table.loc["adamw", "reached"] == pytest.approx(2 / 3)
    assert table.loc["innaprop", "reached"] == 1.0
    logs = np.log([200, 200, 300])
    assert table.loc["innaprop", "step"] == pytest.approx(
        np.exp(logs.mean()))
    low, high = stats.t.interval(0.95, 2, loc=logs.mean(),
                                 scale=stats.sem(logs))
    assert (table.loc["innaprop", "step:low"],
            table.loc["innaprop", "step:high"]) == \
        pytest.approx((np.exp(low), np.exp(high)))


def test_steps_and_seconds_to_target_never_get_a_negative_interval():
    # Two seeds reaching the target at steps 100 and 700: the plain
    # Student-t interval of their mean is [-3412, 4212] steps, impossible.
    plain = t_interval([100, 700])
    assert plain[1] < 0
    df = results_frame({"adamw": [[2.0, 0.2], [2.0] + [1.0] * 6 + [0.2]]},
                       x_step=100)
    table = target_table(df, "objective_value", 0.3)
    assert table.loc["adamw", "reached"] == 1.0
    assert table.loc["adamw", "step"] == pytest.approx(np.sqrt(100 * 700))
    for x in ("step", "time"):
        low, high = table.loc["adamw", [f"{x}:low", f"{x}:high"]]
        assert 0 < low < table.loc["adamw", x] < high


def test_log_t_interval_is_the_t_interval_of_the_logs():
    v = [120.0, 300.0, 95.0]
    mean, low, high, n = log_t_interval(v + [np.nan, np.inf])
    exp = stats.t.interval(0.95, 2, loc=np.mean(np.log(v)),
                           scale=stats.sem(np.log(v)))
    assert n == 3
    assert (mean, low, high) == pytest.approx(
        (np.exp(np.mean(np.log(v))), *np.exp(exp)))
    # A zero (reached at the first evaluation) has no log: the plain
    # interval, cut at zero.
    mean, low, high, _ = log_t_interval([0.0, 50.0])
    assert mean == 25.0 and low == 0.0 and high == t_interval([0, 50])[2]
    with pytest.raises(ValueError, match=">= 0"):
        log_t_interval([-1.0, 2.0])


def test_speedup_bootstrap_interval_brackets_the_speedup():
    df = results_frame({"adamw": A, "innaprop": B})
    point = speedup_table(df).loc["innaprop", "speedup_steps"]
    low, high = speedup_interval(df, "objective_value", "adamw", "innaprop")
    assert low <= point <= high
    # Identical seeds: every resample gives the same speedup.
    same = results_frame({"adamw": [A[0]] * 3, "innaprop": [B[0]] * 3})
    point = speedup_table(same).loc["innaprop", "speedup_steps"]
    assert speedup_interval(same, "objective_value", "adamw",
                            "innaprop") == pytest.approx((point, point))
    one = results_frame({"adamw": A[:1], "innaprop": B})
    assert np.isnan(speedup_interval(one, "objective_value", "adamw",
                                     "innaprop")[0])


def test_tables_say_one_seed_has_no_interval_never_a_bare_zero(plots):
    df = results_frame({"adamw": A[:1], "innaprop": B[:1]})
    rows = plots["final_metrics"].plot(df, "d", "o")
    assert "no interval" in rows[0][1] and "±" not in rows[0][1]
    assert "no test" in rows[1][1]
    rows = plots["speedup"].plot(df, "d", "o", "objective_value", "adamw")
    assert "no interval" in rows[0][1]
    assert "(no interval)" in rows[1][5]


@pytest.fixture(scope="module")
def plots(root=None):
    from pathlib import Path
    from benchopt.benchmark import Benchmark
    return {p.name: p for p in Benchmark(
        Path(__file__).resolve().parents[1]).get_plots()}
