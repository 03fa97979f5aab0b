"""The rivals as their authors (or AlgoPerf) run them: each library's step
against an independent float64 transcription of the authors' rule, and the
settings each solver takes from its source (issue 23)."""
import functools
import math

import numpy as np
import pytest
import torch

from benchmark_utils.models.gpt import build_gpt
from benchmark_utils.optimizers.muon import Muon, stacked_rows
from benchmark_utils.training.method import Method
from benchmark_utils.training.recipe import Recipe
from benchmark_utils.training.trainer import RunInfo, Trainer, param_groups
from test_new_solvers import bn_task, solver
from test_optimizers import assert_iterates_equal, grad_at, run, theta0

COSINE_40 = [0.05 * 0.5 * (1 + math.cos(math.pi * k / 40)) for k in range(40)]


def rel_gap(xs, ys):
    return max(((a - b).abs().max() / b.abs().max()).item()
               for a, b in zip(xs, ys))


# -- warmup as a searched parameter (AlgoPerf's warmup_factor) ------------

def test_a_warmup_fraction_replaces_the_recipes_warmup():
    recipe = Recipe(batch_size=8, epochs=20, warmup=3)
    method = Method(None, 1e-3, 0.0, warmup_fraction=0.05)
    assert method.warmup(recipe, 20) == 1                # int(0.05 * 20)
    assert method.warmup(recipe, 19) == 0                # rounded down
    assert Method(None, 1e-3, 0.0).warmup(recipe, 20) == 3
    assert Method(None, 1e-3, 0.0, schedule=False,
                  warmup_fraction=0.5).warmup(recipe, 20) == 0
    constant = recipe.replace(schedule="constant")
    assert method.warmup(constant, 20) == 0


def test_nadamw_warms_up_over_its_fraction_and_tells_the_optimizer():
    s = solver("nadamw", warmup_fraction=0.25)
    seen = []
    make = s.make_optimizer
    s.make_optimizer = lambda *a: (seen.append(a[3]), make(*a))[1]
    trainer = Trainer(bn_task(epochs=4), s.method(1e-2, 0.01), 3)
    # A quarter of 4 epochs: one epoch of warmup, the recipe's form
    # (k + 1) / (warmup + 1), then the cosine from the full lr.
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(5e-3)
    trainer.train_stage()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2)
    assert seen[0].warmup_steps == trainer.steps_per_epoch == 4
    plain = Trainer(bn_task(epochs=4), solver("nadamw").method(1e-2, 0.01), 3)
    assert plain.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2)


# -- NAdamW: the solver runs AlgoPerf's --------------------------------------

def test_the_nadamw_solver_is_algoperfs_nadamw_at_its_baseline_point():
    from innaprop import NAdamW
    s = solver("nadamw")
    p = torch.nn.Parameter(torch.ones(3))
    opt = s.make_optimizer([{"params": [p], "weight_decay": 0.1}], 1e-3,
                           0.1, run=None)
    assert isinstance(opt, NAdamW)
    # AlgoPerf's self-tuning baseline (pytorch_nadamw_full_budget.py).
    assert opt.param_groups[0]["betas"] == (1 - 0.06733926164,
                                            0.9955159689799007)
    assert set(s.search_space) == {"lr", "one_minus_beta1", "beta2",
                                   "weight_decay", "warmup_fraction"}
    with pytest.raises(ValueError, match="one_minus_beta1"):
        solver("nadamw", one_minus_beta1=0.0).check_parameters()


# -- Muon: Q, K and V orthogonalized one by one -----------------------------

