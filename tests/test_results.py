"""Result pages and the thesis's tables and figures.

The arithmetic of the tables and curves is checked on hand-built results
frames with known answers; the pages on real `benchopt run`s of the
quickstart dataset, opened in headless Chromium with networking off.
"""
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark_utils.reporting import pages as offline_html
from benchmark_utils.reporting.results import (final_metrics, grid, mean_curve,
                                     speedup_table, x_axes)
from benchopt_cli import benchopt, copy_benchmark, read_results

# Its module fixture runs once: its tests stay on one xdist worker.
pytestmark = pytest.mark.xdist_group("results")

ROOT = Path(__file__).resolve().parents[1]


def results_frame(curves, x_step=100, dt=None, column="objective_value"):
    """A results frame as `benchopt run` writes it: one row per evaluation.

    curves: {solver_name: [values of repetition 0, of repetition 1, ...]}.
    Evaluation k is at step k * x_step and, for repetition r, at time
    k * dt[r] (seconds).
    """
    rows = []
    for solver, reps in curves.items():
        for rep, values in enumerate(reps):
            for k, v in enumerate(values):
                rows.append({
                    "solver_name": solver, "idx_rep": rep, "stop_val": k,
                    "time": k * (dt[rep] if dt else 1.0),
                    "objective_step": k * x_step, "objective_epoch": k,
                    column: v,
                    "objective_diverged": int(not np.isfinite(v)),
                    "objective_budget_done": (k + 1) / len(values),
                    "dataset_name": "d", "objective_name": "o"})
    return pd.DataFrame(rows)


# -- curves averaged over seeds -------------------------------------------

def test_mean_curve_is_the_mean_over_seeds_with_its_band():
    reps = np.array([[2.0, 1.0, 0.5, 0.25],
                     [2.2, 1.4, 0.6, 0.20],
                     [1.8, 0.9, 0.7, 0.30]])
    df = results_frame({"s": list(reps)}, dt=[1.0, 2.0, 3.0])
    curve = mean_curve(df, "objective_value", "time", band="std")
    np.testing.assert_allclose(curve["mean"], reps.mean(0))
    np.testing.assert_allclose(curve["high"] - curve["mean"],
                               reps.std(0, ddof=1))
    np.testing.assert_allclose(curve["x"], np.arange(4) * 2.0)  # mean time
    band = mean_curve(df, "objective_value", "objective_epoch", "min-max")
    np.testing.assert_allclose(band["low"], reps.min(0))
    np.testing.assert_allclose(band["high"], reps.max(0))
    one = mean_curve(results_frame({"s": [reps[0]]}), "objective_value",
                     "objective_step")
    assert one["low"].isna().all()       # one seed: no band


def test_a_diverged_seed_ends_the_mean_curve():
    df = results_frame({"s": [[2.0, 1.0, 0.5, 0.2],
                              [2.0, 1.2, np.nan]]})
    curve = mean_curve(df, "objective_value", "objective_step")
    np.testing.assert_allclose(curve["mean"], [2.0, 1.1])
    np.testing.assert_allclose(curve["x"], [0, 100])


def test_x_axes_offer_tokens_when_the_results_have_them():
    df = results_frame({"s": [[1.0, 0.5]]})
    assert x_axes(df) == ["epoch", "step", "time"]
    df["objective_tokens"] = df["objective_step"] * 4096
    assert "tokens" in x_axes(df)
    curve = mean_curve(df, "objective_value", "objective_tokens")
    np.testing.assert_allclose(curve["x"], [0, 409600])


# -- the speedup table (thesis Table 4.4) ---------------------------------

ADAMW = "adamw[lr=0.001]"
FAST = "innaprop[alpha=0.1,beta=0.9]"
SLOW = "innaprop[alpha=2.0,beta=2.0]"


