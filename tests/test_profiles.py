"""Performance profiles, the score and the leaderboard across workloads, and
the provenance every results file records."""
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from benchmark_utils.reporting import profiles
from benchmark_utils.reporting.provenance import columns
from benchopt_cli import benchopt, read_results
from test_results import CHROMIUM, chromium_dom

# Its module fixture runs once: its tests stay on one xdist worker.
pytestmark = pytest.mark.xdist_group("profiles")


def frame(workload, curves, dt=1.0, device="cpu: x86_64"):
    """A results frame: {solver: [[values of seed 0], [seed 1], ...]},
    evaluation k of every seed at step 10 k and time k * dt."""
    rows = []
    for solver, seeds in curves.items():
        for rep, values in enumerate(seeds):
            for k, v in enumerate(values):
                rows.append(dict(
                    solver_name=solver, idx_rep=rep, stop_val=k,
                    time=k * dt, objective_step=10 * k, objective_value=v,
                    dataset_name=workload, objective_name="o",
                    objective_provenance_device=device))
    return pd.DataFrame(rows)


def test_ratios_profile_and_score_match_the_arithmetic():
    # Workload A: adamw reaches its target (median best = 1.0) at k = 4,
    # innaprop at k = 2, sgd never. Workload B: adamw at 2, innaprop at 6,
    # sgd at 3.
    a = frame("A", {"adamw": [[4, 3, 2, 1.5, 1.0]] * 2,
                    "innaprop": [[4, 2, 1.0, 0.9, 0.8]] * 2,
                    "sgd": [[4, 4, 4, 4, 4]] * 2})
    b = frame("B", {"adamw": [[3, 2, 1.0]] * 2,
                    "innaprop": [[3, 3, 3, 3, 3, 3, 1.0]] * 2,
                    "sgd": [[3, 2, 2, 1.0]] * 2})
    result = profiles.profiles({"a": a, "b": b})
    r = result["steps"]["ratios"]
    assert r.loc["A / o", "adamw"] == 2.0 and r.loc["A / o", "innaprop"] == 1
    assert math.isinf(r.loc["A / o", "sgd"])
    assert r.loc["B / o", "innaprop"] == 3.0
    assert r.loc["B / o", "sgd"] == 1.5 and r.loc["B / o", "adamw"] == 1.0
    s = result["steps"]["score"]
    # Trapezoidal rule on 100 evenly spaced tau (step h = 3/99): a ratio r
    # contributes 4 - r, plus h/2 where r lies on one of the points above
    # 1 (2 and 3 do, 1.5 lies halfway between two), over 3.
    h = 3 / 99
    assert s["adamw"] == pytest.approx(((4 - 2 + h / 2) / 3 + 1) / 2)
    assert s["innaprop"] == pytest.approx((1 + (4 - 3 + h / 2) / 3) / 2)
    assert s["sgd"] == pytest.approx((0 + (4 - 1.5) / 3) / 2)
    prof = result["steps"]["profile"]
    assert len(prof) == 100 and prof.index[0] == 1 and prof.index[-1] == 4
    assert prof.loc[1.0, "adamw"] == 0.5 and prof.loc[4.0, "sgd"] == 0.5
    # The exact integral of the step profile is within h of it.
    exact = ((4 - 1) + (4 - 3)) / 3 / 2
    assert s["innaprop"] == pytest.approx(exact, abs=h)
    # Time axis: the same ratios (dt = 1 everywhere).
    assert result["time"]["score"].equals(result["steps"]["score"])


