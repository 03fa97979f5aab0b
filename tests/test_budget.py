"""The cost of tuning (reporting/budget.py) against hand-computed cases."""
import itertools
import math

import numpy as np
import pytest

from benchmark_utils.reporting.budget import (adjusted_p, expected_best,
                                              expected_best_curve)


def brute_force(scores, k, pick):
    """The mean over every k-subset of its best: the definition itself."""
    subsets = list(itertools.combinations(scores, k))
    return sum(pick(s) for s in subsets) / len(subsets)


def test_expected_best_by_hand():
    acc = [70.0, 90.0, 80.0]
    # k = 2: subsets {70, 90} {70, 80} {90, 80}: best 90, 80, 90.
    assert expected_best(acc, 2, maximize=True) == pytest.approx(260 / 3)
    assert expected_best(acc, 1, maximize=True) == pytest.approx(80.0)
    assert expected_best(acc, 3, maximize=True) == 90.0
    loss = [0.5, 0.2, 0.3, 0.9]
    # k = 2, losses: 6 subsets, minima 0.2 0.3 0.5 0.2 0.2 0.3.
    assert expected_best(loss, 2, maximize=False) == pytest.approx(1.7 / 6)


@pytest.mark.parametrize("maximize", [True, False])
def test_expected_best_equals_the_mean_over_all_subsets(maximize):
    scores = list(np.random.default_rng(0).normal(size=7))
    pick = max if maximize else min
    for k in range(1, 8):
        assert expected_best(scores, k, maximize) == pytest.approx(
            brute_force(scores, k, pick), rel=1e-12)


def test_a_diverged_trial_is_the_worst_and_the_curve_starts_at_defaults():
    assert expected_best([0.3, float("nan")], 1, maximize=False) == math.inf
    assert expected_best([0.3, float("nan")], 2, maximize=False) == 0.3
    curve = expected_best_curve([70.0, 90.0], True, default=60.0)
    assert curve == [60.0, 80.0, 90.0]
    with pytest.raises(ValueError, match="k=3"):
        expected_best([1.0, 2.0], 3, True)


def test_benjamini_hochberg_by_hand():
    # Sorted p: 0.01, 0.02, 0.04 (m = 3): p_(i) m / i = 0.03, 0.03, 0.04,
    # then the running minimum from the top.
    got = adjusted_p([0.04, 0.01, float("nan"), 0.02])
    assert got[[1, 3, 0]] == pytest.approx([0.03, 0.03, 0.04])
    assert np.isnan(got[2])
    assert np.isnan(adjusted_p([float("nan")])).all()


def test_state_bytes_per_parameter_are_the_methods_memory():
    """fp32: AdamW and INNAprop keep two tensors per parameter (8 bytes),
    SGD with momentum one (4), plus a step count per tensor."""
    import torch
    from innaprop import INNAprop
    from benchmark_utils.models.cifar import SmallCNN
    from benchmark_utils.tasks.image import ClassificationTask
    from benchmark_utils.training.method import Method
    from benchmark_utils.training.recipe import Recipe
    from benchmark_utils.training.trainer import Trainer
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 1, 8, 8, generator=gen)
    y = torch.randint(0, 3, (40,), generator=gen)
    task = ClassificationTask(x[:32], y[:32], x[32:], y[32:],
                              lambda n: SmallCNN(1, n), Recipe(
                                  batch_size=16, epochs=1, lr=1e-2,
                                  weight_decay=0.0), 3)
    makers = {"adamw": lambda p, lr, wd, run: torch.optim.AdamW(p, lr=lr),
              "innaprop": lambda p, lr, wd, run: INNAprop(p, lr=lr),
              "sgd": lambda p, lr, wd, run: torch.optim.SGD(
                  p, lr=lr, momentum=0.9)}
    got = {}
    for name, make in makers.items():
        trainer = Trainer(task, Method(make, 1e-2, 0.0), 0)
        trainer.train_stage()
        got[name] = trainer.progress().state_bytes
    assert got["adamw"] == pytest.approx(8, abs=0.05)
    assert got["innaprop"] == pytest.approx(8, abs=0.05)
    assert got["sgd"] == pytest.approx(4, abs=0.05)
    assert np.isnan(trainer.progress().peak_memory)      # CPU


def test_the_cost_table_compares_step_times_within_one_frame():
    import pandas as pd
    from benchmark_utils.reporting.budget import cost_table
    rows = []
    for solver, seconds in (("adamw[x=1]", 2.0), ("innaprop[a=1]", 3.0)):
        for rep in (0, 1):
            for stop, step in ((0, 0), (1, 100)):
                rows.append(dict(solver_name=solver, idx_rep=rep,
                                 stop_val=stop, objective_step=step,
                                 time=seconds * step / 100 * (1 + rep),
                                 objective_state_bytes_per_param=8.0))
    table = cost_table(pd.DataFrame(rows))
    # Medians over the seeds' seconds per step: 0.03 and 0.045 s.
    assert table.loc["adamw[x=1]", "seconds_per_step"] == pytest.approx(0.03)
    assert table.loc["innaprop[a=1]", "step_time_vs_baseline"] == \
        pytest.approx(1.5)
    assert table.loc["innaprop[a=1]", "state_bytes_per_param"] == 8.0
