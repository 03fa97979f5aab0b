"""Result pages on the cases that broke them: a diverged baseline, a grid
holding lr=None, a diverged cell of a heatmap."""
import numpy as np
import pytest
from benchopt.benchmark import Benchmark

from benchmark_utils.reporting.results import (checkpoints, grid,
                                               grid_solvers, speedup_table,
                                               varying_params)
from test_results import ROOT, results_frame


def test_a_diverged_baseline_gives_no_speedup():
    df = results_frame({"adamw": [[2.0, 1.5, np.nan], [2.0, 1.4, 1.0]],
                        "innaprop": [[2.0, 1.2, 0.9], [2.0, 1.1, 0.8]]})
    with pytest.raises(ValueError, match="Baseline diverged: no speedup"):
        speedup_table(df, baseline="adamw")
    speedup = {p.name: p for p in Benchmark(ROOT).get_plots()}["speedup"]
    meta = speedup.get_metadata(df, "d", "o", "objective_value", "adamw")
    assert "Baseline diverged: no speedup" in meta["title"]
    assert speedup.plot(df, "d", "o", "objective_value", "adamw") == []


def lr_grid_frame():
    curves = {}
    for alpha in (0.1, 2.0):
        for lr in ("None", "0.01"):
            curves[f"innaprop[alpha={alpha},lr={lr}]"] = [[3.0, 2.0, 1.0]]
    df = results_frame(curves)
    df["p_solver_alpha"] = df["solver_name"].str.extract(
        r"alpha=([\d.]+)")[0].astype(float)
    df["p_solver_lr"] = df["solver_name"].str.extract(r"lr=(\w[\w.]*)")[0] \
        .map(lambda v: None if v == "None" else float(v))
    return df


def test_lr_none_counts_as_a_grid_value():
    df = lr_grid_frame()
    assert grid_solvers(df) == ["innaprop"]
    assert set(varying_params(df)) == {"alpha", "lr"}
    [panel] = grid(df, "innaprop", ("alpha", "lr"), "objective_value",
                   "epoch 2")
    assert list(panel["values"].index) == ["None", 0.01]
    assert np.isfinite(panel["values"].to_numpy()).all()


def test_a_diverged_cell_keeps_the_epochs_and_reads_div():
    curves = {}
    for alpha in (0.1, 2.0):
        for beta in (0.5, 0.9):
            curves[f"innaprop[alpha={alpha},beta={beta}]"] = [
                [3.0, 2.5, 2.0, 1.5, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]]
    df = results_frame(curves)
    for p in ("alpha", "beta"):
        df[f"p_solver_{p}"] = df["solver_name"].str.extract(
            rf"{p}=([\d.]+)")[0].astype(float)
    # One cell diverges in the middle of epoch 3 (its last point there).
    bad = df["solver_name"] == "innaprop[alpha=2.0,beta=0.9]"
    df = df[~bad | (df["stop_val"] <= 3)].astype({"objective_epoch": float})
    last = df.index[(df["solver_name"] == "innaprop[alpha=2.0,beta=0.9]")
                    & (df["stop_val"] == 3)]
    df.loc[last, ["objective_epoch", "objective_step"]] = [2.37, 237]
    df.loc[last, "objective_value"] = np.nan
    df.loc[last, "objective_diverged"] = 1
    at = checkpoints(df)
    assert at[0] == "epoch 10" and all(a.startswith("epoch") for a in at)
    for point in at:
        [panel] = grid(df, "innaprop", ("alpha", "beta"), "objective_value",
                       point)
        values = panel["values"].to_numpy()
        after = float(point.split()[1]) > 2.37
        assert np.isfinite(values).sum() == (3 if after else 4), point
        assert panel["diverged"].loc[0.9, 2.0] == after