def test_muon_orthogonalizes_q_k_and_v_as_three_matrices():
    """The fused 3C x C weight steps as torch.optim.Muon on its three C x C
    blocks, each a parameter of its own (modded-nanogpt's Q, K, V)."""
    torch.manual_seed(0)
    C = 8
    fused = torch.nn.Parameter(torch.randn(3 * C, C))
    blocks = [torch.nn.Parameter(b.clone()) for b in fused.detach().chunk(3)]
    ours = Muon([fused], row_blocks={id(fused): 3}, lr=0.02,
                weight_decay=0.1, adjust_lr_fn="match_rms_adamw")
    theirs = torch.optim.Muon(blocks, lr=0.02, weight_decay=0.1,
                              adjust_lr_fn="match_rms_adamw")
    whole = torch.nn.Parameter(fused.detach().clone())
    as_one = torch.optim.Muon([whole], lr=0.02, weight_decay=0.1,
                              adjust_lr_fn="match_rms_adamw")
    for _ in range(3):
        g = torch.randn(3 * C, C)
        fused.grad, whole.grad = g.clone(), g.clone()
        for b, gb in zip(blocks, g.chunk(3)):
            b.grad = gb.clone()
        for o in (ours, theirs, as_one):
            o.step()
    torch.testing.assert_close(fused.detach(),
                               torch.cat([b.detach() for b in blocks]),
                               rtol=1e-6, atol=1e-7)
    assert (fused - whole).abs().max() > 1e-3      # what the old code did


def test_the_muon_solver_splits_every_attention_weight_of_the_gpt():
    model = build_gpt("tiny", vocab_size=64, block_size=16)
    names = {id(p): n for n, p in model.named_parameters()}
    split = {names[i]: n for i, n in stacked_rows(model).items()}
    assert split == {f"h.{i}.attn.c_attn.weight": 3 for i in range(4)}
    opt = solver("muon").make_optimizer(
        param_groups(model, 0.1, decay_1d_params=False), 1e-3, 0.1,
        run=RunInfo(model, dict(model.named_parameters()), 10))
    muon = opt.optimizers[0]
    assert muon.row_blocks == stacked_rows(model)


# -- MARS: the authors' split and scale -------------------------------------

def test_mars_takes_the_2d_matrices_and_leaves_the_rest_to_adamw():
    from innaprop import MARS
    s = solver("mars")
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(),
                                torch.nn.Linear(8, 3))
    groups = param_groups(model, 1e-3, decay_1d_params=False)
    lr, wd = s.scale.resolve(Recipe(batch_size=4, epochs=1, lr=6e-4,
                                    weight_decay=0.1), None, None)
    assert (lr, wd) == pytest.approx((6e-3, 0.01))      # the authors' GPT-2
    opt = s.make_optimizer([dict(g, weight_decay=wd if g["weight_decay"]
                                 else 0.0) for g in groups], lr, wd,
                           run=RunInfo(model, {}, 10))
    mars, adamw = opt.optimizers
    assert isinstance(mars, MARS) and isinstance(adamw, torch.optim.AdamW)
    assert [p for g in mars.param_groups for p in g["params"]] == \
        [model[2].weight]
    assert mars.param_groups[0]["betas"] == (0.95, 0.99)
    assert mars.param_groups[0]["gamma"] == 0.025
    rest = {id(p): g for g in adamw.param_groups for p in g["params"]}
    assert set(rest) == {id(model[0].weight), id(model[0].bias),
                         id(model[2].bias)}
    conv = rest[id(model[0].weight)]
    # lr_1d = lr / 2, betas_1d (0.9, 0.95), weight_decay_1d = 10 x MARS's.
    assert conv["lr"] == pytest.approx(3e-3)
    assert conv["betas"] == (0.9, 0.95)
    assert conv["weight_decay"] == pytest.approx(0.1)
    assert rest[id(model[2].bias)]["weight_decay"] == 0.0


# -- ADOPT: the authors' clipping count ---------------------------------------

def authors_adopt(theta, lrs, b1, b2, eps, wd):
    """iShohei220/adopt's _single_tensor_adopt, decouple=True: steps counted
    from 0; step 0 sets v = g^2 only; step k decays, clips g / max(sqrt(v),
    eps) at k^0.25, then m, theta and v."""
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)
    out = [theta]
    for k, lr in enumerate(lrs):
        g = grad_at(theta)
        if k == 0:
            v = g * g
            out.append(theta)
            continue
        theta = theta - lr * wd * theta
        normed = (g / v.sqrt().clamp(min=eps)).clamp(-k ** 0.25, k ** 0.25)
        m = m + (1 - b1) * (normed - m)
        theta = theta - lr * m
        v = b2 * v + (1 - b2) * g * g
        out.append(theta)
    return out