def algoperf(curves, targets, dts, time_col):
    """AlgoPerf's profile and score (mlcommons/algorithmic-efficiency,
    scoring/performance_profile.py and score_submissions.py), written again
    from its code for this test: per study (here a seed, one trial each)
    the time at the first evaluation whose metric is <= the target (inf if
    none); np.median over studies; times more than 4x the workload's
    fastest set to inf; divided by the fastest; rho(tau) = (r <= tau).sum()
    / number of workloads on np.linspace(1, 4, 100); score = np.trapz(rho,
    tau) / (4 - 1)."""
    rows = []
    for submission, workloads in curves.items():
        for workload, seeds in workloads.items():
            times = []
            for values in seeds:
                reached = np.asarray(values) <= targets[workload]
                k = int(np.argmax(reached))
                x = {"global_step": 10 * k, "time": k * dts[submission]}
                times.append(x[time_col] if reached.any() else np.inf)
            rows.append(dict(submission=submission, workload=workload,
                             t=np.median(times)))
    df = pd.DataFrame(rows).pivot(index="submission", columns="workload",
                                  values="t")
    best_scores = df.min(axis=0)
    df[df.apply(lambda x: x > 4 * best_scores, axis=1)] = np.inf
    df.update(df.div(df.min(axis=0), axis=1))
    points = np.linspace(1.0, 4.0, num=100)
    perf = pd.concat([(df <= tau).sum(axis=1) / df.shape[1]
                      for tau in points], axis=1)
    perf.columns = points
    scores = np.trapezoid(perf, x=perf.columns) / (4.0 - 1.0)
    return perf, pd.Series(scores, index=perf.index)


def test_profiles_and_scores_reproduce_algoperf():
    # Target 1.0 on each workload (adamw's seeds all reach exactly 1.0).
    # A: sgd reaches it first, but with 2 of its 4 seeds only: its median
    # is infinite (a lower median would make it the fastest, 10 steps).
    # B: innaprop takes 90 steps, more than 4x adamw's 20: infinite.
    # C: everyone reaches it; sgd at 2.5x.
    never = [5.0] * 10
    curves = {
        "adamw": {"A": [[5, 4, 3, 2, 1.0]] * 2 + [[5, 4, 3, 2, 2, 1.0]] * 2,
                  "B": [[5, 2, 1.0]] * 4,
                  "C": [[5, 3, 2, 1.0]] * 4},
        "innaprop": {"A": [[5, 4, 1.0]] * 2 + [[5, 4, 3, 0.9]] * 2,
                     "B": [[5] * 9 + [1.0]] * 4,
                     "C": [[5, 2, 0.5]] * 4},
        "sgd": {"A": [[5, 0.5]] * 2 + [never] * 2,
                "B": [[5, 5, 5, 1.0]] * 4,
                "C": [[5, 5, 5, 5, 5, 1.0]] * 4}}
    dts = {"adamw": 1.0, "innaprop": 1.5, "sgd": 0.5}
    frames = {w: pd.concat([frame(w, {s: curves[s][w]}, dt=dts[s])
                            for s in curves], ignore_index=True)
              for w in "ABC"}
    result = profiles.profiles(frames)
    for axis, col in (("steps", "global_step"), ("time", "time")):
        perf, scores = algoperf(curves, {"A": 1.0, "B": 1.0, "C": 1.0},
                                dts, col)
        ours = result[axis]
        np.testing.assert_allclose(ours["profile"].index, perf.columns,
                                   rtol=0, atol=1e-15)
        np.testing.assert_allclose(ours["profile"][perf.index].T, perf,
                                   rtol=0, atol=1e-15)
        np.testing.assert_allclose(ours["score"][scores.index], scores,
                                   rtol=1e-12)
    # The cases themselves, by hand (steps): sgd's half-failed A and
    # innaprop's B (90 > 4 x 20) are infinite; the rest divide by the
    # fastest.
    r = result["steps"]["ratios"]
    assert math.isinf(r.loc["A / o", "sgd"])
    assert math.isinf(r.loc["B / o", "innaprop"])
    assert r.loc["A / o", "adamw"] == 45 / 25      # medians 45 and 25
    assert r.loc["C / o", "sgd"] == 50 / 20
    board = result["leaderboards"]["A / o"]
    assert math.isinf(board.loc["sgd", "steps"])
    assert board.loc["sgd", "reached"] == 0.5
    # The page says why each is infinite.
    page = profiles.page(result)
    assert "never (half or more of the seeds never reach it)" in page
    assert "90 [90, 90] (more than 4x the fastest: counts as infinite)" \
        in page
    assert "half or more of whose seeds never reach it" in page