def test_speedup_table_matches_the_arithmetic():
    # Means over the two seeds: AdamW 2, 1, .8, .6, .5 (best .5 at step
    # 400, time 44); fast INNAprop first <= .5 at step 300 (time 39);
    # slow INNAprop never.
    df = pd.concat([
        results_frame({ADAMW: [[2.0, 1.0, 0.8, 0.6, 0.52],
                               [2.0, 1.0, 0.8, 0.6, 0.48]]}, dt=[10, 12]),
        results_frame({FAST: [[2.0, 0.9, 0.55, 0.46, 0.41],
                              [2.0, 0.9, 0.55, 0.44, 0.39]]}, dt=[13, 13]),
        results_frame({SLOW: [[2.0, 1.5, 1.2, 1.0, 0.9],
                              [2.0, 1.5, 1.2, 1.0, 0.9]]}, dt=[10, 10]),
    ])
    table = speedup_table(df, "objective_value")
    assert list(table.index) == [ADAMW, FAST, SLOW]     # baseline first
    assert table.attrs["baseline"] == ADAMW
    assert table.attrs["target"] == pytest.approx(0.5)
    assert table.attrs["base_step"] == 400
    assert table.attrs["base_time"] == pytest.approx(44.0)
    assert table.loc[ADAMW, "best_mean"] == pytest.approx(0.5)
    assert table.loc[ADAMW, "best_std"] == pytest.approx(0.04 / np.sqrt(2))
    assert table.loc[ADAMW, "speedup_steps"] == pytest.approx(1.0)
    assert table.loc[FAST, "step"] == 300
    assert table.loc[FAST, "time"] == pytest.approx(39.0)
    assert table.loc[FAST, "speedup_steps"] == pytest.approx(400 / 300)
    assert table.loc[FAST, "speedup_time"] == pytest.approx(44 / 39)
    assert table.loc[FAST, "best_mean"] == pytest.approx(0.40)
    assert np.isnan(table.loc[SLOW, "step"])
    assert np.isnan(table.loc[SLOW, "speedup_steps"])

    # Another baseline: the slow INNAprop's best (.9 at step 400) is first
    # matched by AdamW at step 200 (.8).
    other = speedup_table(df, "objective_value", baseline=SLOW)
    assert list(other.index)[0] == SLOW
    assert other.loc[ADAMW, "step"] == 200
    assert other.loc[ADAMW, "speedup_steps"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="not among the solvers"):
        speedup_table(df, "objective_value", baseline="sgd")


def test_speedup_table_reproduces_the_gpt2_mini_row_of_table_4_4():
    # Thesis Table 4.4, GPT-2 mini: AdamW's best validation loss 3.57 after
    # 100,000 steps; INNAprop reaches it at 51,000 steps: "1.96x faster".
    steps = np.arange(0, 100_001, 1000)
    adamw = 3.57 + 2 * (1 - steps / 100_000) ** 2
    innaprop = 3.47 + (100_000 - steps) * 0.1 / 49_000 - 1e-9
    df = pd.concat([results_frame({ADAMW: [adamw]}, x_step=1000),
                    results_frame({FAST: [innaprop]}, x_step=1000)])
    table = speedup_table(df, "objective_value")
    assert table.loc[FAST, "step"] == 51_000
    assert round(table.loc[FAST, "speedup_steps"], 2) == 1.96
    assert table.loc[FAST, "best_mean"] == pytest.approx(3.47)


def test_speedup_of_an_accuracy_looks_for_the_highest_value():
    acc = "objective_test_acc"
    df = pd.concat([results_frame({ADAMW: [[10, 60, 80, 90]]}, column=acc),
                    results_frame({FAST: [[10, 85, 91, 92]]}, column=acc)])
    table = speedup_table(df, "objective_test_acc")
    assert table.attrs["target"] == 90
    assert table.loc[FAST, "step"] == 200
    assert table.loc[FAST, "speedup_steps"] == pytest.approx(1.5)
    assert table.loc[FAST, "best_mean"] == 92


# -- the final-metrics table (thesis Tables 4.2, 4.3) ---------------------

def final_frame():
    """Three seeds per solver; the last evaluation of each holds the final
    test top-1 / top-5 accuracies."""
    rows = []
    finals = {ADAMW: [(90.0, 99.0), (91.0, 98.0), (92.0, 97.0)],
              FAST: [(93.0, 99.5), (np.nan, np.nan), (94.0, 99.0)]}
    for solver, seeds in finals.items():
        for rep, (top1, top5) in enumerate(seeds):
            for k, frac in enumerate((0.0, 1.0)):
                last = k == 1
                rows.append({
                    "solver_name": solver, "idx_rep": rep, "stop_val": k,
                    "time": k, "objective_value": 1.0,
                    "objective_test_acc": top1 if last else 10.0,
                    "objective_test_top5": top5 if last else 50.0,
                    "objective_diverged": int(last and np.isnan(top1)),
                    "objective_budget_done": frac,
                    "dataset_name": "d", "objective_name": "o"})
    return pd.DataFrame(rows)


