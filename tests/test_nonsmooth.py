"""Thesis chapters 2 and 3: nonsmooth Jacobians of MaxPool and ReLU, true
16/64-bit training, MNIST and LeNet-5, the backprop-variation diagnostic,
and the cost of backpropagation."""
import itertools

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from benchopt.benchmark import Benchmark, _list_parametrized_classes
from benchopt.cli.main import run

from benchmark_utils.data.mnist import load_mnist
from benchmark_utils.diagnostics import backprop_variation as bv
from benchmark_utils.models.cifar import build_cifar_model
from benchmark_utils.models.cifar import torchvision_vgg11
from benchmark_utils.models.lenet import build_lenet
from benchmark_utils.reporting.pages import remote_resources
from benchmark_utils.models.nonsmooth import (TABLE_3_1_T, MaxPool2d, ReLU,
                                              max_pool2d, relu, set_program,
                                              table_3_1, with_knobs)
from benchmark_utils.tasks.image import ClassificationTask
from benchmark_utils.training.recipe import Recipe
from benchmark_utils.training.method import Method
from benchmark_utils.training.trainer import Trainer
from generated_data import (patch_cifar10_checksums, write_cifar10,
                            write_mnist)


@pytest.mark.parametrize("dtype, half_ulp", [(torch.float32, 2.0 ** -24),
                                             (torch.float64, 2.0 ** -53)])
def test_table_3_1_is_reproduced_exactly(dtype, half_ulp):
    rows = table_3_1(dtype)
    assert len(TABLE_3_1_T) == 7
    assert rows["x1"] == [0.0, 0.0, 0.0, -1.5, 0.0, 0.0, 0.0]
    # 5.96e-8 in 32 bits (the thesis's "10^-7"), for every t; its sign is
    # max1's minus max2's.
    assert rows["x2"] == [-half_ulp] * 7