@pytest.mark.parametrize("foreach", [False, True])
def test_adopt_follows_the_authors_code(foreach):
    from benchmark_utils.optimizers.adopt import ADOPT
    start = theta0(6) * 4       # large gradients: the clip is active
    lrs = [x / 5 for x in COSINE_40]
    ours = run(ADOPT, start, lrs, betas=(0.9, 0.9999), eps=1e-6,
               weight_decay=0.1, weight_decouple=True, foreach=foreach)
    ref = authors_adopt(start, lrs, 0.9, 0.9999, 1e-6, 0.1)
    assert_iterates_equal(ours, ref, rtol=1e-12, atol=1e-15)
    # pytorch-optimizer's own schedule clips one step ahead and decays at
    # the first step: the solver's old optimizer.
    import pytorch_optimizer
    old = run(pytorch_optimizer.ADOPT, start, lrs, betas=(0.9, 0.9999),
              eps=1e-6, weight_decay=0.1, weight_decouple=True,
              foreach=foreach)
    assert rel_gap(old[1:], ref[1:]) > 1e-6


def test_the_adopt_solver_uses_the_authors_schedule():
    from benchmark_utils.optimizers.adopt import ADOPT
    p = torch.nn.Parameter(torch.ones(2))
    opt = solver("adopt").make_optimizer([{"params": [p],
                                           "weight_decay": 0.1}],
                                         1e-3, 0.1, run=None)
    assert type(opt) is ADOPT and opt.clip_lambda(2) == 1.0
    assert opt.param_groups[0]["betas"] == (0.9, 0.9999)


# -- Prodigy and Schedule-Free: their authors' settings -----------------------

def test_prodigy_guards_its_estimate_when_the_schedule_warms_up():
    s = solver("prodigy")
    p = torch.nn.Parameter(torch.ones(2))

    def build(warmup_steps, **params):
        for k, v in params.items():
            setattr(s, k, v)
        return s.make_optimizer([{"params": [p], "weight_decay": 0.0}], 1.0,
                                0.0, run=RunInfo(None, {}, 100,
                                                 warmup_steps=warmup_steps))

    assert build(0).param_groups[0]["safeguard_warmup"] is False
    assert build(5).param_groups[0]["safeguard_warmup"] is True
    forced = build(0, safeguard_warmup=True)
    assert forced.param_groups[0]["safeguard_warmup"] is True


def test_schedule_free_takes_algoperfs_self_tuning_settings():
    s = solver("schedulefree_adamw")
    lr, wd = s.scale.resolve(Recipe(batch_size=4, epochs=1, lr=1.7486e-3,
                                    weight_decay=0.0812), None, None)
    assert lr == pytest.approx(2.5e-3, rel=1e-4) and wd == 0.0812
    p = torch.nn.Parameter(torch.ones(2))
    opt = s.make_optimizer([{"params": [p], "weight_decay": wd}], lr, wd,
                           run=RunInfo(None, {}, 1000))
    group = opt.param_groups[0]
    assert group["betas"] == (0.9, 0.9955) and group["r"] == 0.75
    assert group["weight_lr_power"] == 2.0
    assert group["warmup_steps"] == int(0.02 * 1000 * 0.75)
    assert s.bn_batches == 50                 # the README's example


# -- NorMuon: the authors' update -------------------------------------------

def newton_schulz(G, steps=5):
    """The authors' zeropower_via_newtonschulz5 (KellerJordan/Muon, copied
    into zichongli5/NorMuon), in float64 instead of bfloat16, for a matrix
    or a batch of them."""
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G.to(torch.float64)
    tall = G.size(-2) > G.size(-1)
    if tall:
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.mT
        B = b * A + c * A @ A
        X = a * X + B @ X
    return X.mT if tall else X


