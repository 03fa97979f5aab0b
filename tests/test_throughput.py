"""benchmarks/throughput.py's whole-config cost: the hours arithmetic and
the config reader (config_cost.py), and one small run of the script on the
CPU."""
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import config_cost  # noqa: E402


def write_config(path, config):
    path.write_text(yaml.safe_dump(config))
    return path


def test_config_hours_serial():
    # 24 runs x 200 epochs x (2.70 s + 0.13 s) = 13,584 s.
    assert config_cost.config_hours(24, 200, 2.70, 0.13) == pytest.approx(
        13_584 / 3600)
    assert config_cost.config_hours(1, 1, 3600.0, 0.0) == pytest.approx(1.0)


def test_config_hours_packed():
    # 24 runs 2 at a time: 12 rounds x 200 x (4.3 + 0.2) s = 10,800 s.
    assert config_cost.config_hours(24, 200, 4.3, 0.2, packed=2) == \
        pytest.approx(3.0)
    # 5 runs 2 at a time take 3 rounds: 3 x 10 x (1.5 + 0.5) s = 60 s.
    assert config_cost.config_hours(5, 10, 1.5, 0.5, packed=2) == \
        pytest.approx(60 / 3600)
    # 7 runs 3 at a time: 3 rounds; 4 runs 8 at a time: 1 round.
    assert config_cost.config_hours(7, 1, 3600.0, 0.0, packed=3) == \
        pytest.approx(3.0)
    assert config_cost.config_hours(4, 1, 3600.0, 0.0, packed=8) == \
        pytest.approx(1.0)


def test_reads_the_resnet18_config(root):
    groups = config_cost.config_runs(root / "configs" / "cifar10_resnet18.yml")
    assert len(groups) == 1
    g = groups[0]
    # 3 solver entries x 8 repetitions; epochs: datasets/cifar10.py's 200.
    assert (g["runs"], g["epochs"], g["model"]) == (24, 200, "resnet18")
    assert (g["precision"], g["channels_last"]) == ("fp32", False)
    assert (g["train_images"], g["eval_images"]) == (50_000, 10_000)
    assert g["other"] == {}


def test_dataset_defaults_come_from_the_dataset():
    defaults = config_cost.dataset_defaults()
    assert (defaults["epochs"], defaults["model"], defaults["precision"],
            defaults["channels_last"]) == (200, "resnet18", "fp32", False)


def test_list_valued_solver_parameters_give_their_product(tmp_path):
    path = write_config(tmp_path / "grid.yml", {
        "dataset": [{"cifar10": {"model": "vgg11", "epochs": 3,
                                 "precision": "bf16",
                                 "channels_last": True}}],
        "solver": ["adamw",
                   {"innaprop": {"alpha": [0.1, 2.0],
                                 "beta": [0.9, 2.0, 3.0]}},
                   {"innaprop": {"alpha, beta": [[0.1, 0.9], [2.0, 2.0]]}}],
        "n-repetitions": 2})
    g, = config_cost.config_runs(path)
    # (1 + 2 x 3 + 2) solvers x 2 repetitions.
    assert g["runs"] == 18
    assert (g["model"], g["epochs"], g["precision"], g["channels_last"]) \
        == ("vgg11", 3, "bf16", True)


def test_list_valued_dataset_parameters_give_one_group_each(tmp_path):
    path = write_config(tmp_path / "models.yml", {
        "dataset": [{"cifar10": {"model": ["vgg11", "resnet18"],
                                 "n_train": 10_000, "n_val": 1_000,
                                 "batch_size": 128}}],
        "solver": ["adamw"]})
    groups = config_cost.config_runs(path)
    assert [g["model"] for g in groups] == ["vgg11", "resnet18"]
    assert all(g["runs"] == 1 for g in groups)
    assert all((g["train_images"], g["eval_images"]) == (9_000, 11_000)
               for g in groups)
    assert all(g["other"] == {"batch_size": 128} for g in groups)


def test_other_datasets_are_rejected(tmp_path):
    path = write_config(tmp_path / "imagenet.yml", {
        "dataset": [{"cifar10": {}}, {"imagenet": {"model": "resnet18"}}],
        "solver": ["adamw"]})
    with pytest.raises(ValueError, match="'imagenet'.*CIFAR-10"):
        config_cost.config_runs(path)


def test_unreadable_entries_are_rejected(tmp_path):
    path = write_config(tmp_path / "bracket.yml", {
        "dataset": ["cifar10"], "solver": ["innaprop[alpha=[0.1,2.0]]"]})
    with pytest.raises(ValueError, match="as a mapping"):
        config_cost.config_runs(path)
    path = write_config(tmp_path / "unknown.yml", {
        "dataset": [{"cifar10": {"modle": "vgg11"}}], "solver": ["adamw"]})
    with pytest.raises(ValueError, match="modle"):
        config_cost.config_runs(path)


NUMBER = r"([0-9.]+)"
HOURS_LINE = re.compile(
    rf"(\d+) runs x (\d+) epochs \((\w+), (\S+)\) on CPU: serial {NUMBER} h; "
    rf"(\d+) packed per device: {NUMBER} h \(epoch {NUMBER} s \+ eval "
    rf"{NUMBER} s while packed, against {NUMBER} s \+ {NUMBER} s alone\)")


def test_script_prints_the_config_hours(tmp_path):
    # VGG11: the fastest CIFAR model on a CPU. 3 runs packed 2 at a time
    # take 2 rounds.
    path = write_config(tmp_path / "small.yml", {
        "dataset": [{"cifar10": {"model": "vgg11", "epochs": 3}}],
        "solver": ["adamw", {"innaprop": {"alpha": [0.1, 2.0]}}]})
    n_test = 32
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "throughput.py"),
         "--device", "cpu", "--models", "vgg11", "--n-train", "32",
         "--n-test", str(n_test), "--batch-size", "32", "--reps", "1",
         "--warmup-steps", "1", "--loader", "0", "--config", str(path),
         "--packed", "2", "--packed-epochs", "2"],
        capture_output=True, text=True, timeout=900, check=True).stdout
    found = HOURS_LINE.search(out)
    assert found, out
    runs, epochs, model, precision, serial, k, packed = found.groups()[:7]
    p_epoch, p_eval, epoch, evaluation = map(float, found.groups()[7:])
    assert (int(runs), int(epochs), model, precision, int(k)) == \
        (3, 3, "vgg11", "fp32", 2)
    # The hours are the printed seconds' (3 significant figures each).
    assert float(serial) == pytest.approx(
        3 * 3 * (epoch + evaluation) / 3600, rel=0.01)
    assert float(packed) == pytest.approx(
        math.ceil(3 / 2) * 3 * (p_epoch + p_eval) / 3600, rel=0.01)
    # The epoch alone is the table's s/50k ep; the evaluation the table's,
    # scaled to 10,000 test images.
    row = next(line.split() for line in out.splitlines()
               if line.startswith("vgg11 "))
    assert epoch == pytest.approx(float(row[6]), rel=0.01)
    # (the table's eval s has 3 decimals)
    assert evaluation == pytest.approx(float(row[7]) * 10_000 / n_test,
                                       rel=0.01, abs=0.0006 * 10_000 / n_test)
    assert "distort each other's wall-clock time" in out
