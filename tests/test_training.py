"""The shared training loop: data order, recipe, schedule, divergence."""
import math

import pytest
import torch

import benchmark_utils.training.trainer as trainer_mod
from benchmark_utils.data.augment import ImageAugment
from benchmark_utils.data.loaders import TensorLoader
from benchmark_utils.models.cifar import SmallCNN
from benchmark_utils.training.recipe import Recipe, lr_factor
from benchmark_utils.tasks.image import ClassificationTask
from benchmark_utils.training.method import Method
from benchmark_utils.training.trainer import Trainer


def make_task(n=40, batch_size=8, epochs=3, **recipe):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n + 10, 1, 8, 8, generator=gen)
    y = torch.randint(0, 3, (n + 10,), generator=gen)
    r = Recipe(batch_size=batch_size, epochs=epochs, **recipe)
    return ClassificationTask(x[:n], y[:n], x[n:], y[n:],
                              lambda k: SmallCNN(1, k, width=4), r, 3)


def adamw(params, lr, weight_decay, run=None):
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def test_data_order_is_a_function_of_seed_and_epoch():
    x, y = torch.arange(50).float()[:, None], torch.arange(50)
    a = [yb for _, yb in TensorLoader(x, y, 8, seed=3).epoch(0)]
    b = [yb for _, yb in TensorLoader(x, y, 8, seed=3).epoch(0)]
    c = [yb for _, yb in TensorLoader(x, y, 8, seed=3).epoch(1)]
    d = [yb for _, yb in TensorLoader(x, y, 8, seed=4).epoch(0)]
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(torch.cat(a), torch.cat(c))
    assert not torch.equal(torch.cat(a), torch.cat(d))
    # Each epoch visits every sample once, the last batch being partial.
    assert sorted(torch.cat(a).tolist()) == list(range(50))
    assert [len(t) for t in a] == [8] * 6 + [2]


def test_augmentation_is_a_reflect_padded_crop_maybe_flipped():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 12, 12), dtype=torch.uint8,
                      generator=gen)
    aug = ImageAugment(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    out = aug(x, torch.Generator().manual_seed(1))
    assert out.shape == (16, 3, 12, 12)
    padded = torch.nn.functional.pad(aug.normalize(x), (4,) * 4,
                                     mode="reflect")
    n_flipped = 0
    for i in range(16):
        windows = [padded[i, :, dy:dy + 12, dx:dx + 12]
                   for dy in range(9) for dx in range(9)]
        plain = any(torch.equal(out[i], w) for w in windows)
        flipped = any(torch.equal(out[i], w.flip(2)) for w in windows)
        assert plain or flipped
        n_flipped += flipped and not plain
    assert 0 < n_flipped < 16
    # Evaluation only normalizes.
    torch.testing.assert_close(aug(x, None), aug.normalize(x))


def test_cosine_factor_is_the_thesis_formula():
    for k in range(201):
        expected = 0.5 * (1 + math.cos(k / 200 * math.pi))
        assert lr_factor("cosine", k, 200) == pytest.approx(expected)
    assert lr_factor("cosine_warmup", 0, 100, warmup=10) == pytest.approx(
        1 / 11)
    assert lr_factor("cosine_warmup", 10, 100, warmup=10) == 1.0
    assert lr_factor("cosine_warmup", 100, 100, warmup=10,
                     min_ratio=0.1) == pytest.approx(0.1)
    assert lr_factor("linear_warmup", 55, 100, warmup=10) == pytest.approx(
        0.5)


def test_trainer_applies_the_recipe():
    task = make_task(n=40, batch_size=8, epochs=3, lr=0.01,
                     weight_decay=0.05)
    t = Trainer(task, Method(adamw, 0.01, 0.05), 0)
    assert t.optimizer.param_groups[0]["weight_decay"] == 0.05
    lrs = []
    while not t.finished:
        lrs.append(t.optimizer.param_groups[0]["lr"])
        t.train_stage()          # eval_every=1: one epoch per stage
    assert t.epoch == 3 and t.step == 3 * 5
    # Per-epoch cosine with T_max = the epoch budget.
    assert lrs == pytest.approx([0.01 * lr_factor("cosine", e, 3)
                                 for e in range(3)])
    assert t.progress().budget_done == 1.0


def test_same_seed_same_run_and_other_seed_other_run():
    def final(seed):
        t = Trainer(make_task(), Method(adamw, 1e-3, 0.0), seed)
        while not t.finished:
            t.train_stage()
        return [p.detach().clone() for p in t.model.parameters()]

    a, b, c = final(1), final(1), final(2)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not all(torch.equal(u, v) for u, v in zip(a, c))


def test_gradient_accumulation_matches_the_large_batch():
    def final(batch_size, accum):
        task = make_task(n=32, batch_size=batch_size, epochs=1,
                         grad_accum=accum)
        # Same permutation: the loader's order depends on seed and size only.
        t = Trainer(task, Method(lambda p, lr, wd, run: torch.optim.SGD(
            p, lr=0.1), 0.1, 0.0), 0)
        t.train_stage()
        return t, [p.detach().clone() for p in t.model.parameters()]

    big, p_big = final(16, 1)
    small, p_small = final(8, 2)
    assert big.step == small.step == 2
    for u, v in zip(p_big, p_small):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-6)


def test_no_decay_on_biases_and_norms_when_asked():
    task = make_task(decay_1d_params=False)
    t = Trainer(task, Method(adamw, 1e-3, 0.1), 0)
    decays = {g["weight_decay"]: {p.dim() for p in g["params"]}
              for g in t.optimizer.param_groups}
    assert decays == {0.1: {2, 4}, 0.0: {1}}


def test_divergence_stops_the_run_and_is_reported():
    task = make_task(epochs=5)
    t = Trainer(task, Method(lambda p, lr, wd, run: torch.optim.SGD(
        p, lr=1e30), 1e30, 0.0), 0)
    t.train_stage()
    while not t.finished:
        t.train_stage()
    assert t.diverged and t.epoch < 5
    assert t.step < 5 * 5
    progress = t.progress()
    assert progress.diverged and progress.budget_done < 1
    assert not math.isfinite(progress.running["loss"])


def test_each_stage_ends_with_a_device_synchronize(monkeypatch):
    calls = []
    monkeypatch.setattr(trainer_mod, "synchronize", calls.append)
    t = Trainer(make_task(epochs=2), Method(adamw, 1e-3, 0.0), 0)
    t.train_stage()
    t.train_stage()
    assert calls == [t.device, t.device]


def test_step_budget_and_evaluation_every_n_steps():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 1, 8, 8, generator=gen), torch.arange(20) % 3
    r = Recipe(batch_size=4, max_steps=12, eval_every=5,
               schedule="cosine_warmup", schedule_unit="step", warmup=2)
    task = ClassificationTask(x, y, x, y, lambda k: SmallCNN(1, k, width=4),
                              r, 3)
    t = Trainer(task, Method(adamw, 1e-3, 0.0), 0)
    steps = []
    while not t.finished:
        t.train_stage()
        steps.append(t.step)
    assert steps == [5, 10, 12]
    assert t.optimizer.param_groups[0]["lr"] == pytest.approx(
        1e-3 * lr_factor("cosine_warmup", 12, 12, warmup=2))