def tied_input():
    """8x8 maps with ties in most 2x2 windows (post-ReLU zeros, plateaus)
    and a few without."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, 8, generator=gen, dtype=torch.float64)
    x = x.clamp(min=0)
    x[:, :, :4, :4] = 1.5
    return x


def minimal_by_hand(x, grad, k=2):
    """The minimal Jacobian, window by window."""
    out = torch.zeros_like(x)
    n, c, h, w = x.shape
    for a, b, i, j in itertools.product(range(n), range(c),
                                        range(0, h, k), range(0, w, k)):
        window = x[a, b, i:i + k, j:j + k]
        ties = (window == window.max()).to(x.dtype)
        out[a, b, i:i + k, j:j + k] += ties / ties.sum() * \
            grad[a, b, i // k, j // k]
    return out


@pytest.mark.parametrize("ties", [True, False])
def test_hybrid_maxpool_is_native_at_0_minimal_at_1_and_max_pool2d_forward(
        ties):
    x = tied_input() if ties else torch.randn(2, 3, 8, 8,
                                              dtype=torch.float64)
    grad = torch.randn(2, 3, 4, 4, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(1))
    native_x = x.clone().requires_grad_(True)
    F.max_pool2d(native_x, 2).backward(grad)
    results = {}
    for beta in (0.0, 1.0, 10.0):
        xb = x.clone().requires_grad_(True)
        out = max_pool2d(xb, 2, beta=beta)
        assert torch.equal(out, F.max_pool2d(x, 2))
        out.backward(grad)
        results[beta] = xb.grad
    minimal = minimal_by_hand(x, grad)
    assert torch.equal(results[0.0], native_x.grad)
    torch.testing.assert_close(results[1.0], minimal, rtol=0, atol=1e-15)
    torch.testing.assert_close(results[10.0],
                               -9 * native_x.grad + 10 * minimal)
    assert (not torch.equal(native_x.grad, minimal)) == ties


def test_relu_prime0_changes_gradients_only_at_exact_zeros():
    x = torch.tensor([-2.0, -0.0, 0.0, 1e-30, 3.0], requires_grad=True)
    relu(x, 0).backward(torch.ones(5))
    g0 = x.grad.clone()
    x.grad = None
    relu(x, 1).backward(torch.ones(5))
    g1 = x.grad
    assert g0.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert g1.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    torch.manual_seed(0)
    # The cited LeNet-5: its logits go through a ReLU too.
    model0 = build_lenet("lenet5_relu_logits", relu_prime0=0)
    model1 = build_lenet("lenet5_relu_logits", relu_prime0=1)
    model1.load_state_dict(model0.state_dict())
    img = torch.randn(4, 1, 28, 28)
    # Random weights: no pre-activation is exactly 0, the gradients agree.
    for m in (model0, model1):
        m(img).sum().backward()
    assert all(torch.equal(a.grad, b.grad) for a, b in
               zip(model0.parameters(), model1.parameters()))
    # fc3 at zero: every output's pre-activation is exactly 0.
    for m in (model0, model1):
        m.zero_grad()
        with torch.no_grad():
            m.classifier[5].bias.zero_()
            m.classifier[5].weight.zero_()
        m(img).sum().backward()
    assert model0.classifier[5].bias.grad.abs().sum() == 0
    assert torch.equal(model1.classifier[5].bias.grad,
                       torch.full((10,), 4.0))


def test_vgg_knobs_keep_torch_layers_by_default():
    torch.manual_seed(0)
    default = build_cifar_model("vgg11")
    torch.manual_seed(0)
    knobbed = build_cifar_model("vgg11", maxpool="native", relu_prime0=0)
    assert all(torch.equal(a, b) for a, b in
               zip(default.parameters(), knobbed.parameters()))
    assert any(isinstance(m, torch.nn.MaxPool2d) for m in default.modules())
    no_bn = build_cifar_model("vgg11", batchnorm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d)
                   for m in no_bn.modules())
    with pytest.raises(ValueError, match="vgg11 only"):
        build_cifar_model("resnet18", maxpool="minimal")
    with pytest.raises(ValueError, match="maxpool='mean'"):
        build_cifar_model("vgg11", maxpool="mean")


def test_the_mnist_reader_reads_torchvision_layout(tmp_path):
    images, labels = write_mnist(tmp_path, n_train=12, n_test=5)
    x, y, x_test, y_test = load_mnist(tmp_path, download=False)
    assert x.shape == (12, 1, 28, 28) and x.dtype == torch.uint8
    assert x_test.shape == (5, 1, 28, 28)
    assert np.array_equal(x[:, 0].numpy(), images)
    assert np.array_equal(y.numpy(), labels)
    with pytest.raises(RuntimeError, match="data_paths"):
        load_mnist(tmp_path / "absent", download=False)


def test_lenet5_has_the_cited_implementations_shape_with_or_without_relu():
    x = torch.randn(64, 1, 28, 28)
    for name in ("lenet5", "lenet5_relu_logits"):
        torch.manual_seed(0)
        model = build_lenet(name)
        assert sum(p.numel() for p in model.parameters()) == \
            (6 * 25 + 6) + (16 * 6 * 25 + 16) + (256 * 120 + 120) + \
            (120 * 84 + 84) + (84 * 10 + 10)
        logits = model(x)
        if name == "lenet5":
            plain = logits
            assert logits.min() < 0           # plain logits
        else:
            assert torch.equal(logits, plain.clamp(min=0))  # final ReLU
    with pytest.raises(ValueError, match="lenet5_relu_logits"):
        build_lenet("lenet")


def test_switching_a_models_program_equals_building_it_so():
    x = tied_input().float()[:, :1].repeat(1, 1, 4, 4)     # 32x32, ties
    x = torch.nn.functional.interpolate(x, size=28)
    for knobs in (dict(maxpool="minimal"), dict(relu_prime0=1),
                  dict(maxpool="hybrid", maxpool_beta=10.0)):
        torch.manual_seed(0)
        built = build_lenet("lenet5_relu_logits", **knobs)
        switched = build_lenet("lenet5_relu_logits", maxpool="hybrid")
        switched.load_state_dict(built.state_dict())
        set_program(switched, maxpool_beta={"minimal": 1.0}.get(
            knobs.get("maxpool"), knobs.get("maxpool_beta", 0.0)),
            relu_prime0=knobs.get("relu_prime0", 0))
        for m in (built, switched):
            m(x).sum().backward()
        assert all(torch.equal(a.grad, b.grad) for a, b in
                   zip(built.parameters(), switched.parameters()))


def test_torchvisions_vgg11_takes_the_knobs():
    # torchvision's form: three fully connected layers after a 7x7 average
    # pooling (129M parameters; built on the meta device, nothing
    # allocated).
    with torch.device("meta"):
        model = torchvision_vgg11(10, batchnorm=True, maxpool="minimal",
                                  relu_prime0=1)
    convs = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512),
             (512, 512), (512, 512), (512, 512)]
    expected = sum(i * o * 9 + o + 2 * o for i, o in convs) + \
        (512 * 7 * 7 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == expected
    pools = [m for m in model.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert pools == []
    assert [m.beta for m in model.modules() if isinstance(m, MaxPool2d)] \
        == [1.0] * 5
    assert [m.prime0 for m in model.modules() if isinstance(m, ReLU)] \
        == [1] * 10
    with pytest.raises(ValueError, match="only 2x2 MaxPool"):
        with_knobs(torch.nn.Sequential(torch.nn.MaxPool2d(3)))


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_true_low_and_high_precision_training(dtype):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 1, 8, 8, generator=gen)
    y = torch.randint(0, 3, (40,), generator=gen)
    recipe = Recipe(batch_size=8, epochs=1, lr=1e-2, weight_decay=0.0,
                    dtype=dtype)
    task = ClassificationTask(x[:32], y[:32], x[32:], y[32:],
                              lambda n: torch.nn.Sequential(
                                  torch.nn.Flatten(),
                                  torch.nn.Linear(64, n)), recipe, 3)
    trainer = Trainer(task, Method(lambda p, lr, wd, run: torch.optim.SGD(
        p, lr=lr), 1e-2, 0.0), 0)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train_stage()
    assert all(p.dtype == getattr(torch, dtype)
               for p in trainer.model.parameters())
    assert not all(torch.equal(a, b) for a, b in
                   zip(before, trainer.model.parameters()))
    assert np.isfinite(task.evaluate(trainer.model)["test_loss"])
    loss, _ = task.loss(trainer.model, recipe.cast((x[:8], y[:8])))
    assert loss.dtype == (torch.float64 if dtype == "float64"
                          else torch.float32)     # 64-bit loss in 64 bits
    with pytest.raises(ValueError, match="excludes precision='bf16'"):
        Recipe(batch_size=8, epochs=1, dtype=dtype, precision="bf16")


def cifar_shaped_batches(n_batches=2, batch_size=4):
    """Normalized 32x32 images made of flat 8x8 blocks (as the flat regions
    of photographs: where MaxPool windows tie)."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n_batches):
        small = torch.randint(0, 256, (batch_size, 3, 4, 4), generator=gen)
        x = small.float().repeat_interleave(8, 2).repeat_interleave(8, 3)
        out.append(((x / 255 - 0.5) / 0.25,
                    torch.randint(0, 10, (batch_size,), generator=gen)))
    return out


