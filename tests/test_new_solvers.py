"""The optimizers readers compare against today (Muon, Schedule-Free AdamW,
NAdamW, ADOPT, SOAP, AdEMAMix, MARS, Prodigy, NorMuon, PSGD Kron, Cautious
AdamW) and the solver hooks they need: named parameters and run length,
evaluation mode, batch-norm recalibration, opting out of the schedule or of
the recipe's lr."""
import copy
import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch
from schedulefree import AdamWScheduleFree

from benchmark_utils.models.cifar import build_cifar_model
from benchmark_utils.models.gpt import build_gpt
from benchmark_utils.optimizers.combined import CombinedOptimizer
from benchmark_utils.optimizers.muon import Muon, as_matrix, hidden_matrices
from benchmark_utils.tasks.image import ClassificationTask
from benchmark_utils.training.checkpoint import CheckpointStore
from benchmark_utils.training.recipe import Recipe
from benchmark_utils.training.trainer import (BN_RECALIBRATION_SEED, RunInfo,
                                              Trainer, param_groups)
from benchopt_cli import benchopt, read_results
from conftest import ROOT

NEW = ["muon", "schedulefree_adamw", "nadamw", "adopt", "soap", "ademamix",
       "mars", "prodigy", "normuon", "kron", "cautious_adamw"]


def solver(name, **params):
    """The solver plugin with its default parameters, outside benchopt."""
    spec = importlib.util.spec_from_file_location(
        f"solver_{name}", ROOT / "solvers" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = module.Solver
    obj = cls.__new__(cls)
    for key, values in cls.parameters.items():
        setattr(obj, key, params.get(key, values[0]))
    return obj


def bn_task(epochs=4):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(70, 3, 8, 8, generator=gen)
    y = torch.randint(0, 3, (70,), generator=gen)
    recipe = Recipe(batch_size=16, epochs=epochs, lr=1e-2, weight_decay=0.01,
                    schedule="cosine")

    def model(n):
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
            torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3, padding=1),
            torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Dropout(0.2),
            torch.nn.Linear(256, 16), torch.nn.ReLU(),
            torch.nn.Linear(16, n))

    return ClassificationTask(x[:50], y[:50], x[50:], y[50:], model, recipe,
                              3)


def trainer_for(s, task):
    lr = 1e-2 if s.scale.recipe_lr else s.lr
    return Trainer(task, s.method(lr, 0.01), 3)


def evaluate(trainer):
    """One benchopt evaluation: into evaluation mode, the metrics."""
    trainer.set_evaluation_mode(True)
    return trainer.task.evaluate(trainer.model, trainer.progress().running)


def stages(trainer, n):
    metrics = []
    for _ in range(n):
        trainer.set_evaluation_mode(False)
        trainer.train_stage()
        metrics.append(evaluate(trainer))
    return metrics


@pytest.mark.parametrize("name", NEW)
def test_resume_is_bit_exact_with_the_evaluation_hooks(name, tmp_path):
    s = solver(name)
    straight = trainer_for(s, bn_task())
    expected = stages(straight, 4)
    first = trainer_for(s, bn_task())
    stages(first, 2)
    store = CheckpointStore(tmp_path, run=name)
    store.save({"trainer": first.state_dict()}, index=1)   # evaluation mode
    torch.manual_seed(999)
    resumed = trainer_for(s, bn_task())
    resumed.load_state_dict(store.load()["trainer"])
    got = stages(resumed, 2)
    assert got == expected[2:]
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)
    assert all(np.isfinite(m["value"]) for m in expected)


