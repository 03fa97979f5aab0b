"""Tuning studies: equal budgets drawn the same way, selection on the
validation split only, study files checked, and one tiny study end to end
through benchopt."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import qmc

from benchmark_utils.tuning.space import check_space, draw, scale
from benchmark_utils.tuning.study import (load_study, reused_lr_wd, select,
                                          solver_classes, trials)


def write_study(tmp_path, **keys):
    path = tmp_path / "study.yml"
    path.write_text(yaml.safe_dump(keys))
    return path


def test_every_solver_gets_the_same_number_of_trials_drawn_the_same_way(
        tmp_path, root):
    names = sorted(solver_classes(root))
    study = load_study(write_study(tmp_path, dataset="digits[n_val=270]",
                                   trials=5, solvers=names), root)
    plan = trials(study)
    assert set(plan) == set(names)
    for name, draws in plan.items():
        space = study["spaces"][name]
        others = sorted(set(space) - {"lr", "weight_decay"})
        assert len(draws) == 5
        # One scrambled Halton sequence (seed 0): lr on coordinate 0,
        # weight_decay on 1, the others from 2 in name order.
        units = qmc.Halton(d=2 + len(others), scramble=True,
                           seed=0).random(5)
        column = {"lr": 0, "weight_decay": 1,
                  **{p: 2 + i for i, p in enumerate(others)}}
        for d, u in zip(draws, units):
            assert d == {p: scale(space[p], u[column[p]]) for p in space}


def test_solvers_with_the_same_lr_and_decay_ranges_get_the_same_trials():
    lr_wd = {"lr": {"log_uniform": [1e-4, 1e-2]},
             "weight_decay": {"log_uniform": [1e-4, 1e-1]}}
    adamw = draw(lr_wd, 5, seed=0)
    innaprop = draw({**lr_wd, "alpha": {"uniform": [0.1, 3.0]},
                     "beta": {"uniform": [0.5, 3.0]}}, 5, seed=0)
    # Before: adamw's lr trials 1.6e-4, 1.6e-3, 5.0e-4, 5.0e-3, 2.8e-4 and
    # innaprop's 4.0e-4, 2.5e-3, 1.6e-4, 1.0e-3, 6.3e-3.
    expected = [1.6e-4, 1.6e-3, 5.0e-4, 5.0e-3, 2.8e-4]
    for trials_ in (adamw, innaprop):
        assert [d["lr"] for d in trials_] == pytest.approx(expected,
                                                           rel=0.03)
    assert [(d["lr"], d["weight_decay"]) for d in innaprop] == \
        [(d["lr"], d["weight_decay"]) for d in adamw]
    # Weight decay alone keeps its coordinate too.
    only_wd = draw({"weight_decay": lr_wd["weight_decay"],
                    "momentum": {"uniform": [0.8, 0.99]}}, 5, seed=0)
    assert [d["weight_decay"] for d in only_wd] == \
        [d["weight_decay"] for d in adamw]


def test_draws_cover_the_space_on_the_right_scale():
    space = {"lr": {"log_uniform": [1e-4, 1e-2]},
             "alpha": {"uniform": [0.1, 3.0]},
             "nesterov": {"choice": [False, True]}}
    draws = draw(space, 64, seed=3)
    lr = np.log10([d["lr"] for d in draws])
    alpha = [d["alpha"] for d in draws]
    assert lr.min() >= -4 and lr.max() <= -2 and abs(lr.mean() + 3) < 0.1
    assert min(alpha) >= 0.1 and max(alpha) <= 3.0
    assert {d["nesterov"] for d in draws} == {False, True}
    assert draws == draw(space, 64, seed=3)            # reproducible


@pytest.mark.parametrize("space, message", [
    ({"lrr": {"uniform": [0, 1]}}, "not a parameter"),
    ({"lr": {"normal": [0, 1]}}, "must be one of"),
    ({"lr": {"uniform": [1, 0]}}, "low < high"),
    ({"lr": {"log_uniform": [0, 1]}}, "low > 0"),
    ({"lr": {"choice": []}}, "non-empty"),
])
def test_bad_search_spaces_name_the_parameter(space, message):
    with pytest.raises(ValueError, match=message):
        check_space(space, "adamw", {"lr": [None]})


def test_every_solver_declares_a_valid_search_space(root):
    for name, cls in solver_classes(root).items():
        check_space(cls.search_space, name, cls.parameters)


def test_a_study_file_space_replaces_the_solvers_own(tmp_path, root):
    own = {"alpha": {"choice": [0.1, 2.0]}}
    study = load_study(write_study(
        tmp_path, dataset="digits[n_val=270]",
        solvers=["adamw", {"innaprop": {"search_space": own}}]), root)
    assert study["spaces"]["innaprop"] == own


@pytest.mark.parametrize("keys, message", [
    (dict(select="objective_test_acc"), "validation column"),
    (dict(solvers=["nope"]), "not in"),
    (dict(protocol="fair"), "protocol"),
    (dict(trials=0), "trials"),
    (dict(baseline="sgd"), "baseline"),
])
def test_bad_study_files_say_what_is_allowed(tmp_path, root, keys, message):
    study = {"dataset": "digits[n_val=270]", "solvers": ["adamw", "innaprop"],
             **keys}
    with pytest.raises(ValueError, match=message):
        load_study(write_study(tmp_path, **study), root)


def trial_frame(val, test):
    """Results of three adamw trials (lr 1, 2, 3), two evaluations each."""
    rows = []
    for lr, v, t in zip((1.0, 2.0, 3.0), val, test):
        for k in range(2):
            rows.append(dict(
                solver_name=f"adamw[lr={lr}]", idx_rep=0, stop_val=k,
                objective_step=k * 10, p_solver_lr=lr,
                objective_val_loss=2.0 if k == 0 else v,
                objective_test_loss=2.0 if k == 0 else t,
                objective_test_acc=50.0 if k == 0 else 100 - 10 * t))
    return pd.DataFrame(rows)


def test_selection_reads_only_the_validation_columns():
    names = {"adamw": {f"adamw[lr={lr}]": {"lr": lr}
                       for lr in (1.0, 2.0, 3.0)}}
    df = trial_frame(val=[0.5, 0.2, 0.9], test=[0.1, 0.8, 0.3])
    chosen = select(df, names, "objective_val_loss")
    assert chosen["adamw"] == ({"lr": 2.0}, pytest.approx(0.2))
    rng = np.random.default_rng(0)
    for col in ("objective_test_loss", "objective_test_acc"):
        df[col] = rng.normal(size=len(df)) * 1e3      # corrupt the test split
    assert select(df, names, "objective_val_loss") == chosen
    # With a target: fewest steps to reach it (all three reach 0.95 at 10;
    # 0.3 only lr=2).
    assert select(df, names, "objective_val_loss", target=0.3)["adamw"][0] \
        == {"lr": 2.0}
    with pytest.raises(ValueError, match="not a validation column"):
        select(df, names, "objective_test_loss")


def test_a_tiny_study_runs_end_to_end_with_fresh_confirmation_seeds(
        bench, tmp_path):
    import os
    import subprocess
    import sys
    path = write_study(tmp_path, name="tiny",
                       dataset="digits[epochs=1,n_val=100]",
                       trials=2, confirm_seeds=2, solvers=["adamw", "sgd"],
                       target="tuned_baseline_median")
    out = subprocess.run([sys.executable, "-m", "benchmark_utils.tuning",
                          str(path), "--bench", str(bench)], cwd=bench,
                         capture_output=True, text=True, timeout=900,
                         env=dict(os.environ, INNAPROP_DEVICE="cpu"))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    trials_df = pd.read_parquet(bench / "outputs" / "tiny_trials.parquet")
    confirm = pd.read_parquet(bench / "outputs" / "tiny_confirm.parquet")
    assert trials_df["solver_name"].nunique() == 4     # 2 trials x 2 solvers
    assert confirm.groupby("solver_name")["idx_rep"].nunique().tolist() \
        == [2, 2]
    # Fresh seeds: the confirmed winner's first epoch differs from its
    # trial's (same hyperparameters, other initialisation and batches).
    name = confirm["solver_name"].iloc[0]
    first = lambda d: d[(d.solver_name == name) & (d.stop_val == 1)][
        "objective_val_loss"].to_numpy()
    assert not np.isin(first(confirm), first(trials_df)).any()
    report = (bench / "outputs" / "tiny_report.md").read_text()
    assert "lr=" in report and "Welch" in report and "Target val_loss" in \
        report
    page = (bench / "outputs" / "tiny_report.html").read_text()
    assert "plotly" in page and "<table>" in page
    # Budget 0: each solver once at its defaults, on the trials' seed.
    defaults = pd.read_parquet(bench / "outputs" / "tiny_defaults.parquet")
    assert sorted(defaults["solver_name"].str.split("[").str[0].unique()) \
        == ["adamw", "sgd"]
    assert defaults["p_solver_lr"].isna().all()          # lr=None
    assert (defaults["base_seed"] == trials_df["base_seed"].iloc[0]).all()
    # The record rebuilds the same report from the results files.
    from benchmark_utils.tuning.report import markdown
    from benchmark_utils.tuning.study import study_result
    record = json.loads((bench / "outputs" / "tiny_study.json").read_text())
    assert record["files"]["trials"] == ["tiny_trials.parquet"]
    assert markdown(study_result(record, trials_df, defaults, confirm)) == \
        report
    # Published: the record and its files copied, the pages sharing one
    # plotly.js, and the same tables rebuilt from the copied files alone.
    from benchmark_utils.tuning.publish import publish
    site = tmp_path / "site"
    publish(site, [bench / "outputs" / "tiny_study.json"])
    assert {p.name for p in (site / "data").iterdir()} == {
        "tiny_study.json", "tiny_trials.parquet", "tiny_defaults.parquet",
        "tiny_confirm.parquet"}
    index = (site / "index.html").read_text()
    assert 'href="tiny_report.html"' in index
    assert 'href="tiny_confirm.html"' in index
    headline = (site / "headline.md").read_text()
    assert "| adamw |" in headline and "| baseline |" in headline
    assert (site / "assets" / "plotly.min.js").is_file()
    pages = list(site.glob("*.html"))
    assert len(pages) == 3
    for page in pages:     # plotly.js (~4.5 MB) is not inlined anywhere
        assert page.stat().st_size < 1_000_000, page
        assert "cdn.plot.ly" not in page.read_text()
    (bench / "outputs" / "tiny_study.json").unlink()
    publish(site)
    assert (site / "headline.md").read_text() == headline


def test_thesis_protocol_reuses_the_baselines_lr_and_decay(tmp_path, root):
    study = load_study(write_study(
        tmp_path, dataset="digits[n_val=270]", protocol="thesis", trials=3,
        solvers=["adamw", "innaprop", "sgd"]), root)
    fixed = reused_lr_wd(study, {"lr": 0.002, "weight_decay": 0.05})
    assert fixed["innaprop"] == {"lr": 0.002, "weight_decay": 0.05}
    assert fixed["sgd"] == {"lr": 0.2, "weight_decay": 0.0005}  # x100, /100
    plan = trials(study, fixed, only=["innaprop", "sgd"])
    # INNAprop searches alpha and beta only, with the same budget; SGD has
    # nothing left to search and runs once.
    assert len(plan["innaprop"]) == 3 and len(plan["sgd"]) == 1
    assert all(d["lr"] == 0.002 and d["weight_decay"] == 0.05
               and {"alpha", "beta"} <= set(d) for d in plan["innaprop"])
    assert plan["sgd"] == [{"lr": 0.2, "weight_decay": 0.0005}]