def test_final_metrics_are_the_last_evaluation_mean_and_spread():
    table = final_metrics(final_frame(), ["objective_test_acc",
                                          "objective_test_top5"])
    assert table.loc[ADAMW, "objective_test_acc"] == pytest.approx(91.0)
    assert table.loc[ADAMW, "objective_test_acc:std"] == pytest.approx(1.0)
    assert table.loc[ADAMW, "objective_test_top5"] == pytest.approx(98.0)
    assert table.loc[ADAMW, "objective_test_top5:std"] == pytest.approx(1.0)
    # The diverged seed is left out and counted.
    assert table.loc[FAST, "objective_test_acc"] == pytest.approx(93.5)
    assert table.loc[FAST, "objective_test_acc:std"] == \
        pytest.approx(np.std([93, 94], ddof=1))
    assert table.loc[FAST, "n_diverged"] == 1
    assert table.loc[ADAMW, "n_diverged"] == 0


@pytest.fixture(scope="module")
def plots():
    """This benchmark's plot classes, loaded by benchopt."""
    from benchopt.benchmark import Benchmark
    return {p.name: p for p in Benchmark(ROOT).get_plots()}


def test_final_metrics_plot_shows_top1_and_top5(plots):
    plot = plots["final_metrics"]
    meta = plot.get_metadata(final_frame(), "d", "o")
    rows = plot.plot(final_frame(), "d", "o")
    assert meta["columns"][:3] == ["solver", "test top-1 (%)",
                                   "test top-5 (%)"]
    assert meta["columns"][-1] == "seeds"
    # Mean [95% Student-t interval], never a bare ± std.
    from scipy import stats
    low, high = stats.t.interval(0.95, 2, loc=91.0, scale=1 / np.sqrt(3))
    assert rows[0][:2] == ["adamw", f"91.00 [{low:.2f}, {high:.2f}]"]
    # The best mean of a column is bold, with its Welch test against
    # AdamW; the diverged seed is reported.
    p = stats.ttest_ind([93, 94], [90, 91, 92], equal_var=False).pvalue
    low, high = stats.t.interval(0.95, 1, loc=93.5, scale=0.5)
    # One comparison: the adjusted p is the raw one.
    assert rows[1][1] == (f"**93.50 [{low:.2f}, {high:.2f}]; "
                          f"{'' if p < 0.05 else 'no '}significant"
                          f"{' difference' if p >= 0.05 else ''} "
                          f"(p = {p:.2g}, adjusted p = {p:.2g})**")
    assert rows[1][-1] == "3 (1 diverged)"
    assert "Benjamini-Hochberg" in meta["title"]


def test_tables_of_several_comparisons_read_the_adjusted_p_values(plots):
    # Final values: adamw 1.0 1.1 1.2, a 1.25 1.35 1.45, b 1.0 1.2 1.4:
    # a's raw p is below 0.05, twice it (Benjamini-Hochberg, m = 2, a
    # first) is not.
    from scipy import stats
    finals = {"adamw[lr=0.001]": [1.0, 1.1, 1.2],
              "a[lr=0.01]": [1.25, 1.35, 1.45], "b[lr=0.1]": [1.0, 1.2, 1.4]}
    df = results_frame({s: [[0.5, 0.8, v] for v in vs]
                        for s, vs in finals.items()},
                       column="objective_test_acc")
    p_a, p_b = (stats.ttest_ind(finals[s], finals["adamw[lr=0.001]"],
                                equal_var=False).pvalue
                for s in ("a[lr=0.01]", "b[lr=0.1]"))
    assert p_a < 0.05 < 2 * p_a < p_b
    rows = plots["final_metrics"].plot(df, "d", "o")
    assert rows[1][1].endswith(f"; no significant difference (p = "
                               f"{p_a:.2g}, adjusted p = {2 * p_a:.2g})**")
    assert rows[2][1].endswith(f"(p = {p_b:.2g}, adjusted p = {p_b:.2g})")
    # The speedup table's best values, the same way.
    rows = plots["speedup"].plot(df, "d", "o", "objective_test_acc",
                                 "adamw[lr=0.001]")
    assert rows[1][1].endswith(f"; no significant difference (p = "
                               f"{p_a:.2g}, adjusted p = {2 * p_a:.2g})")