def test_the_diagnostic_sees_maxpool_but_not_a_deterministic_rerun():
    rows = bv.variations(bv.builder("vgg11"), cifar_shaped_batches(1),
                         "native", "minimal", draws=1, deterministic=True)
    assert not torch.are_deterministic_algorithms_enabled()   # restored
    assert len(rows) == 1
    assert all(r["d_same"] == 0.0 for r in rows)      # same program twice
    assert all(r["d_programs"] > 0 for r in rows)     # native vs minimal
    stats = bv.summary(rows)
    # tau1 is identically 0 here: undefined, and nothing is counted with it.
    assert stats["tau1"] is None and "deterministic" in \
        stats["tau1_undefined"]
    assert stats["draws_in_zone"] is None
    stats = bv.summary(rows, tau=0.0)     # a threshold of 0, given
    assert stats["draws_in_zone"] == 1.0 and stats["batches_in_zone"] == 1.0


def test_the_diagnostic_command_writes_its_page_and_csv(tmp_path,
                                                        monkeypatch):
    md5s = write_cifar10(tmp_path / "cifar10", n_per_batch=4, n_test=4)
    patch_cifar10_checksums(monkeypatch, md5s)
    stats = bv.main(["--dataset", "cifar10", "--data",
                     str(tmp_path / "cifar10"), "--model", "vgg11",
                     "--draws", "1", "--batches", "2", "--batch-size", "2",
                     "--tau", "32=1e-8", "--output", str(tmp_path / "out")])
    csv = pd.read_csv(tmp_path / "out" / "variation.csv")
    assert list(csv.columns) == ["dtype", "draw", "batch", "d_programs",
                                 "d_same", "d_relu"]
    assert len(csv) == 2
    html = (tmp_path / "out" / "variation.html").read_text()
    assert "tau1 (eq. 3.12)" in html and "Proportion of impacted" in html
    assert remote_resources(html) == []     # plotly.js inlined: offline
    assert stats["float32"]["tau"] == 1e-8
    assert 0.0 <= stats["float32"]["batches_in_zone"] <= 1.0


