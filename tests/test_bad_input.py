"""Every bad parameter is refused before any training, naming the
parameter, the value and what is allowed."""
import re

import pytest
import torch

from innaprop import INNApropMomentum, SophiaG
from benchmark_utils.data.loaders import subset_indices
from benchmark_utils.training.recipe import Recipe
from benchopt_cli import benchopt_here
from generated_data import write_image_folder


@pytest.mark.parametrize("changes, match", [
    (dict(epochs=0), r"epochs=0 .*positive integer"),
    (dict(epochs=-3), r"epochs=-3 .*positive integer"),
    (dict(epochs=1.5), r"epochs=1\.5 .*positive integer"),
    (dict(epochs="ten"), r"epochs='ten' .*positive integer"),
    (dict(batch_size=0), r"batch_size=0"),
    (dict(eval_every=-1), r"eval_every=-1"),
    (dict(grad_accum=0), r"grad_accum=0"),
    (dict(warmup=-1), r"warmup=-1 .*integer >= 0"),
    (dict(lr="1e-3x"), r"lr='1e-3x' .*a number >= 0"),
    (dict(weight_decay=-0.1), r"weight_decay=-0\.1"),
    (dict(schedule="cosinus"), r"schedule='cosinus' .*one of 'constant'"),
    (dict(precision="fp8"), r"precision='fp8'"),
])
def test_recipe_refuses_bad_budgets_and_values(changes, match):
    kwargs = dict(batch_size=8, epochs=2)
    kwargs.update(changes)
    with pytest.raises(ValueError, match=match):
        Recipe(**kwargs)


def test_a_negative_subset_size_is_refused():
    with pytest.raises(ValueError, match="n_train=-5"):
        subset_indices(100, -5)
    with pytest.raises(ValueError, match="n_train=0"):
        subset_indices(100, 0)


def test_innaprop_momentum_needs_lr_below_beta_and_beta_positive():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match=r"lr < beta.*lr=1\.0 and beta=0\.9"):
        INNApropMomentum(p, lr=1.0, beta=0.9, alpha=0.1)
    with pytest.raises(ValueError, match=r"beta=0"):
        INNApropMomentum(p, lr=1e-3, beta=0.0)


def test_sophia_needs_a_positive_rho_and_numbers():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match=r"rho=0"):
        SophiaG(p, rho=0.0)
    with pytest.raises(ValueError, match=r"lr='fast'.*a number >= 0"):
        SophiaG(p, lr="fast")


@pytest.mark.parametrize("dataset, solver, match", [
    ("digits[epochs=1.5]", "adamw", r"epochs=1\.5"),
    ("digits[epochs=-2]", "adamw", r"epochs=-2"),
    ("digits[epochs=1]", "sophia[hessian_interval=0]",
     r"hessian_interval=0 .*positive integer"),
    ("digits[epochs=1]", "sophia[hessian_interval=-5]", r"hessian_interval"),
    ("digits[epochs=1]", "innaprop_momentum[lr=1.0]", r"lr < beta"),
    ("digits[epochs=1]", "adamw[lr=fast]", r"adamw's lr='fast'"),
])
def test_benchopt_refuses_bad_parameters_before_training(
        bench, dataset, solver, match):
    code, log = benchopt_here(bench, "-d", dataset, "-s", solver,
                              "--no-plot", "-n", "5", "--no-timeout")
    assert code != 0
    assert re.search(match, log), log[-3000:]


def test_an_unknown_objective_setting_is_refused(bench):
    code, log = benchopt_here(bench, "-d", "digits[epochs=1]", "-s", "adamw",
                              "-o", "INNAprop benchmark[train_metrics=bogus]",
                              "--no-plot")
    assert code != 0
    assert "train_metrics='bogus'" in log


def test_an_unknown_imagenet_model_is_named(bench, tmp_path, monkeypatch):
    write_image_folder(tmp_path / "imagenet", classes=("n01", "n02"),
                       n_train=2, n_val=1, size=(32, 32))
    monkeypatch.setenv("BENCHOPT_DATA_HOME", str(tmp_path))
    code, log = benchopt_here(bench, "-d", "imagenet[model=resnet99]", "-s",
                              "adamw", "--no-plot")
    assert code != 0
    assert "model='resnet99'" in log and "'resnet18'" in log, log[-3000:]