def test_every_plot_handles_language_model_results(plots):
    # Validation loss and perplexity against tokens, fractional epochs, and
    # a diagnostic only Sophia reports.
    losses = {"adamw": [[5.5, 4.6, 4.3], [5.5, 4.7, 4.2]],
              "innaprop": [[5.5, 4.4, 4.0], [5.5, 4.5, 4.1]],
              "sophia": [[5.5, 4.6, 4.2], [5.5, 4.6, 4.2]]}
    df = results_frame(losses, x_step=2)
    df["objective_epoch"] = df["objective_step"] / 240
    df["objective_tokens"] = df["objective_step"] * 64
    df["objective_val_loss"] = df["objective_value"]
    df["objective_val_perplexity"] = np.exp(df["objective_value"])
    df["objective_win_rate"] = np.where(df["solver_name"] == "sophia", 0.3,
                                        np.nan)
    data = {name: plot._get_all_plots(df) for name, plot in plots.items()}
    curves, options = data["convergence"]
    assert "tokens" in options["X_axis"]
    key = "convergence_d_o_objective_val_loss_tokens_std"
    [first, *_] = curves[key]["data"]
    assert first["label"] == "adamw"
    assert first["x"] == [0, 128, 256]
    np.testing.assert_allclose(first["y"], [5.5, 4.65, 4.25])
    finals, _ = data["final_metrics"]
    columns = finals["final_metrics_d_o"]["columns"]
    assert {"val_loss", "val_perplexity", "win_rate"} <= set(columns)
    tables, _ = data["speedup"]
    loss = tables["speedup_d_o_objective_val_loss_adamw"]
    assert loss["data"][1][:1] == ["innaprop"]
    assert loss["data"][1][3] == 4             # first step <= 4.25
    assert loss["data"][1][5].startswith("1.00 [")
    rate = tables["speedup_d_o_objective_win_rate_adamw"]
    assert rate["data"] == [] and "has no finite win_rate" in rate["title"]
    heatmaps, options = data["heatmap"]
    assert options["solver"] == ["none"] and len(heatmaps) == 1


# -- the (alpha, beta) heatmap --------------------------------------------

def test_grid_holds_the_metric_at_the_chosen_epoch():
    curves, expected = {}, {}
    for alpha in (0.1, 0.5, 2.0):
        for beta in (0.9, 2.0):
            name = f"innaprop[alpha={alpha},beta={beta}]"
            final = alpha + 10 * beta
            curves[name] = [[5.0, final - 0.5, final - 1],
                            [5.0, final + 0.5, final + 1]]
            expected[beta, alpha] = final
    curves["innaprop[alpha=0.5,beta=2.0]"][1][2] = np.nan  # diverged
    df = results_frame(curves)
    for col, value in (("p_solver_alpha", "alpha="),
                       ("p_solver_beta", "beta=")):
        df[col] = df["solver_name"].str.extract(
            value + r"([\d.]+)")[0].astype(float)
    [panel] = grid(df, "innaprop", ("alpha", "beta"), "objective_value",
                   "epoch 1")
    assert list(panel["values"].columns) == [0.1, 0.5, 2.0]
    assert list(panel["values"].index) == [0.9, 2.0]
    for (beta, alpha), final in expected.items():
        assert panel["values"].loc[beta, alpha] == pytest.approx(final)
    [late] = grid(df, "innaprop", ("alpha", "beta"), "objective_value",
                  "epoch 2")
    assert np.isnan(late["values"].loc[2.0, 0.5])
    assert late["diverged"].loc[2.0, 0.5]
    assert late["values"].loc[0.9, 0.1] == pytest.approx(expected[0.9, 0.1])


# -- offline pages ----------------------------------------------------------

def test_every_remote_resource_of_benchopts_templates_is_replaced(tmp_path):
    from benchopt.plotting import generate_html
    templates = [generate_html.TEMPLATE_RESULT,
                 generate_html.TEMPLATE_BENCHMARK,
                 generate_html.TEMPLATE_INDEX]
    for template in templates:
        text = template.read_text(encoding="utf-8")
        assert offline_html.remote_resources(text), template   # online
        assert offline_html.remote_resources(
            offline_html.make_offline(text, assets_url="assets")) == []
    result = offline_html.make_offline(
        generate_html.TEMPLATE_RESULT.read_text(encoding="utf-8"),
        assets_url="assets")
    offline_html.write_assets(tmp_path / "assets")
    used = re.findall(r'(?:src|href)="(assets/[^"]+)"', result)
    assert sorted(used) == sorted(f"assets/{name}" for name in [
        "plotly.min.js", "plotly_compat.js", "gridjs.umd.js",
        "gridjs-mermaid.min.css", "anime.min.js"])
    for path in used:
        assert (tmp_path / path).stat().st_size > 1000
    with pytest.warns(offline_html.OfflineWarning, match="example.org"):
        offline_html.make_offline(
            '<script src="https://example.org/lib.js"></script>')