def test_every_new_solver_trains_digits_through_benchopt(bench):
    args = ["run", ".", "-d", "digits[epochs=2]", "--no-plot", "-n", "10",
            "--no-timeout", "--output", "new"]
    for name in NEW:
        args += ["-s", name]
    res = benchopt(*args, cwd=bench)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    df = read_results(bench, "new")
    got = sorted({n.split("[")[0] for n in df["solver_name"]})
    assert got == sorted(NEW)
    for name, curve in df.groupby("solver_name"):
        assert len(curve) == 3 and np.isfinite(curve["objective_value"]).all()
        # PSGD Kron starts from an identity preconditioner at a third of
        # AdamW's lr: about 19% after these 2 epochs, 90% after 20.
        bar = 12 if name.startswith("kron") else 20
        assert curve["objective_test_acc"].iloc[-1] > bar, name
        assert curve["objective_value"].iloc[-1] < \
            curve["objective_value"].iloc[0], name
    sf = df[df["solver_name"].str.startswith("schedulefree")]
    assert sf["objective_lr"].nunique() == 1      # no schedule
    prodigy = df[df["solver_name"].str.startswith("prodigy")]
    assert prodigy["objective_lr"].iloc[0] == 1.0  # not the recipe's 1e-3


def expected_hidden_cifar(model):
    convs = [n for n, m in model.named_modules()
             if isinstance(m, torch.nn.Conv2d)]
    return {f"{n}.weight" for n in convs[1:]}     # all but the stem


@pytest.mark.parametrize("name", ["resnet18", "vgg11", "densenet121"])
def test_muon_takes_exactly_the_hidden_matrices_of_the_cifar_nets(name):
    model = build_cifar_model(name)
    names = {id(p): n for n, p in model.named_parameters()}
    got = {names[id(p)] for p in hidden_matrices(model)}
    assert got == expected_hidden_cifar(model)
    assert not any(n.endswith("bias") or "bn" in n for n in got)


def test_muon_takes_exactly_the_hidden_matrices_of_the_gpt():
    model = build_gpt("tiny", vocab_size=64, block_size=16)
    names = {id(p): n for n, p in model.named_parameters()}
    got = {names[id(p)] for p in hidden_matrices(model)}
    expected = {n for n, p in model.named_parameters()
                if p.ndim == 2 and "wte" not in n and "wpe" not in n
                and "lm_head" not in n}
    assert got == expected and got
    solver_obj = solver("muon")
    opt = solver_obj.make_optimizer(
        param_groups(model, 0.1, decay_1d_params=False), 1e-3, 0.1,
        run=RunInfo(model, dict(model.named_parameters()), 100))
    muon, adamw = opt.optimizers
    assert isinstance(muon, torch.optim.Muon)
    assert {names[id(p)] for g in muon.param_groups for p in g["params"]} \
        == expected
    rest = {names[id(p)] for g in adamw.param_groups for p in g["params"]}
    assert rest == set(names.values()) - expected


@pytest.mark.parametrize("layout", ["2d", "conv", "channels_last"])
def test_muon_is_torch_muon_on_the_matrix_view(layout):
    torch.manual_seed(0)
    shape = (6, 4) if layout == "2d" else (5, 3, 2, 2)
    p = torch.randn(shape)
    if layout == "channels_last":
        p = p.contiguous(memory_format=torch.channels_last)
    p.requires_grad_(True)
    ref = as_matrix(p.detach()).clone().requires_grad_(True)
    ours = Muon([p], lr=0.02, weight_decay=0.1)
    theirs = torch.optim.Muon([ref], lr=0.02, weight_decay=0.1)
    for _ in range(3):
        g = torch.randn(shape)
        if layout == "channels_last":
            g = g.contiguous(memory_format=torch.channels_last)
        p.grad = g
        ref.grad = as_matrix(g).clone()
        ours.step()
        theirs.step()
    assert torch.equal(as_matrix(p.detach()), ref.detach())


def test_combined_optimizer_follows_the_schedule_and_round_trips():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    opt = CombinedOptimizer(torch.optim.SGD([a], lr=0.1),
                            torch.optim.AdamW([b], lr=0.01))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 ** k)
    for _ in range(2):
        a.grad, b.grad = torch.ones(3), torch.ones(2)
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == [0.1 * 0.25, 0.01 * 0.25]
    state = copy.deepcopy(opt.state_dict())
    c, d = (torch.nn.Parameter(t.detach().clone()) for t in (a, b))
    again = CombinedOptimizer(torch.optim.SGD([c], lr=0.1),
                              torch.optim.AdamW([d], lr=0.01))
    again.load_state_dict(state)
    for o, x, y in ((opt, a, b), (again, c, d)):
        x.grad, y.grad = torch.ones(3), torch.ones(2)
        o.step()
    assert torch.equal(a, c) and torch.equal(b, d)