def test_the_cost_script_measures_every_network_within_the_bound():
    import importlib.util
    from conftest import ROOT
    spec = importlib.util.spec_from_file_location(
        "backprop_cost", ROOT / "benchmarks" / "backprop_cost.py")
    cost = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cost)
    model = cost.mlp(3, 32)
    x = torch.randn(16, 784)
    fwd, bwd, fmode = cost.timed(model, x, torch.device("cpu"), reps=2,
                                 forward_mode=True, directions=4)
    assert fwd > 0 and bwd > 0 and fmode > 0
    zoo = cost.zoo()
    assert {n for n, _, _ in zoo} >= {"LeNet-5 (MNIST)", "VGG11 (CIFAR)"}
    for name, model, x in zoo:
        fwd, fwd_bwd, _ = cost.counted(model, x)
        assert 1 < fwd_bwd / fwd <= cost.BOUND, name


CONFIGS = ["nonsmooth_vgg11_cifar10.yml", "nonsmooth_lenet5_mnist.yml",
           "digits_precision_fig4_10.yml"]


def expand(root, config):
    bench = Benchmark(root)
    datasets = [d for d, _ in _list_parametrized_classes(
        *bench.check_dataset_patterns(config["dataset"]))]
    solvers = [s for s, _ in _list_parametrized_classes(
        *bench.check_solver_patterns(config["solver"]))]
    return datasets, solvers


@pytest.mark.parametrize("name", CONFIGS)
def test_the_new_configs_are_valid_and_a_reduced_run_completes(
        root, name, tmp_path, monkeypatch):
    config = yaml.safe_load((root / "configs" / name).read_text())
    options = {p.name for p in run.params}
    assert {k.replace("-", "_") for k in config} <= options
    datasets, solvers = expand(root, config)
    if name.startswith("nonsmooth"):
        assert len(datasets) == 6 * 2 * 2
        assert {d.maxpool_beta for d in datasets} == {0, 1, 10, 100, 1e3,
                                                      1e4}
        assert {s.name for s in solvers} == {"sgd", "adam", "adamw",
                                             "innaprop"}
        if "lenet5" in name:      # the thesis's LeNet-5, named explicitly
            assert {d.model for d in datasets} == {"lenet5_relu_logits"}
    else:
        assert {d.dtype for d in datasets} == {"float32", "float64"}
        assert all(d.epochs == 200 for d in datasets)
        assert all(s.weight_decay == 0.0 for s in solvers)
    # Reduced: one combination, one epoch, the config's last solver.
    write_cifar10(tmp_path / "cifar10", n_per_batch=4, n_test=4)
    md5s = write_cifar10(tmp_path / "cifar10", n_per_batch=4, n_test=4)
    patch_cifar10_checksums(monkeypatch, md5s)
    write_mnist(tmp_path, n_train=16, n_test=8)
    (tmp_path / "mnist").mkdir()
    (tmp_path / "MNIST").rename(tmp_path / "mnist" / "MNIST")
    monkeypatch.setenv("BENCHOPT_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("INNAPROP_DEVICE", "cpu")
    d = datasets[-1]
    params = {k: getattr(d, k) for k in type(d).parameters}
    params.update(epochs=1)
    if "batch_size" in params:
        params["batch_size"] = 8
    dataset = f"{d.name}[" + ",".join(f"{k}={v}" for k, v in
                                      params.items()) + "]"
    out = tmp_path / "out.parquet"
    run([str(root), "-d", dataset, "-s", str(solvers[-1]), "-r", "1",
         "--no-plot", "--no-display", "--no-cache", "--no-timeout",
         "--output", str(out)], standalone_mode=False)
    df = pd.read_parquet(out)
    assert list(df["objective_epoch"]) == [0.0, 1.0]
    assert df["objective_test_acc"].between(0, 100).all()
