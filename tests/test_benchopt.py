"""The benchmark through benchopt's command line, as a user runs it."""

import numpy as np
import pytest

from benchopt_cli import benchopt, read_results


def test_benchopt_test_passes(bench):
    res = benchopt("test", ".", "--skip-install", cwd=bench)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_quickstart_gives_finite_curves_and_an_html_page(bench):
    res = benchopt("run", ".", "--config", "configs/quickstart.yml",
                   "--no-display", "--output", "quick", cwd=bench)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    df = read_results(bench, "quick")
    solvers = sorted({name.split("[")[0] for name in df["solver_name"]})
    assert solvers == ["adamw", "innaprop"]
    for _, curve in df.groupby("solver_name"):
        assert np.isfinite(curve["objective_value"]).all()
        assert curve["objective_epoch"].max() == 20      # the whole budget
        assert len(curve) == 21                          # every epoch + start
        assert curve["objective_value"].iloc[-1] < \
            0.5 * curve["objective_value"].iloc[0]
        assert curve["time"].is_monotonic_increasing
    pages = list((bench / "outputs").glob("*quick*.html"))
    assert pages and pages[0].stat().st_size > 10_000


def test_parameter_selection_reaches_the_optimizer(bench):
    res = benchopt("run", ".", "-s", "innaprop[alpha=2.0,beta=2.0,lr=0.002]",
                   "-d", "digits[epochs=1]", "--no-plot", "--output", "sel",
                   cwd=bench)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    df = read_results(bench, "sel")
    assert set(df["p_solver_alpha"]) == {2.0}
    assert set(df["p_solver_beta"]) == {2.0}
    # The solver's lr overrides the recipe's 1e-3 (epoch 0 of the cosine).
    assert df["objective_lr"].iloc[0] == pytest.approx(0.002)


@pytest.mark.parametrize("raise_on_error", [True, False])
def test_lr_not_below_beta_stops_with_a_clear_error(bench, raise_on_error):
    res = benchopt("run", ".", "-s", "innaprop[lr=1.0,beta=0.9]",
                   "-d", "digits[epochs=1]", "--no-plot", cwd=bench,
                   raise_on_error=raise_on_error)
    assert res.returncode != 0
    assert "got lr=1.0 and beta=0.9" in res.stdout + res.stderr


DIVERGING_SOLVER = '''
import torch
from benchmark_utils.bench.solver import TrainingSolver


class Solver(TrainingSolver):
    name = "sgd-huge-lr"
    parameters = {"lr": [1e30], "weight_decay": [None]}

    def make_optimizer(self, params, lr, weight_decay, run):
        return torch.optim.SGD(params, lr=lr)
'''


def test_a_diverging_solver_is_reported_and_the_others_go_on(bench):
    (bench / "solvers" / "sgd_huge_lr.py").write_text(DIVERGING_SOLVER)
    res = benchopt("run", ".", "-s", "sgd-huge-lr", "-s", "adamw",
                   "-d", "digits[epochs=4]", "--no-plot", "--output", "div",
                   cwd=bench)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "diverged at step" in res.stderr
    df = read_results(bench, "div")
    bad = df[df["solver_name"].str.startswith("sgd-huge-lr")]
    good = df[df["solver_name"].str.startswith("adamw")]
    # The diverged curve is kept, ends early and is flagged.
    assert len(bad) >= 2 and bad["objective_diverged"].iloc[-1] == 1
    assert bad["objective_budget_done"].iloc[-1] < 1
    assert good["objective_epoch"].max() == 4
    assert (good["objective_diverged"] == 0).all()


def test_benchopt_timeout_cutting_a_run_is_not_silent(bench):
    res = benchopt("run", ".", "-s", "adamw", "-d", "digits[epochs=50]",
                   "--timeout", "1", "--no-plot", cwd=bench)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "--timeout stopped adamw" in res.stderr