def ns_for_library(g, num_steps=5, **_):
    return newton_schulz(g, num_steps)


def authors_normuon(W, grads, lr, wd, beta=0.95, beta2=0.95, rms=None):
    """zichongli5/NorMuon's SingleDeviceNorMuon step (normuon_update);
    with ``rms`` the paper's Algorithm 1 instead: the normalized update
    rescaled to RMS ``rms`` (eta-hat = 0.2 eta sqrt(mn) / ||O-hat||)."""
    m = torch.zeros_like(W)
    v = torch.zeros(W.shape[0], 1, dtype=W.dtype)
    out = []
    for g in grads:
        m = m + (1 - beta) * (g - m)
        u = newton_schulz(g + beta * (m - g))          # Nesterov
        norm = u.norm()
        v = v + (1 - beta2) * ((u * u).mean(dim=-1, keepdim=True) - v)
        u = u / (v.sqrt() + 1e-10)
        if rms is None:
            u = u * (norm / (u.norm() + 1e-10))
            u = u * max(1, W.shape[0] / W.shape[1]) ** 0.5
        else:
            u = u * (rms * math.sqrt(u.numel()) / (u.norm() + 1e-10))
        W = W * (1 - lr * wd) - lr * u
        out.append(W)
    return out


@pytest.mark.parametrize("shape", [(6, 4), (4, 6)])
@pytest.mark.parametrize("scale", ["preserve_norm", "match_rms"])
@pytest.mark.parametrize("foreach", [False, True])
def test_normuon_follows_the_authors_update(shape, scale, foreach,
                                            monkeypatch):
    """pytorch-optimizer's NorMuon against the authors' code (its
    ``preserve_norm``) and the paper's Algorithm 1 (``match_rms``, the
    solver's), both orthogonalizing in float64 with the authors'
    Newton-Schulz (the library's divides by max(norm, 1e-7) where theirs
    adds 1e-7; both run it in bfloat16)."""
    from pytorch_optimizer import NorMuon
    from pytorch_optimizer.optimizer.muon import base, normuon
    monkeypatch.setattr(normuon, "zero_power_via_newton_schulz_5",
                        ns_for_library)
    monkeypatch.setattr(base, "zero_power_via_newton_schulz_5",
                        ns_for_library)
    gen = torch.Generator().manual_seed(0)
    W0 = torch.randn(shape, generator=gen, dtype=torch.float64)
    grads = [torch.randn(shape, generator=gen, dtype=torch.float64)
             for _ in range(8)]
    W = torch.nn.Parameter(W0.clone())
    opt = NorMuon([dict(params=[W], use_muon=True)], lr=0.02,
                  weight_decay=0.1, update_scale=scale, foreach=foreach)
    ours = []
    for g in grads:
        W.grad = g.clone()
        opt.step()
        ours.append(W.detach().clone())
    ref = authors_normuon(W0, grads, 0.02, 0.1,
                          rms=0.2 if scale == "match_rms" else None)
    assert_iterates_equal(ours, ref, rtol=1e-12, atol=1e-15)


def test_the_normuon_solver_runs_the_papers_step_at_adamws_scale():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                torch.nn.Linear(8, 8), torch.nn.Tanh(),
                                torch.nn.Linear(8, 2))
    opt = solver("normuon").make_optimizer(
        param_groups(model, 0.01), 1e-3, 0.01,
        run=RunInfo(model, dict(model.named_parameters()), 10))
    muon = [g for g in opt.param_groups if g["use_muon"]]
    adam = [g for g in opt.param_groups if not g["use_muon"]]
    assert [p for g in muon for p in g["params"]] == [model[2].weight]
    assert muon[0]["update_scale"] == "match_rms" and muon[0]["lr"] == 1e-3
    assert muon[0]["beta2"] == 0.95 and muon[0]["momentum"] == 0.95
    assert adam[0]["betas"] == (0.9, 0.95) and adam[0]["eps"] == 1e-10
    assert adam[0]["lr"] == 1e-3


