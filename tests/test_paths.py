"""Data paths resolve the same inside a benchopt run and outside one
(benchmark_utils/bench/paths.py), so the diagnostics find the data where
the datasets do."""
from urllib.error import URLError

import benchopt.benchmark
import pytest
import yaml
from benchopt.benchmark import Benchmark
from benchopt.config import get_data_path

from benchmark_utils.bench.paths import data_path
from benchmark_utils.diagnostics import backprop_variation as bv

KEYS = ["cifar10", "mnist", "fashion_mnist", "food101"]


@pytest.fixture
def outside_a_run(monkeypatch):
    monkeypatch.setattr(benchopt.benchmark, "_RUNNING_BENCHMARK", None)
    monkeypatch.delenv("BENCHOPT_DATA_HOME", raising=False)


@pytest.mark.parametrize("home", ["config", "environment", "default"])
def test_data_path_outside_a_run_is_benchopts_inside_one(
        bench, tmp_path, monkeypatch, outside_a_run, home):
    config = yaml.safe_load((bench / "config.yml").read_text())
    config["data_paths"] = {"cifar10": "relative/c10",
                            "mnist": str(tmp_path / "absolute" / "mnist")}
    if home == "config":
        config["data_home"] = str(tmp_path / "home")
    (bench / "config.yml").write_text(yaml.safe_dump(config))
    if home == "environment":
        monkeypatch.setenv("BENCHOPT_DATA_HOME", str(tmp_path / "env"))
    outside = {key: data_path(key, bench) for key in KEYS}
    base = {"config": tmp_path / "home", "environment": tmp_path / "env",
            "default": bench / "data"}[home]
    assert outside == {"cifar10": (base / "relative" / "c10").resolve(),
                       "mnist": (tmp_path / "absolute" / "mnist").resolve(),
                       "fashion_mnist": (base / "fashion_mnist").resolve(),
                       "food101": (base / "food101").resolve()}
    Benchmark(bench)        # now a benchopt run's settings are in place
    assert {key: get_data_path(key) for key in KEYS} == outside
    assert {key: data_path(key) for key in KEYS} == outside


def test_the_diagnostic_finds_its_data_outside_a_run(tmp_path, monkeypatch,
                                                     outside_a_run):
    # It used to stop at benchopt's get_data_path: "'NoneType' object has
    # no attribute 'get_setting'". Now it looks where cifar10 looks, and
    # says that the data are not there (the download fails offline).
    monkeypatch.setenv("BENCHOPT_DATA_HOME", str(tmp_path / "data"))
    import torchvision.datasets.utils as utils

    def offline(*args, **kwargs):
        raise URLError("network unreachable (simulated)")

    monkeypatch.setattr(utils, "download_url", offline)
    # The command ends on that message alone, not on a traceback.
    with pytest.raises(SystemExit, match="CIFAR-10 was not found under "
                       + str(tmp_path / "data" / "cifar10")):
        bv.main(["--dataset", "cifar10", "--draws", "1", "--batches", "1",
                 "--output", str(tmp_path / "out")])
    assert not (tmp_path / "data").exists()