def test_a_solver_never_reaching_any_target_scores_zero():
    a = frame("A", {"adamw": [[2, 1.0]], "stuck": [[2, 2]]})
    b = frame("B", {"adamw": [[2, 1.0]], "stuck": [[2, 2]]})
    result = profiles.profiles({"a": a, "b": b})
    assert result["steps"]["score"]["stuck"] == 0.0
    assert result["steps"]["score"]["adamw"] == 1.0
    assert (result["steps"]["profile"]["stuck"] == 0).all()


def test_leaderboard_intervals_and_welch_match_scipy():
    from scipy import stats
    curves = {"adamw": [[5, 1.0], [5, 2, 1.0], [5, 2, 2, 1.0]],
              "innaprop": [[5, 0.5], [5, 0.5], [5, 2, 0.5]]}
    board = profiles.leaderboard(frame("A", curves))
    assert board.attrs["target"] == 1.0
    base_t = [1.0, 2.0, 3.0]
    ours_t = [1.0, 1.0, 2.0]
    assert board.loc["adamw", "time"] == 2.0
    # Times are positive: the interval is Student-t's on the log scale.
    logs = np.log(base_t)
    low, high = stats.t.interval(0.95, 2, loc=np.mean(logs),
                                 scale=stats.sem(logs))
    assert board.loc["adamw", "time_interval"] == \
        pytest.approx((np.exp(low), np.exp(high)))
    p = stats.ttest_ind(ours_t, base_t, equal_var=False).pvalue
    assert board.loc["innaprop", "p_time"] == pytest.approx(p)
    assert math.isnan(board.loc["adamw", "p_time"])
    # One comparison: adjusted, the same p.
    assert board.loc["innaprop", "p_time_adjusted"] == pytest.approx(p)


def test_leaderboard_adjusts_its_p_values_over_the_workloads_solvers():
    from scipy import stats
    # Times to the target 1.0 (one evaluation a second): adamw 1 2 3,
    # fast 1 1 2, slow 3 3 4 and 3 4 4 seconds.
    curves = {"adamw": [[5, 1.0], [5, 2, 1.0], [5, 2, 2, 1.0]],
              "fast": [[5, 0.5], [5, 0.5], [5, 2, 0.5]],
              "slow": [[5, 5, 5, 1.0], [5, 5, 5, 1.0], [5, 5, 5, 5, 1.0]],
              "slower": [[5, 5, 5, 1.0], [5, 5, 5, 5, 1.0],
                         [5, 5, 5, 5, 1.0]]}
    board = profiles.leaderboard(frame("A", curves))
    p = {s: stats.ttest_ind(t, [1, 2, 3], equal_var=False).pvalue
         for s, t in (("fast", [1, 1, 2]), ("slow", [3, 3, 4]),
                      ("slower", [3, 4, 4]))}
    # By hand: sorted p_(1) <= p_(2) <= p_(3), p_(i) * 3 / i, then the
    # running minimum from the largest.
    order = sorted(p, key=p.get)
    scaled = [p[s] * 3 / (i + 1) for i, s in enumerate(order)]
    expected = {s: min(scaled[i:]) for i, s in enumerate(order)}
    for s in p:
        assert board.loc[s, "p_time_adjusted"] == pytest.approx(expected[s])
    page = profiles.page(profiles.profiles({"a": frame("A", curves),
                                            "b": frame("B", curves)}))
    assert f"adjusted p = {expected['slower']:.2g}" in page
    assert "Benjamini-Hochberg" in page