# -- PSGD Kron: against kron-torch ------------------------------------------

def kron_run(make, steps=30):
    torch.manual_seed(0)
    ps = [torch.nn.Parameter(torch.randn(6, 4, dtype=torch.float64)),
          torch.nn.Parameter(torch.randn(3, dtype=torch.float64))]
    opt = make(ps)
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(5)       # the preconditioner fits draw from it
    for _ in range(steps):
        for p in ps:
            p.grad = torch.randn(p.shape, generator=gen,
                                 dtype=torch.float64) + p.detach()
        opt.step()
    return [p.detach() for p in ps]


def test_kron_stays_near_kron_torch(monkeypatch):
    """kron-torch 0.3.3, Kron's reference implementation, against the
    solver's optimizer in float64 (the rest of their gap: see
    solvers/kron.py). Skipped without kron-torch (a test-only install)."""
    kron_torch = pytest.importorskip("kron_torch")
    from benchmark_utils.optimizers.kron import Kron
    # kron-torch wraps its functions in torch.compile; eager is the same
    # arithmetic and keeps the test cheap.
    monkeypatch.setattr(torch._dynamo.config, "disable", True)
    ref = kron_run(lambda ps: kron_torch.Kron(
        ps, lr=1e-2, weight_decay=0.1, precond_dtype=torch.float64))
    ours = kron_run(lambda ps: Kron(ps, lr=1e-2, weight_decay=0.1,
                                    precondition_dtype=torch.float64))
    gap = rel_gap(ours, ref)
    assert gap < 1e-4, gap


def test_kron_balances_alike_whatever_numpys_state():
    from benchmark_utils.optimizers.kron import Kron
    results = []
    for seed in (0, 1):
        np.random.seed(seed)
        before = np.random.get_state()[1].copy()
        results.append(kron_run(lambda ps: Kron(ps, lr=1e-2,
                                                balance_prob=0.5), steps=12))
        assert np.array_equal(np.random.get_state()[1], before)
    for a, b in zip(*results):
        assert torch.equal(a, b)


# -- Cautious AdamW: the paper's rule ---------------------------------------

def cautious_adamw(theta, lrs, b1, b2, eps, wd):
    """C-AdamW (Liang et al. 2024; kyleliang919/C-Optim): AdamW whose
    momentum is masked where m * g <= 0, the mask divided by
    max(mean, 1e-3)."""
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)
    out = [theta]
    for t, lr in enumerate(lrs, start=1):
        g = grad_at(theta)
        theta = theta * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mask = (m * g > 0).to(theta.dtype)
        mask = mask / mask.mean().clamp(min=1e-3)
        theta = theta - lr / (1 - b1 ** t) * (m * mask) / (
            v.sqrt() / math.sqrt(1 - b2 ** t) + eps)
        out.append(theta)
    return out


@pytest.mark.parametrize("foreach", [False, True])
def test_cautious_adamw_follows_the_paper(foreach):
    from timm.optim import AdamWLegacy
    lrs = [x / 5 for x in COSINE_40]
    ours = run(functools.partial(AdamWLegacy, caution=True, foreach=foreach),
               theta0(7), lrs, betas=(0.9, 0.999), eps=1e-8,
               weight_decay=0.05)
    ref = cautious_adamw(theta0(7), lrs, 0.9, 0.999, 1e-8, 0.05)
    assert_iterates_equal(ours, ref, rtol=1e-12, atol=1e-15)
    built = solver("cautious_adamw").make_optimizer(
        [{"params": [torch.nn.Parameter(torch.ones(2))],
          "weight_decay": 0.0}], 1e-3, 0.0, run=None)
    assert type(built) is AdamWLegacy and built.param_groups[0]["caution"]
    # The mask acts: plain AdamW moves elsewhere.
    plain = run(torch.optim.AdamW, theta0(7), lrs, betas=(0.9, 0.999),
                eps=1e-8, weight_decay=0.05)
    assert rel_gap(plain[1:], ref[1:]) > 1e-4
