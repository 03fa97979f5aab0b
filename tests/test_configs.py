"""The vision run configs in configs/: valid for benchopt, faithful to the
thesis's protocol, and runnable (a reduced run of each on generated data in
the real layouts)."""
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from benchopt.benchmark import Benchmark, _list_parametrized_classes
from benchopt.cli.main import run

from benchmark_utils.models.imagenet import pretrained_file_name
from generated_data import (patch_cifar10_checksums, write_cifar10,
                            write_food101, write_image_folder)

# Its module fixture runs once: its tests stay on one xdist worker.
pytestmark = pytest.mark.xdist_group("configs")

GRID = [0.1, 0.5, 0.9, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]

# What the thesis ran (sections 4.3, 4.10; the authors' scripts for the
# grid): dataset, model, seeds, and the solvers as
# (name, alpha, beta, weight decay or None for the recipe's).
THESIS = {
    "cifar10_vgg11.yml": ("cifar10", "vgg11", 8, {
        ("adamw", None, None, None), ("innaprop", 0.1, 0.9, None),
        ("innaprop", 2.0, 2.0, None)}),
    "cifar10_resnet18.yml": ("cifar10", "resnet18", 8, {
        ("adamw", None, None, None), ("innaprop", 0.1, 0.9, None),
        ("innaprop", 2.0, 2.0, None)}),
    "cifar10_densenet121.yml": ("cifar10", "densenet121", 8, {
        ("adamw", None, None, None), ("innaprop", 0.1, 0.9, None),
        ("innaprop", 2.0, 2.0, None)}),
    "cifar10_alpha_beta_grid.yml": ("cifar10", "vgg11", 1, {
        ("innaprop", a, b, None) for a in GRID for b in GRID}),
    "imagenet_resnet18.yml": ("imagenet", "resnet18", 3, {
        ("adamw", None, None, None), ("innaprop", 0.1, 0.9, None)}),
    "imagenet_resnet50.yml": ("imagenet", "resnet50", 3, {
        ("adamw", None, None, None), ("innaprop", 0.1, 0.9, 0.01),
        ("innaprop", 2.0, 2.0, 0.01)}),
    "imagenet_vit_b32.yml": ("imagenet", "vit_b_32", 1, {
        ("adamw", None, None, None), ("innaprop", 2.0, 2.0, None),
        ("innaprop", 0.1, 0.9, 0.01)}),
    "food101_vgg11.yml": ("food101", "vgg11", 3, {
        ("adamw", None, None, None), ("innaprop", 0.1, 0.9, None),
        ("innaprop", 2.0, 2.0, None)}),
    "food101_resnet18.yml": ("food101", "resnet18", 3, {
        ("adamw", None, None, None), ("innaprop", 0.1, 0.9, None),
        ("innaprop", 2.0, 2.0, None)}),
}


def load(root, name):
    return yaml.safe_load((root / "configs" / name).read_text())


def expand(root, config):
    """The concrete datasets and solvers benchopt runs for ``config``;
    raises as `benchopt run` does on unknown names or parameters."""
    bench = Benchmark(root)
    datasets = [d for d, _ in _list_parametrized_classes(
        *bench.check_dataset_patterns(config["dataset"]))]
    solvers = [s for s, _ in _list_parametrized_classes(
        *bench.check_solver_patterns(config["solver"]))]
    return datasets, solvers


def solver_key(s):
    return (s.name, getattr(s, "alpha", None), getattr(s, "beta", None),
            s.weight_decay)


def test_every_vision_config_is_listed(root):
    names = {p.name for p in (root / "configs").glob("*.yml")
             if p.name.startswith(("cifar10_", "imagenet_", "food101_"))}
    assert names == set(THESIS)