def test_a_change_of_hardware_warns_and_a_clashing_file_is_left_out():
    a = frame("A", {"adamw": [[2, 1.0]], "innaprop": [[2, 1.0]]})
    b = frame("B", {"adamw": [[2, 1.0]]}, device="cuda: NVIDIA H100")
    result = profiles.profiles({"a": a, "b": b})
    assert any("different hardware" in w for w in result["warnings"])
    same = profiles.profiles({"a": a, "b2": frame(
        "B", {"adamw": [[2, 1.0]]})})
    assert same["warnings"] == []
    # The same workload in two files with the same solver: left out.
    again = profiles.profiles({"a": a, "a2": a.copy(), "b": b})
    assert any("already given by a" in why for _, why in again["left_out"])
    # Another target for the same workload: left out too.
    other = frame("A", {"adamw": [[2, 0.3]], "sgd": [[2, 0.4]]})
    diff = profiles.profiles({"a": a, "other": other, "b": b})
    assert any("target" in why for _, why in diff["left_out"])


@pytest.fixture(scope="module")
def two_workloads(tmp_path_factory):
    from benchopt_cli import copy_benchmark
    bench = copy_benchmark(tmp_path_factory.mktemp("prof") / "bench")
    for name, dataset in (
            ("digits", "digits[epochs=3]"),
            ("tokens", "tokens[max_steps=6,eval_every=2,eval_batches=2,"
                       "block_size=16,batch_size=4,warmup=1]")):
        res = benchopt("run", ".", "-d", dataset, "-s", "adamw", "-s",
                       "innaprop", "-r", "2", "--no-plot", "-n", "20",
                       "--no-timeout", "--output", name, cwd=bench)
        assert res.returncode == 0, res.stderr[-3000:]
    return bench


def test_every_run_records_its_provenance(two_workloads):
    df = read_results(two_workloads, "digits")
    info = columns(df)
    for key in ("commit", "dirty", "python", "cuda", "cudnn",
                "version_torch", "version_triton", "version_torchvision",
                "version_benchopt", "version_innaprop", "device",
                "device_count", "world_size", "precision", "command"):
        assert key in info and info[key], key
    assert info["world_size"] == ["1"]
    assert info["version_torch"][0].startswith(
        __import__("torch").__version__.split("+")[0])


def test_the_site_gets_a_profile_page_that_renders_offline(two_workloads,
                                                          tmp_path):
    from benchmark_utils.reporting.site import build_site
    files = [two_workloads / "outputs" / f"{n}.parquet"
             for n in ("digits", "tokens")]
    index = build_site(files, tmp_path / "site", benchmark_dir=two_workloads)
    html = index.read_text()
    assert 'href="profiles.html"' in html
    assert "version_torch: " in html and "world_size: 1" in html
    page = (tmp_path / "site" / "profiles.html").read_text()
    assert "2 workloads" in page and "infinitely slow" in page
    assert "https://" not in re.sub(r"mlcommons[^ ]*", "", page)
    if CHROMIUM is None:
        pytest.skip("chromium is not installed: the rendering is not "
                    "checked")
    dom = chromium_dom(tmp_path / "site" / "profiles.html")
    assert dom.count("class=\"main-svg\"") >= 2        # both profiles drawn
    shot = tmp_path / "profiles.png"
    import subprocess
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--window-size=1200,1800", f"--screenshot={shot}",
                    (tmp_path / "site" / "profiles.html").as_uri()],
                   capture_output=True, timeout=300)
    if shot.exists():
        shutil.copy(shot, tmp_path.parent / "profiles_screenshot.png")


def test_the_run_page_shows_its_provenance(two_workloads, tmp_path):
    from benchopt.benchmark import Benchmark
    plot = {p.name: p for p in Benchmark(two_workloads).get_plots()}[
        "provenance"]
    df = read_results(two_workloads, "digits")
    rows = dict(plot.plot(df, df["dataset_name"].iloc[0],
                          df["objective_name"].iloc[0]))
    assert rows["world_size"] == "1" and "cpu" in rows["device"]