# -- real runs, their pages in headless Chromium --------------------------

CHROMIUM = next((shutil.which(name) for name in
                 ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian: "
    "apt-get install chromium; .ci/run installs it)")


def chromium_dom(page):
    """The DOM of ``page`` after its scripts ran, with networking off: no
    proxy reachable and no host name resolves."""
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND",
             "--proxy-server=127.0.0.1:9", "--virtual-time-budget=10000",
             "--dump-dom", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def showing(page, kind, dest):
    """A copy of a result page that opens on plot kind ``kind`` (as if the
    user had picked it in the "Chart type" menu)."""
    html = page.read_text(encoding="utf-8").replace("</body>", (
        "<script>window.addEventListener('load', () => setTimeout(() => "
        f"setState({{plot_kind: '{kind}'}}), 0));</script></body>"))
    dest.write_text(html, encoding="utf-8")
    return dest


def drawn_lines(dom):
    """Curves plotly drew: its line paths with actual geometry."""
    return re.findall(r'<path class="js-line" d="M[^"]+"', dom)


GRID = "innaprop[alpha=[0.1,2.0],beta=[0.9,2.0]]"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real runs on a fresh copy of the benchmark: the quickstart, and a
    tiny (alpha, beta) grid with two seeds."""
    dest = copy_benchmark(tmp_path_factory.mktemp("results") / "bench")
    # The quickstart's config, on 4 epochs instead of 20 to save time.
    quick = benchopt("run", ".", "--config", "configs/quickstart.yml",
                     "-d", "digits[epochs=4]", "--no-display",
                     "--output", "quick", cwd=dest)
    assert quick.returncode == 0, quick.stdout[-3000:] + quick.stderr[-3000:]
    grid_run = benchopt("run", ".", "-s", GRID, "-s", "adamw",
                        "-d", "digits[epochs=2]", "-r", "2", "--no-timeout",
                        "-n", "100", "--no-display", "--output", "grid",
                        cwd=dest)
    assert grid_run.returncode == 0, \
        grid_run.stdout[-3000:] + grid_run.stderr[-3000:]
    return dest


def page_of(runs, name):
    [page] = (runs / "outputs").glob(f"*_{name}.html")
    return page


def test_result_pages_load_nothing_from_the_network(runs):
    for page in (runs / "outputs").glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert offline_html.remote_resources(html) == [], page.name
    quick = page_of(runs, "quick").read_text(encoding="utf-8")
    assert "cdn.plot.ly/plotly" not in quick.split("<body")[0]
    assert "Plotly[name] = function" in quick     # the compatibility shim


@needs_chromium
def test_quickstart_page_draws_its_curves_with_networking_off(runs, tmp_path):
    # Control: networking really is off for the browser.
    probe = tmp_path / "probe.html"
    probe.write_text(
        '<script src="https://cdn.plot.ly/plotly-2.12.1.min.js"></script>'
        '<p id="r"></p><script>document.getElementById("r").textContent = '
        '"plotly is " + typeof Plotly;</script>')
    assert "plotly is undefined" in chromium_dom(probe)

    dom = chromium_dom(page_of(runs, "quick"))
    assert len(drawn_lines(dom)) >= 2              # adamw and innaprop
    # Axis titles survive plotly.js 3+ (plotly_compat.js).
    assert re.search(r'class="xtitle"[^>]*>epoch<', dom)
    assert re.search(r'class="ytitle"[^>]*>value<', dom)


def test_tiny_alpha_beta_grid_gives_the_heatmap_and_the_speedup_table(
        runs, plots):
    df = read_results(runs, "grid")
    dataset, = df["dataset_name"].unique()
    objective, = df["objective_name"].unique()
    solvers = set(df["solver_name"])
    assert len(solvers) == 5

    heatmap = plots["heatmap"]
    options = {k: v(df) if callable(v) else v
               for k, v in heatmap.options.items() if v is not ...}
    assert options["solver"] == ["innaprop"]
    assert options["params"] == ["alpha,beta"]
    assert options["at"] == ["epoch 2", "epoch 1"]
    [image] = heatmap.plot(df, dataset, objective, "innaprop", "alpha,beta",
                           "objective_test_acc", "epoch 2")
    assert image["image"].ndim == 3 and image["image"].shape[2] == 3
    [panel] = grid(df, "innaprop", ("alpha", "beta"), "objective_test_acc",
                   "epoch 2")
    final = df[df["objective_epoch"] == 2]
    for alpha in (0.1, 2.0):
        for beta in (0.9, 2.0):
            cell = final[(final["p_solver_alpha"] == alpha)
                         & (final["p_solver_beta"] == beta)]
            assert len(cell) == 2                      # two seeds
            assert panel["values"].loc[beta, alpha] == pytest.approx(
                cell["objective_test_acc"].mean())

    speedup = plots["speedup"]
    # AdamW is the default baseline; the points of a grid are not offered.
    baselines = speedup.options["baseline"](df)
    assert len(baselines) == 1 and baselines[0].startswith("adamw[")
    rows = speedup.plot(df, dataset, objective, "objective_value",
                        baselines[0])
    names = [row[0] for row in rows]
    assert names == ["**adamw**"] + sorted(
        f"innaprop[alpha={a},beta={b}]" for a in ("0.1", "2.0")
        for b in ("0.9", "2.0"))


@needs_chromium
@pytest.mark.parametrize("kind, drawn", [
    ("speedup", r'<td[^>]*class="gridjs-td"'),
    ("heatmap", r'<img src="data:image/png;base64,'),
])
def test_grid_page_draws_its_tables_and_heatmap_offline(runs, tmp_path, kind,
                                                        drawn):
    dom = chromium_dom(showing(page_of(runs, "grid"), kind,
                               tmp_path / f"{kind}.html"))
    assert len(re.findall(drawn, dom)) >= (5 if kind == "speedup" else 1)
    if kind == "speedup":
        assert "innaprop[alpha=2.0,beta=2.0]" in dom


# -- the static site -------------------------------------------------------

def test_site_from_two_runs_links_both_and_works_offline(runs, tmp_path):
    from benchmark_utils.reporting.site import build_site
    files = [runs / "outputs" / "quick.parquet",
             runs / "outputs" / "grid.parquet"]
    index = build_site(files, tmp_path / "site", benchmark_dir=runs)
    site = index.parent
    html = index.read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]+)"', html)
    # The runs' pages (two workloads also get profiles.html, issue 14).
    pages = [link for link in links if link.endswith(".html")
             and link != "profiles.html"]
    assert sorted(pages) == ["grid.html", "quick.html"]
    for link in links:                      # pages, parquet and csv files
        assert (site / link).is_file(), link
    # The run's dataset with its parameters (digits gained dtype and n_val).
    assert "digits[batch_size=64,dtype=float32,epochs=4,n_val=0]" in html
    assert "innaprop: 4 settings" not in html        # 4 are listed
    assert "innaprop[alpha=2.0,beta=2.0]" in html
    for page in pages:
        text = (site / page).read_text(encoding="utf-8")
        assert offline_html.remote_resources(text) == []
        for asset in re.findall(r'(?:src|href)="(assets/[^"]+)"', text):
            assert (site / asset).is_file()
    data = pd.read_csv(site / "outputs" / "grid.csv")
    assert len(data) == len(read_results(runs, "grid"))
    if CHROMIUM:
        assert len(drawn_lines(chromium_dom(site / "quick.html"))) >= 2


def test_site_skips_unreadable_and_foreign_files_and_still_writes_its_index(
        runs, tmp_path):
    from benchmark_utils.reporting.site import SiteWarning, build_site
    corrupt = tmp_path / "broken.parquet"
    corrupt.write_bytes(b"PAR1 truncated")
    foreign = tmp_path / "other.parquet"
    df = pd.read_parquet(runs / "outputs" / "quick.parquet")
    df.assign(objective_name="Lasso Regression").to_parquet(foreign)
    with pytest.warns(SiteWarning) as caught:
        index = build_site([runs / "outputs" / "quick.parquet", corrupt,
                            foreign], tmp_path / "site", benchmark_dir=runs)
    messages = " ".join(str(w.message) for w in caught)
    assert "broken.parquet" in messages and "cannot be read" in messages
    assert "Lasso Regression" in messages
    html = index.read_text(encoding="utf-8")
    pages = re.findall(r'<a href="([^"]+\.html)"', html)
    assert pages == ["quick.html"]
    assert "Left out" in html and "broken.parquet" in html
