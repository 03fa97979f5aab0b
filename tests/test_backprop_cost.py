"""benchmarks/backprop_cost.py: counted operations against a hand count,
and timed ratios below 1 reported as failed measurements."""
import importlib.util
import subprocess

import pytest
import torch

from benchmark_utils.reporting.pages import remote_resources
from conftest import ROOT

# Its module fixture runs once: its tests stay on one xdist worker.
pytestmark = pytest.mark.xdist_group("backprop_cost")


@pytest.fixture(scope="module")
def cost():
    spec = importlib.util.spec_from_file_location(
        "backprop_cost", ROOT / "benchmarks" / "backprop_cost.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_two_layer_mlps_counted_ratios_are_the_hand_counts(cost):
    # 784 -> h -> 10 on a batch of B; a product of (m x k) by (k x n)
    # counts 2mkn. Forward: 2B(784h + 10h). Backward: the second layer's
    # weight and input gradients, 2 x 2B(10h), and the first layer's weight
    # gradient, 2B(784h) (the input needs none).
    B, h = 16, 32
    model, x = cost.mlp(1, h), torch.randn(B, 784)
    fwd, fwd_bwd, fwd_mode = cost.counted(model, x, forward_mode=True)
    assert fwd == 2 * B * (784 * h + 10 * h)
    assert fwd_bwd == fwd + 2 * B * (2 * 10 * h + 784 * h)
    assert fwd_bwd / fwd == pytest.approx((784 + 10 + 20 + 784) / 794)
    # Forward mode in the 784 inputs: the primal once, and per direction
    # torch's tangent pass: per layer the tangent times the weights and the
    # input times the weights' (zero) tangent, twice the forward.
    assert fwd_mode == fwd + 784 * 2 * fwd


def test_a_timed_ratio_below_1_is_a_failed_measurement(cost):
    assert cost.fmt_timed(2.5) == "2.50"
    assert cost.fmt_timed(0.72) == "failed (0.72 < 1)"


def test_the_command_prints_what_each_column_measures(cost, tmp_path,
                                                      capsys):
    rows = cost.main(["--quick", "--reps", "2", "--output",
                      str(tmp_path / "cost")])
    out = capsys.readouterr().out
    assert "columns: counted: FLOPs of matrix products" in out
    assert all(1 < r["counted"] <= cost.BOUND for r in rows)
    assert "counted fwd+bwd/fwd: at most" in out
    html = (tmp_path / "cost" / "cost.html").read_text()
    assert remote_resources(html) == []


def test_the_default_output_is_an_ignored_folder(cost):
    assert cost.DEFAULT_OUTPUT == ROOT / "outputs" / "backprop_cost"
    res = subprocess.run(["git", "check-ignore", "-q",
                          str(cost.DEFAULT_OUTPUT / "cost.html")], cwd=ROOT)
    if res.returncode == 128:
        pytest.skip("not a git checkout")
    assert res.returncode == 0
