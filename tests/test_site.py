"""The static site's index and its guards (building a site from two real
runs is in test_results.py, which shares their runs)."""
import pandas as pd
import pytest

from benchmark_utils.reporting.site import build_site, describe_run, render_index


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
