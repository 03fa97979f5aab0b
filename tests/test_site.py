"""The static site's index and its guards (building a site from two real
runs is in test_results.py, which shares their runs)."""
import re

import pandas as pd
import pytest

from benchmark_utils.reporting.site import build_site, describe_run, render_index

# Its module fixture runs once: its tests stay on one xdist worker.
pytestmark = pytest.mark.xdist_group("site")


def run_frame():
    """What the index reads from a results file: a grid of six INNAprop
    settings and AdamW, three seeds, on a GPU machine."""
    solvers = ["adamw[beta1=0.9,lr=None]"] + [
        f"innaprop[alpha={a},beta={b},sigma=0.999]"
        for a in (0.1, 1.0, 2.0) for b in (0.9, 2.0)]
    rows = [{"solver_name": s, "idx_rep": rep, "stop_val": 0,
             "run_date": f"2026-11-2{7 - rep}T10:3{rep}:00",
             "dataset_name": "cifar10[epochs=200,model=resnet18]",
             "p_dataset_model": "resnet18", "system-processor": "AMD EPYC",
             "system-cpus": 16, "system-ram (GB)": 128,
             "version-cuda": "12.4"}
            for s in solvers for rep in range(3)]
    return pd.DataFrame(rows)


def test_index_describes_a_run():
    run = describe_run(run_frame())
    assert run["date"] == "2026-11-25 10:32"              # the first seed
    assert run["datasets"] == ["cifar10[epochs=200,model=resnet18]"]
    assert run["model"] == ["resnet18"]
    assert run["solvers"] == ["adamw", "innaprop: 6 settings of alpha, beta"]
    assert run["seeds"] == 3
    assert run["hardware"] == ["AMD EPYC (16 cores)", "128 GB RAM",
                               "CUDA 12.4"]
    few = run_frame()
    few = few[~few["solver_name"].str.contains("alpha=1.0|alpha=2.0")]
    assert describe_run(few)["solvers"] == [
        "adamw", "innaprop[beta=0.9]", "innaprop[beta=2.0]"]


def test_index_escapes_and_links():
    run = dict(describe_run(run_frame()), name="a<b", page="a%3Cb.html",
               parquet="outputs/a%3Cb.parquet", csv="outputs/a%3Cb.csv")
    page = render_index([run], "Results & more")
    assert "<title>Results &amp; more</title>" in page
    assert '<a href="a%3Cb.html">a&lt;b</a>' in page
    assert '<a href="outputs/a%3Cb.parquet" download>' in page
    assert "1 run." in page


def test_site_refuses_ambiguous_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for f in ("a/run.parquet", "b/run.parquet", "index.parquet"):
        (tmp_path / f).write_bytes(b"")
    with pytest.raises(ValueError, match="Two results files are named "
                       "run.parquet"):
        build_site([tmp_path / "a/run.parquet", tmp_path / "b/run.parquet"],
                   tmp_path / "site")
    with pytest.raises(ValueError, match="overwrite the site's index.html"):
        build_site([tmp_path / "index.parquet"], tmp_path / "site")
    with pytest.raises(FileNotFoundError, match="No results file"):
        build_site([tmp_path / "missing.parquet"], tmp_path / "site")
    with pytest.raises(ValueError, match="No results file to publish"):
        build_site([], tmp_path / "site")


# -- building from the command line, with files that are wrong -----------

@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    """A benchmark copy whose outputs/ holds one real results file."""
    from benchopt_cli import benchopt, copy_benchmark
    bench = copy_benchmark(tmp_path_factory.mktemp("site") / "bench")
    res = benchopt("run", ".", "-d", "digits[epochs=1]", "-s", "adamw", "-r",
                   "1", "--no-plot", "-n", "20", "--no-timeout", "--output",
                   "run1", cwd=bench)
    assert res.returncode == 0, res.stderr[-3000:]
    return bench


def site_command(*args, cwd, script=None, env=None):
    """The README's command (python -m benchmark_utils.reporting.site ...),
    or the module run as a script by its path."""
    import os
    import subprocess
    import sys
    head = [script] if script else ["-m", "benchmark_utils.reporting.site"]
    return subprocess.run([sys.executable, *head, *map(str, args)],
                          cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, **(env or {})))