def test_schedule_free_evaluates_the_averaged_weights_and_trains_on(tmp_path):
    s = solver("schedulefree_adamw")
    trainer = trainer_for(s, bn_task())
    trainer.train_stage()
    training = [p.detach().clone() for p in trainer.model.parameters()]
    # What schedulefree's own eval() gives on a copy: the averaged x.
    twin = copy.deepcopy(trainer.model)
    twin_opt = AdamWScheduleFree(twin.parameters(), lr=1e-2)
    twin_opt.load_state_dict(trainer.optimizer.state_dict())
    twin_opt.eval()
    averaged = [p.detach().clone() for p in twin.parameters()]
    trainer.set_evaluation_mode(True)
    seen = [p.detach() for p in trainer.model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(seen, averaged))
    assert not all(torch.equal(a, b) for a, b in zip(seen, training))
    trainer.set_evaluation_mode(False)
    back = [p.detach() for p in trainer.model.parameters()]
    for a, b in zip(back, training):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_batch_norm_is_recalibrated_at_the_evaluated_weights():
    s = solver("schedulefree_adamw")
    trainer = trainer_for(s, bn_task())
    trainer.train_stage()
    trainer.set_evaluation_mode(True)
    bn = trainer.model[1]
    got = bn.running_mean.clone(), bn.running_var.clone()
    # Recomputed by hand: the first 10 batches of the fixed loader, through
    # the evaluated weights, as a cumulative average.
    twin = copy.deepcopy(trainer.model)
    twin[1].reset_running_stats()
    twin[1].momentum = None
    twin.train()
    loader = trainer.task.train_loader(BN_RECALIBRATION_SEED)
    with torch.no_grad():
        for i, (x, _) in enumerate(loader.epoch(0)):
            if i == 10:
                break
            twin(x)
    torch.testing.assert_close(got[0], twin[1].running_mean)
    torch.testing.assert_close(got[1], twin[1].running_var)
    assert bn.momentum == 0.1                    # restored


def test_batch_norm_recalibration_is_outside_the_timed_region(
        bench, monkeypatch):
    """Each recalibration sleeps 4 s; benchopt's times do not see them."""
    import time
    from benchopt.cli.main import run
    import benchmark_utils.training.trainer as trainer_module

    calls = []
    real = trainer_module.Trainer.recalibrate_batch_norm

    def slow(self, n):
        calls.append(n)
        time.sleep(4)
        return real(self, n)

    monkeypatch.setattr(trainer_module.Trainer, "recalibrate_batch_norm",
                        slow)
    monkeypatch.setenv("INNAPROP_CHECKPOINTS", "0")
    start = time.perf_counter()
    run([str(bench), "-s", "schedulefree_adamw", "-d", "simulated",
         "--no-plot", "-n", "10", "--no-timeout", "--output", "bn"],
        standalone_mode=False)
    elapsed = time.perf_counter() - start
    df = pd.read_parquet(bench / "outputs" / "bn.parquet")
    assert len(calls) == len(df) == 3
    assert elapsed > 12
    assert df["time"].max() < 4


def test_a_solver_out_of_the_schedule_keeps_a_constant_lr():
    s = solver("schedulefree_adamw")
    trainer = trainer_for(s, bn_task())
    lrs = []
    for _ in range(3):
        trainer.train_stage()
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
    assert lrs == [1e-2] * 3
    scheduled = trainer_for(solver("nadamw"), bn_task())
    scheduled.train_stage()
    scheduled.train_stage()
    assert scheduled.optimizer.param_groups[0]["lr"] < 1e-2


def test_prodigy_refuses_to_run_without_its_own_lr():
    s = solver("prodigy", lr=None)
    s.task, s.seed = bn_task(), 0
    with pytest.raises(ValueError, match="prodigy does not take the "
                       "recipe's learning rate"):
        s.set_objective(bn_task(), 0)


def test_ademamix_warmups_last_the_run():
    s = solver("ademamix")
    trainer = trainer_for(s, bn_task(epochs=3))
    assert trainer.optimizer.param_groups[0]["t_alpha_beta3"] == \
        trainer.total_steps == 3 * 4