@pytest.mark.parametrize("name", sorted(THESIS))
def test_config_is_valid_and_is_the_thesis_protocol(root, name):
    config = load(root, name)
    # Top-level keys are `benchopt run` options, as benchopt checks them.
    options = {p.name for p in run.params}
    assert {k.replace("-", "_") for k in config} <= options
    datasets, solvers = expand(root, config)
    dataset, model, seeds, expected = THESIS[name]
    assert [(d.name, d.model) for d in datasets] == [(dataset, model)]
    assert {solver_key(s) for s in solvers} == expected
    assert len(solvers) == len(expected)         # no duplicated run
    assert config["n-repetitions"] == seeds
    # Nothing but the recipe's budget ends a run.
    assert config["no-timeout"] is True
    epochs = datasets[0].epochs or datasets[0].RECIPES[model]["epochs"]
    assert config["max-runs"] >= epochs + 1     # one evaluation per epoch


@pytest.fixture(scope="module")
def data_home(tmp_path_factory):
    """Generated CIFAR-10, ImageNet and Food101 trees, and ImageNet weights
    files (random, torchvision's names and format) for the pretrained
    models, under one BENCHOPT_DATA_HOME."""
    import torchvision
    home = tmp_path_factory.mktemp("data")
    md5s = write_cifar10(home / "cifar10", n_per_batch=2, n_test=4)
    write_image_folder(home / "imagenet", classes=("n01", "n02"),
                       n_train=2, n_val=1, size=(64, 48))
    write_food101(home / "food101", classes=("apple_pie", "waffles"),
                  n_train=2, n_test=1, size=(64, 48))
    (home / "pretrained").mkdir()
    torch.manual_seed(0)
    for name, build in (("resnet18", torchvision.models.resnet18),
                        ("vgg11", torchvision.models.vgg11_bn)):
        torch.save(build(weights=None).state_dict(),
                   home / "pretrained" / pretrained_file_name(name))
    return home, md5s


@pytest.mark.parametrize("name", sorted(THESIS))
def test_reduced_run_of_the_config(root, data_home, name, monkeypatch,
                                   tmp_path):
    """`benchopt run . --config configs/<name>` on generated data, reduced
    to one seed, one epoch of training (--max-runs 1: the initial
    evaluation and one more) and the config's last solver entry (the one
    with the config's own overrides; the grid: alpha = beta = 4.0). The
    dataset entry, with its model and recipe, is the config's."""
    home, md5s = data_home
    patch_cifar10_checksums(monkeypatch, md5s)
    monkeypatch.setenv("BENCHOPT_DATA_HOME", str(home))
    monkeypatch.setenv("INNAPROP_DEVICE", "cpu")
    config = load(root, name)
    config["solver"] = config["solver"][-1:]
    if name == "cifar10_alpha_beta_grid.yml":
        config["solver"][0]["innaprop"] = dict(alpha=GRID[-1], beta=GRID[-1])
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out.parquet"
    run([str(root), "--config", str(path), "-r", "1", "--max-runs", "1",
         "--no-plot", "--no-display", "--no-cache", "--output", str(out)],
        standalone_mode=False)
    df = pd.read_parquet(out)
    datasets, solvers = expand(root, config)
    assert list(df["solver_name"].unique()) == [str(solvers[0])]
    assert list(df["dataset_name"].unique()) == [str(datasets[0])]
    assert list(df["objective_epoch"]) == [0.0, 1.0]
    assert list(df["objective_step"]) == [0, 1]
    assert np.isfinite(df["objective_value"]).all()
    assert (df["objective_diverged"] == 0).all()
    if not name.startswith("cifar10"):
        assert df["objective_test_top5"].between(0, 100).all()
    # The recipe's lr and per-epoch schedule are in force: warmup for ViT
    # ((k + 1) / 31 of gamma_0 at epoch k), cosine decay for the others.
    gamma0 = {"cifar10": 1e-3, "imagenet": 1e-3, "food101": 1e-4}[
        datasets[0].name]
    lr0, lr1 = df["objective_lr"]
    if name == "imagenet_vit_b32.yml":
        assert (lr0, lr1) == pytest.approx((gamma0 / 31, 2 * gamma0 / 31))
    else:
        assert lr0 == pytest.approx(gamma0) and lr1 < lr0