def test_the_readme_command_works_from_the_root_and_from_elsewhere(
        one_run, tmp_path):
    import shutil
    bench = one_run
    out = site_command("outputs/run1.parquet", "--output", tmp_path / "a",
                       cwd=bench)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "a" / "run1.html").is_file()
    # No file given: every outputs/*.parquet of the benchmark, from its
    # root, from elsewhere (module with PYTHONPATH, or the script's path).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for kwargs in (dict(cwd=bench),
                   dict(cwd=elsewhere, env=dict(PYTHONPATH=str(bench))),
                   dict(cwd=elsewhere, script=bench / "benchmark_utils" /
                        "reporting" / "site.py")):
        site = tmp_path / f"site{len(list(tmp_path.iterdir()))}"
        out = site_command("--output", site, **kwargs)
        assert out.returncode == 0, (kwargs, out.stderr[-3000:])
        assert 'href="run1.html"' in (site / "index.html").read_text()
    # A folder that is not a benchmark, and one with nothing to publish.
    out = site_command("--benchmark", elsewhere, cwd=bench)
    assert out.returncode != 0 and "is not a benchmark folder (it has no " \
        "objective.py)" in out.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(bench / "objective.py", empty)
    out = site_command("--benchmark", empty, cwd=bench)
    assert out.returncode != 0 and "No results file to publish: none " \
        f"given, and {empty / 'outputs'} holds no .parquet file." in \
        out.stderr


def test_whatever_is_wrong_with_a_file_it_is_left_out_with_its_reason(
        one_run, tmp_path):
    from benchmark_utils.reporting.site import SiteWarning
    good = one_run / "outputs" / "run1.parquet"
    df = pd.read_parquet(good)
    bad = {"no_idx_rep": df.drop(columns=["idx_rep"]),
           "text_times": df.assign(time="late"),
           "no_solvers": df.assign(solver_name=None)}
    for name, frame in bad.items():
        frame.to_parquet(tmp_path / f"{name}.parquet")
    with pytest.warns(SiteWarning):
        index = build_site([good, *(tmp_path / f"{n}.parquet" for n in bad)],
                           tmp_path / "site", benchmark_dir=one_run)
    html = index.read_text()
    left_out = html.split("Left out:")[1]
    assert "<code>no_idx_rep.parquet</code>: it lacks benchopt&#x27;s " \
        "column(s) idx_rep" in left_out
    assert "<code>text_times.parquet</code>: its page cannot be built (" \
        in left_out
    assert "<code>no_solvers.parquet</code>: its page cannot be built (" \
        in left_out
    # The good file is published; nothing of the bad ones stays behind.
    assert 'href="run1.html"' in html
    site = sorted(p.name for p in (tmp_path / "site").rglob("*")
                  if p.stem in bad)
    assert site == []


# Each runs if a page inserts it as HTML: it marks the page's root element.
MARK = "document.documentElement.setAttribute('data-ran','{}')"
PAYLOADS = ["<script>" + MARK.format("script") + "</script>",
            '<img src=x onerror="' + MARK.format("img") + '">',
            '"><img src=x onerror="' + MARK.format("attribute") + '">']


def evil_results(df):
    """The results with markup in every name: dataset, solver, objective,
    a parameter's name and values."""
    evil = "".join(PAYLOADS)
    objective = df["objective_name"].str.replace(
        "]", f",x={evil}]", regex=False)
    return df.assign(
        dataset_name=df["dataset_name"] + evil,
        solver_name=df["solver_name"] + evil,
        objective_name=objective, p_dataset_dtype=evil,
        solver_description=evil, obj_description=evil,
        objective_provenance_command=evil,
    ).rename(columns={"p_solver_beta1": f"p_solver_{evil}",
                      "objective_test_acc": f"objective_{evil}"})


def assert_inert(page):
    """Open ``page`` in headless Chromium: nothing it carries ran."""
    from test_results import chromium_dom
    dom = chromium_dom(page)
    root = re.search(r"<html[^>]*>", dom)[0]
    assert "data-ran" not in root, (page, root)
    return dom


def test_markup_in_results_never_runs_on_a_published_page(one_run,
                                                          tmp_path):
    from test_results import CHROMIUM, drawn_lines
    if CHROMIUM is None:
        pytest.skip("chromium is not installed: pages are not opened")
    bench = one_run
    evil = evil_results(pd.read_parquet(bench / "outputs" / "run1.parquet"))
    evil.to_parquet(bench / "outputs" / "evil.parquet")
    try:
        out = site_command("outputs/evil.parquet", "--output", "site_evil",
                           cwd=bench)
        assert out.returncode == 0, out.stderr[-3000:]
        pages = sorted((bench / "site_evil").glob("*.html"))
        assert [p.name for p in pages] == ["evil.html", "index.html"]
        for page in pages:
            dom = assert_inert(page)
        # Published, not left out: the result page drew its curve, with
        # the names shown inert.
        dom = assert_inert(bench / "site_evil" / "evil.html")
        assert "\u2039script\u203a" in dom
        assert len(drawn_lines(dom)) >= 1
        # benchopt's own pages (`benchopt run` and `benchopt plot` write
        # them the same way).
        from benchopt_cli import benchopt
        res = benchopt("plot", ".", "-f", "outputs/evil.parquet", "--html",
                       "--no-display", cwd=bench)
        assert res.returncode == 0, res.stderr[-3000:]
        written = sorted((bench / "outputs").glob("*.html"))
        assert any("evil" in p.name for p in written)
        for page in written:
            assert_inert(page)
    finally:
        (bench / "outputs" / "evil.parquet").unlink()
