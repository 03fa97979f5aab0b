"""The backprop-variation diagnostic (thesis chapter 3): the thresholds it
is given or measures, what it reports when a threshold is undefined, and
its options."""
import subprocess
from dataclasses import replace

import pytest
import torch

from benchmark_utils.data import mnist
from benchmark_utils.diagnostics import backprop_variation as bv
from generated_data import write_idx


def rows_of(d_programs, d_same=None, d_relu=None, draws=None):
    n = len(d_programs)
    return [dict(draw=(draws or list(range(n)))[i], batch=0,
                 d_programs=d_programs[i],
                 d_same=(d_same or [0.0] * n)[i],
                 d_relu=(d_relu or [0.0] * n)[i]) for i in range(n)]


def test_regimes_and_table_3_2_by_hand():
    # Two draws of two mini-batches: (0, 5e-7) and (2e-6, 1e-3); tau 1e-6.
    rows = rows_of([0.0, 5e-7, 2e-6, 1e-3], draws=[0, 0, 1, 1])
    stats = bv.summary(rows, tau=1e-6)
    assert stats["threshold"] == "--tau" and stats["tau"] == 1e-6
    assert stats["regimes"]["d_programs"] == {
        "identical": 0.25, "compensation": 0.25, "bifurcation": 0.5,
        "not_finite": 0.0}
    assert stats["draws_in_zone"] == 0.5       # draw 1 only
    assert stats["batches_in_zone"] == 0.5
    # An overflowed gradient is counted apart, never as a bifurcation.
    stats = bv.summary(rows_of([float("nan"), 1e-3]), tau=1e-6)
    assert stats["regimes"]["d_programs"]["not_finite"] == 0.5
    assert stats["regimes"]["d_programs"]["bifurcation"] == 0.5


def test_measured_thresholds_are_eqs_3_12_and_3_13():
    rows = rows_of([1e-3, 1e-3, 1e-3], d_same=[0.0, 2e-7, 1e-7],
                   d_relu=[0.0, 3e-2, 4e-3])
    stats = bv.summary(rows)
    assert stats["tau1"] == 2e-7          # the largest D(P, P~)
    assert stats["tau2"] == 4e-3          # the smallest nonzero D(R0, R1)
    assert stats["tau"] == 2e-7 and stats["threshold"] == "tau1"
    assert bv.summary(rows, "tau2")["tau"] == 4e-3


def test_per_precision_thresholds_parse():
    assert bv.parse_tau("16=0.1,32=1e-8,64=1e-14") == {
        16: 0.1, 32: 1e-8, 64: 1e-14}
    assert bv.parse_tau("1e-6") == {16: 1e-6, 32: 1e-6, 64: 1e-6}
    assert bv.parse_tau(None) == {}


def test_an_undefined_tau2_is_reported_undefined_never_0_percent(capsys):
    # LeNet-5 on random images: no pre-activation is exactly 0, so
    # ReLU'(0) never matters: D(R0, R1) = 0 everywhere and eq. 3.13's
    # minimum is over an empty set (the old code printed tau2 = nan and
    # 0 % of draws in the zone).
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randn(8, 1, 28, 28, generator=gen),
                torch.randint(0, 10, (8,), generator=gen))]
    rows = bv.variations(bv.builder("lenet5"), batches, "native",
                         "minimal", draws=2)
    assert all(r["d_relu"] == 0.0 for r in rows)
    stats = bv.summary(rows, "tau2")
    assert stats["tau2"] is None and "empty set" in stats["tau2_undefined"]
    assert stats["tau"] is None
    assert stats["draws_in_zone"] is None
    assert stats["batches_in_zone"] is None
    assert stats["regimes"]["d_programs"]["bifurcation"] is None
    text = bv.report(stats, "native", "minimal")
    assert "draws in S (Table 3.2): undefined" in text
    assert "tau2 (eq. 3.13): undefined (D(R0, R1) = 0" in text
    assert "0.00%" not in text.split("draws in S")[1]


def test_the_command_runs_fashion_mnist_lenet5_at_two_precisions(
        tmp_path, monkeypatch, capsys):
    _, sha = write_idx(tmp_path / "FashionMNIST" / "raw", n_train=8,
                       n_test=2, gz=True)
    monkeypatch.setattr(mnist, "FASHION_MNIST", replace(
        mnist.FASHION_MNIST, sha256=sha, system_copy=None))
    stats = bv.main(["--dataset", "fashion_mnist", "--data", str(tmp_path),
                     "--model", "lenet5_relu_logits", "--dtype",
                     "float32,float64", "--draws", "2", "--batches", "2",
                     "--batch-size", "4", "--fresh-batches",
                     "--deterministic", "--tau", "32=1e-6,64=1e-14",
                     "--output", str(tmp_path / "out")])
    assert set(stats) == {"float32", "float64"}
    assert stats["float32"]["tau"] == 1e-6
    assert stats["float64"]["tau"] == 1e-14
    assert stats["float32"]["pairs"] == 2       # one mini-batch per draw
    assert stats["float32"]["regimes"]["d_same"]["identical"] == 1.0
    out = capsys.readouterr().out
    assert "tau1 (eq. 3.12): undefined" in out and "64 bits:" in out
    assert (tmp_path / "out" / "variation.html").exists()


def test_batchnorm_and_the_model_form_are_options():
    def count(build, kind):
        return sum(isinstance(m, kind) for m in build().modules())

    bn = torch.nn.BatchNorm2d
    assert count(bv.builder("lenet5"), bn) == 0
    assert count(bv.builder("lenet5", batchnorm=True), bn) == 2
    assert count(bv.builder("vgg11"), bn) == 8
    assert count(bv.builder("vgg11", batchnorm=False), bn) == 0
    with torch.device("meta"):
        tv = bv.builder("vgg11_torchvision", batchnorm=False)()
    linear = [m for m in tv.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linear) == 3 and linear[0].in_features == 512 * 7 * 7


def test_the_default_output_is_an_ignored_folder(root):
    assert bv.DEFAULT_OUTPUT == root / "outputs" / "backprop_variation"
    res = subprocess.run(["git", "check-ignore", "-q",
                          str(bv.DEFAULT_OUTPUT / "variation.html")],
                         cwd=root)
    if res.returncode == 128:
        pytest.skip("not a git checkout")
    assert res.returncode == 0
