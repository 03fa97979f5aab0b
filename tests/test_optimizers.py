"""The thesis's optimizer family and the baselines, against their update
rules (float64), and as benchopt solvers."""
import copy
import importlib.util
import math

import numpy as np
import pytest
import torch

from innaprop import (DINAdam, INNA, INNApropMomentum, Lion, MARS, NAdamW,
                      SophiaG)

from benchopt_cli import benchopt, read_results


def loss_fn(theta):
    # Smooth, non-quadratic, coordinates coupled.
    a = torch.arange(1, theta.numel() + 1, dtype=theta.dtype) / theta.numel()
    return 0.5 * (a * theta ** 2).sum() + torch.log(torch.cosh(
        theta - 0.3)).sum() + 0.1 * theta.sum() ** 2


def grad_at(theta):
    t = theta.detach().clone().requires_grad_(True)
    loss_fn(t).backward()
    return t.grad


def run(opt_class, theta0, lrs, **hp):
    """Iterates theta_0..theta_K of ``opt_class`` on loss_fn, lr set per
    step."""
    p = torch.nn.Parameter(theta0.clone())
    opt = opt_class([p], lr=lrs[0], **hp)
    thetas = [p.detach().clone()]
    for lr in lrs:
        opt.param_groups[0]["lr"] = lr
        opt.zero_grad()
        loss_fn(p).backward()
        opt.step()
        thetas.append(p.detach().clone())
    return thetas


def assert_iterates_equal(ours, ref, rtol=1e-12, atol=1e-14):
    assert len(ours) == len(ref)
    for k, (a, b) in enumerate(zip(ours, ref)):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol,
                                   msg=lambda m: f"step {k}: {m}")


def theta0(seed=0, n=12):
    torch.manual_seed(seed)
    return torch.randn(n, dtype=torch.float64)


COSINE = [0.05 * 0.5 * (1 + math.cos(math.pi * k / 40)) for k in range(40)]


# -- INNA: thesis Table 4.5 ----------------------------------------------

@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_inna_follows_table_4_5(foreach, wd):
    alpha, beta = 0.5, 0.8
    ours = run(INNA, theta0(), COSINE, alpha=alpha, beta=beta,
               weight_decay=wd, foreach=foreach)
    theta = theta0()
    psi = (1 - alpha * beta) * theta
    ref = [theta]
    for gamma in COSINE:
        g = grad_at(theta)
        theta = (1 - gamma * wd) * theta
        drift = (1 / beta - alpha) * theta - psi / beta
        psi = psi + gamma * drift                          # old theta, psi
        theta = theta + gamma * (drift - beta * g)
        ref.append(theta)
    assert_iterates_equal(ours, ref)


# -- DINAdam: thesis Algorithm 6 -----------------------------------------

def model_and_twin(seed=2):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(),
                                torch.nn.Linear(8, 3)).double()
    return model, copy.deepcopy(model)


def train_pair(model, twin, ours, theirs, steps=30):
    scheds = [torch.optim.lr_scheduler.CosineAnnealingLR(o, steps)
              for o in (ours, theirs)]
    x = torch.randn(32, 6, dtype=torch.float64)
    y = torch.randint(0, 3, (32,))
    for _ in range(steps):
        for m, opt in ((model, ours), (twin, theirs)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
        for s in scheds:
            s.step()


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("alpha,beta,adam_beta1", [
    (1.0, 0.0, 0.9),      # Remark 17: Adam
    (2.0, 0.5, 0.0),      # alpha beta = 1: Adam without momentum
])
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_dinadam_special_cases_are_adam(alpha, beta, adam_beta1, wd,
                                        foreach):
    model, twin = model_and_twin()
    ours = DINAdam(model.parameters(), lr=0.01, alpha=alpha, beta=beta,
                   betas=(0.9, 0.99), weight_decay=wd, foreach=foreach)
    adam = (torch.optim.AdamW if wd else torch.optim.Adam)(
        twin.parameters(), lr=0.01, betas=(adam_beta1, 0.99), weight_decay=wd)
    train_pair(model, twin, ours, adam)
    for a, b in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("alpha,beta", [(0.1, 0.9), (2.0, 0.8)])
def test_dinadam_memory_saving_form_reproduces_4_28(alpha, beta, foreach):
    """The two-slot DINAdam (m~, v) follows the recursion (4.28)-(4.29) in
    m = m~ + alpha beta g_{k-1}, with g_{-1} = 0, RMSprop scaling and bias
    correction of the moving average."""
    eta, s1, s2, eps = 0.01, 0.9, 0.99, 1e-8
    ours = run(DINAdam, theta0(), [eta] * 40, alpha=alpha, beta=beta,
               betas=(s1, s2), eps=eps, weight_decay=0.0, foreach=foreach)
    ab = alpha * beta
    theta = theta0()
    m, v, g_prev = 0 * theta, 0 * theta, 0 * theta
    ref = [theta]
    for k in range(1, 41):
        g = grad_at(theta)
        m = s1 * m + (1 - s1) * g + ab * s1 * (g - g_prev)          # (4.28)
        v = s2 * v + (1 - s2) * g ** 2
        m_hat = (m - ab * g) / (1 - s1 ** k) + ab * g
        theta = theta - eta * m_hat / ((v / (1 - s2 ** k)).sqrt() + eps)
        g_prev = g
        ref.append(theta)
    assert_iterates_equal(ours, ref)


@pytest.mark.parametrize("alpha,beta", [(0.1, 0.9), (2.0, 2.0)])
def test_dinadam_moves_against_a_constant_gradient(alpha, beta):
    """A constant gradient g is averaged to g itself: every step is
    -lr g / (|g| + eps). (The sign printed in (4.34) would give
    (1 - 2 alpha beta) g, backwards for alpha beta > 1/2.)"""
    g = torch.tensor([3.0, -0.5, 1e-3], dtype=torch.float64)
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = DINAdam([p], lr=0.1, alpha=alpha, beta=beta, weight_decay=0.0)
    for k in range(1, 6):
        p.grad = g.clone()
        before = p.detach().clone()
        opt.step()
        torch.testing.assert_close(p.detach() - before,
                                   -0.1 * g / (g.abs() + 1e-8),
                                   rtol=1e-12, atol=0)


# -- INNAprop with momentum: thesis 4.17-4.23 ----------------------------

@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("alpha,beta", [(0.1, 0.9), (2.0, 2.0)])
def test_innaprop_momentum_reproduces_4_17_4_19(alpha, beta, foreach):
    """The memory-saving form (4.21)-(4.23) follows the recursion
    (4.17)-(4.19) in m_k = theta_{k-1} - theta_k, with theta at rest
    (m_0 = 0, u_{-1} = 0), constant gamma."""
    gamma, sigma, eps = 0.05, 0.99, 1e-8
    ours = run(INNApropMomentum, theta0(1), [gamma] * 60, alpha=alpha,
               beta=beta, sigma=sigma, eps=eps, weight_decay=0.0,
               foreach=foreach)
    theta = theta0(1)
    m, v, u_prev = 0 * theta, 0 * theta, 0 * theta
    ref = [theta]
    for k in range(1, 61):
        g = grad_at(theta)
        v = sigma * v + (1 - sigma) * g ** 2                        # (4.17)
        u = g / ((v / (1 - sigma ** k)).sqrt() + eps)
        m = ((1 - alpha * gamma) * m + gamma ** 2 * u_prev
             + beta * gamma * (u - u_prev))                          # (4.18)
        theta = theta - m                                            # (4.19)
        u_prev = u
        ref.append(theta)
    # The two forms round differently, and near the minimum the gradient
    # is a cancellation (absolute error ~1e-16 |theta|) that u = g / sqrt(v)
    # divides by sqrt(v) ~ 1e-4: the iterates part by up to ~1e-11 in
    # absolute terms after 60 steps, how much depending on the processor's
    # vector width (1.2e-10 relative on an AVX2 EPYC, within 1e-10 on
    # AVX-512). An error in the algebra moves them by far more.
    assert_iterates_equal(ours, ref, rtol=1e-10, atol=1e-10)


def test_innaprop_momentum_needs_alpha_lr_below_one():
    p = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match=r"lr=0\.5 and alpha=2\.0"):
        INNApropMomentum([p], lr=0.5, alpha=2.0)
    opt = INNApropMomentum([p], lr=0.1, alpha=2.0)
    opt.param_groups[0]["lr"] = 0.6
    p.grad = torch.ones(3)
    with pytest.raises(ValueError, match=r"lr=0\.6 and alpha=2\.0"):
        opt.step()
    assert torch.equal(p.detach(), torch.zeros(3))


# -- SophiaG ------------------------------------------------------------

@pytest.mark.parametrize("foreach", [False, True])
def test_sophia_update_with_a_given_hessian_matches_the_formula(foreach):
    torch.manual_seed(4)
    n, lr, b1, b2, rho, wd, bs = 50, 0.02, 0.9, 0.95, 0.05, 0.1, 8
    p = torch.nn.Parameter(torch.randn(n, dtype=torch.float64))
    opt = SophiaG([p], lr=lr, betas=(b1, b2), rho=rho, weight_decay=wd,
                  foreach=foreach)
    theta, m = p.detach().clone(), torch.zeros(n, dtype=torch.float64)
    h = torch.zeros(n, dtype=torch.float64)
    for k in range(12):
        if k % 4 == 3:
            # A Hessian refresh: g^ from a loss against sampled labels.
            g_hat = torch.randn(n, dtype=torch.float64)
            p.grad = g_hat.clone()
            opt.update_hessian(bs=bs)
            h = b2 * h + (1 - b2) * bs * g_hat * g_hat
            torch.testing.assert_close(opt.state[p]["hessian"], h)
        g = torch.randn(n, dtype=torch.float64)
        p.grad = g.clone()
        opt.step()
        theta = (1 - lr * wd) * theta
        m = b1 * m + (1 - b1) * g
        theta = theta - lr * m.sign() * torch.clamp(
            m.abs() / (rho * h + 1e-15), max=1)
        torch.testing.assert_close(p.detach(), theta, rtol=1e-13, atol=1e-15)
    unclipped = (m.abs() < rho * h)
    assert 0 < unclipped.sum() < n        # the test covers both regimes
    assert opt.win_rate() == pytest.approx(unclipped.double().mean().item())


def test_sophia_clips_everything_before_the_first_refresh():
    """h starts at zero: each coordinate moves by exactly lr, as sign
    descent (the authors' code does the same)."""
    p = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    opt = SophiaG([p], lr=0.01, weight_decay=0.0)
    p.grad = torch.tensor([1.0, -2.0, 1e-6, -1e-9], dtype=torch.float64)
    opt.step()
    torch.testing.assert_close(
        p.detach(), torch.tensor([-0.01, 0.01, -0.01, 0.01],
                                 dtype=torch.float64))
    assert opt.win_rate() == 0.0


# -- Lion -----------------------------------------------------------------

@pytest.mark.parametrize("foreach", [False, True])
def test_lion_follows_its_paper(foreach):
    b1, b2, wd = 0.9, 0.99, 0.5
    lrs = [x / 10 for x in COSINE]
    ours = run(Lion, theta0(3), lrs, betas=(b1, b2), weight_decay=wd,
               foreach=foreach)
    theta, m = theta0(3), torch.zeros(12, dtype=torch.float64)
    ref = [theta]
    for eta in lrs:
        g = grad_at(theta)
        c = b1 * m + (1 - b1) * g
        theta = theta - eta * (torch.sign(c) + wd * theta)
        m = b2 * m + (1 - b2) * g
        ref.append(theta)
    assert_iterates_equal(ours, ref)


# -- NAdamW: AlgoPerf's rule ---------------------------------------------

def algoperf_nadamw(theta, lrs, b1, b2, eps, wd):
    """AlgoPerf's NAdamW (algorithms/baselines/external_tuning/
    pytorch_nadamw_full_budget.py), step t = 1, 2, ...: decay, both moments,
    the look-ahead b1 m + (1 - b1) g, step lr / (1 - b1^t), denominator
    sqrt(v) / sqrt(1 - b2^t) + eps."""
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)
    out = [theta]
    for t, lr in enumerate(lrs, start=1):
        g = grad_at(theta)
        theta = theta * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        d = b1 * m + (1 - b1) * g
        theta = theta - lr / (1 - b1 ** t) * d / (
            v.sqrt() / math.sqrt(1 - b2 ** t) + eps)
        out.append(theta)
    return out


COSINE_60 = [0.02 * 0.5 * (1 + math.cos(math.pi * k / 60)) for k in range(60)]
# AlgoPerf's class defaults, and its self-tuning baseline point with decay
# (algorithms/baselines/self_tuning/pytorch_nadamw_full_budget.py).
NADAMW_SETTINGS = [dict(b1=0.9, b2=0.999, wd=0.0),
                   dict(b1=1 - 0.06733926164, b2=0.9955159689799007,
                        wd=0.08121616522670176)]


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("setting", NADAMW_SETTINGS, ids=["plain", "decay"])
def test_nadamw_follows_algoperf_to_1e_12(setting, foreach):
    b1, b2, wd = setting["b1"], setting["b2"], setting["wd"]
    ours = run(NAdamW, theta0(4), COSINE_60, betas=(b1, b2), eps=1e-8,
               weight_decay=wd, foreach=foreach)
    ref = algoperf_nadamw(theta0(4), COSINE_60, b1, b2, 1e-8, wd)
    assert_iterates_equal(ours, ref, rtol=1e-12, atol=1e-15)


def test_torch_nadam_is_not_algoperf_nadamw():
    """What the nadamw solver used to run: torch's NAdam keeps Dozat's
    momentum schedule and leaves AlgoPerf's iterates far behind."""
    b1, b2, wd = 0.9, 0.999, 0.08
    theirs = run(torch.optim.NAdam, theta0(4), COSINE_60, betas=(b1, b2),
                 weight_decay=wd, decoupled_weight_decay=True)
    ref = algoperf_nadamw(theta0(4), COSINE_60, b1, b2, 1e-8, wd)
    gap = max(((a - b).abs() / b.abs()).max().item()
              for a, b in zip(theirs[1:], ref[1:]))
    assert gap > 0.01


# -- MARS: the authors' rule ----------------------------------------------

def authors_mars(theta, lrs, b1, b2, gamma, eps, wd):
    """MARS-AdamW as AGI-Arena/MARS's update_fn writes it (is_approx=True):
    c_t from the previous gradient, clipped to norm 1, Adam moments of c_t,
    denominator (sqrt(v)/sqrt(bc2) + eps) * bc1, decay lr*wd*theta."""
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)
    last = torch.zeros_like(theta)
    out = [theta]
    for t, lr in enumerate(lrs, start=1):
        g = grad_at(theta)
        c = (g - last) * (gamma * (b1 / (1 - b1))) + g
        if torch.linalg.vector_norm(c) > 1:
            c = c / torch.linalg.vector_norm(c)
        m = b1 * m + (1 - b1) * c
        v = b2 * v + (1 - b2) * c * c
        denom = (v.sqrt() / math.sqrt(1 - b2 ** t) + eps) * (1 - b1 ** t)
        theta = theta - lr * (wd * theta + m / denom)
        last = g
        out.append(theta)
    return out


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("wd,gamma", [(0.0, 0.025), (0.1, 0.5)])
def test_mars_follows_the_authors_update(wd, gamma, foreach):
    """theta0(5) * 3 puts ||c_t|| above 1 for the first steps, so the
    clipping is exercised, then below it."""
    start = theta0(5) * 3
    ours = run(MARS, start, COSINE_60, betas=(0.95, 0.99), gamma=gamma,
               weight_decay=wd, foreach=foreach)
    ref = authors_mars(start, COSINE_60, 0.95, 0.99, gamma, 1e-8, wd)
    assert_iterates_equal(ours, ref, rtol=1e-12, atol=1e-15)


# -- shared behaviour ------------------------------------------------------

def make_model(dtype=torch.float32):
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(),
                               torch.nn.Linear(7, 2)).to(dtype)


def groups(model, **second):
    return [{"params": list(model[0].parameters())},
            {"params": list(model[2].parameters()), "weight_decay": 0.0,
             **second}]


def train(model, opt, steps, seed=0, sched=None):
    gen = torch.Generator().manual_seed(seed)
    for k in range(steps):
        x = torch.randn(16, 5, generator=gen,
                        dtype=next(model.parameters()).dtype)
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
        if isinstance(opt, SophiaG) and k % 3 == 2:
            # Hessian refresh on a pseudo-sampled loss.
            opt.zero_grad()
            (model(x) * torch.randn(16, 2, generator=gen)).sum().backward()
            opt.update_hessian(bs=16)
        if sched is not None:
            sched.step()


OURS = {
    "inna": lambda ps, **kw: INNA(ps, lr=0.05, weight_decay=0.01, **kw),
    "dinadam": lambda ps, **kw: DINAdam(ps, lr=0.01, **kw),
    "innaprop_momentum": lambda ps, **kw: INNApropMomentum(ps, lr=0.01,
                                                           **kw),
    "lion": lambda ps, **kw: Lion(ps, lr=0.003, weight_decay=0.1, **kw),
    "sophia": lambda ps, **kw: SophiaG(ps, lr=0.01, rho=0.02, **kw),
    "nadamw": lambda ps, **kw: NAdamW(ps, lr=0.01, weight_decay=0.1, **kw),
    "mars": lambda ps, **kw: MARS(ps, lr=0.01, weight_decay=0.01, **kw),
}
BASELINES = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9,
                                      nesterov=True, weight_decay=1e-4),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.01),
    "nadam": lambda ps: torch.optim.NAdam(ps, lr=0.01, weight_decay=0.01),
    "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=0.01, momentum=0.9,
                                              weight_decay=0.01),
}


@pytest.mark.parametrize("name", sorted(OURS))
def test_foreach_equals_per_tensor(name):
    ref, fast = make_model(), make_model()
    opt_ref = OURS[name](groups(ref, lr=0.003), foreach=False)
    opt_fast = OURS[name](groups(fast, lr=0.003), foreach=True)
    train(ref, opt_ref, 12)
    train(fast, opt_fast, 12)
    for a, b in zip(ref.parameters(), fast.parameters()):
        assert torch.equal(a, b)
    for p_ref, p_fast in zip(ref.parameters(), fast.parameters()):
        for key, value in opt_ref.state[p_ref].items():
            assert torch.equal(value, opt_fast.state[p_fast][key]), key


def everything():
    out = {k: (lambda f: lambda ps: f(ps))(f) for k, f in OURS.items()}
    out.update(BASELINES)
    return out


@pytest.mark.parametrize("name", sorted(everything()))
def test_state_dict_round_trip_continues_identically(name):
    make = everything()[name]
    model = make_model()
    opt = make(groups(model, lr=0.003))
    sched = torch.optim.lr_scheduler.StepLR(opt, 3, gamma=0.5)
    train(model, opt, 7, seed=0, sched=sched)
    saved = copy.deepcopy((model.state_dict(), opt.state_dict(),
                           sched.state_dict()))
    train(model, opt, 7, seed=1, sched=sched)

    resumed = make_model()
    resumed.load_state_dict(saved[0])
    opt2 = make(groups(resumed, lr=0.5))
    opt2.load_state_dict(saved[1])
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, 3, gamma=0.5)
    sched2.load_state_dict(saved[2])
    train(resumed, opt2, 7, seed=1, sched=sched2)
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("make,bad", [
    (INNA, dict(beta=0.0)), (INNA, dict(alpha=-1.0)),
    (DINAdam, dict(betas=(1.0, 0.9))), (DINAdam, dict(eps=-1.0)),
    (INNApropMomentum, dict(sigma=1.0)), (Lion, dict(betas=(0.9, 1.5))),
    (SophiaG, dict(rho=-0.1)), (SophiaG, dict(weight_decay=-1.0)),
])
def test_invalid_hyperparameters_are_rejected(make, bad):
    name = list(bad)[0]
    with pytest.raises(ValueError, match=name):
        make(make_model().parameters(), **bad)


# -- the Sophia solver's Hessian refresh in the training loop ------------

def load_solver(root, name):
    spec = importlib.util.spec_from_file_location(
        f"solver_{name}", root / "solvers" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Solver


def test_sophia_refreshes_every_k_steps_from_sampled_labels(root):
    from benchmark_utils.models.cifar import SmallCNN
    from benchmark_utils.training.recipe import Recipe
    from benchmark_utils.tasks.image import ClassificationTask

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(100, 1, 8, 8, generator=gen)
    y = torch.randint(0, 4, (100,), generator=gen)
    task = ClassificationTask(
        x[:80], y[:80], x[80:], y[80:], recipe=Recipe(
            batch_size=16, epochs=1, lr=1e-3, weight_decay=0.01),
        build_model=lambda n: SmallCNN(1, n, width=4), n_classes=4)
    solver = load_solver(root, "sophia").get_instance(hessian_interval=2)
    # The trainer benchopt runs: the solver's own lr and decay rules apply.
    solver.set_objective(task, seed=0)
    trainer = solver.trainer
    calls, original = [], trainer.optimizer.update_hessian

    def spy(bs):
        # The gradients are those of the sampled loss, not of the step.
        calls.append((bs, [p.grad.clone()
                           for p in trainer.model.parameters()]))
        original(bs)

    trainer.optimizer.update_hessian = spy
    trainer.train_stage()
    assert trainer.step == 5 and [bs for bs, _ in calls] == [16, 16]
    assert all(p.grad is None for p in trainer.model.parameters())
    assert trainer.optimizer.param_groups[0]["weight_decay"] == 0.02
    win = trainer.progress().optimizer_metrics["win_rate"]
    assert 0 <= win <= 1 and win == trainer.optimizer.win_rate()
    h = torch.cat([trainer.optimizer.state[p]["hessian"].flatten()
                   for p in trainer.model.parameters()])
    expected = 0.01 * 0.99 * 16 * torch.cat(
        [g.flatten() for g in calls[0][1]]) ** 2 + 0.01 * 16 * torch.cat(
        [g.flatten() for g in calls[1][1]]) ** 2
    torch.testing.assert_close(h, expected)


# -- every new solver through benchopt ----------------------------------

NEW_SOLVERS = ["inna", "dinadam", "innaprop_momentum", "sophia", "sgd",
               "adam", "nadam", "rmsprop", "lion"]
# The lr each takes from digits' recipe (AdamW's 1e-3), see their docstrings.
FIRST_LR = {"inna": 0.1, "sgd": 0.1, "lion": 1e-3 / 3}


def test_every_new_solver_trains_digits_to_a_finite_loss(bench):  # noqa: F811
    args = [a for s in NEW_SOLVERS for a in ("-s", s)]
    res = benchopt("run", ".", *args, "-d", "digits[epochs=2]", "--no-plot",
                   "--output", "new", cwd=bench)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    df = read_results(bench, "new")
    df["solver"] = df["solver_name"].str.split("[").str[0]
    assert sorted(df["solver"].unique()) == sorted(NEW_SOLVERS)
    for name, curve in df.groupby("solver"):
        assert np.isfinite(curve["objective_value"]).all(), name
        assert curve["objective_epoch"].max() == 2, name
        assert (curve["objective_diverged"] == 0).all(), name
        assert curve["objective_value"].iloc[-1] < \
            curve["objective_value"].iloc[0], name
        assert curve["objective_lr"].iloc[0] == pytest.approx(
            FIRST_LR.get(name, 1e-3)), name
    win = df.loc[df["solver"] == "sophia", "objective_win_rate"]
    assert win.iloc[1:].between(0, 1).all()
    assert df.loc[df["solver"] != "sophia", "objective_win_rate"].isna().all()


# -- INNAprop's CPU default path ------------------------------------------

def test_innaprop_cpu_slices_give_the_whole_tensor_bits(monkeypatch):
    """The CPU foreach path runs over cache-sized slices: tensors larger
    than a slice are cut, smaller ones batched; the bits are those of the
    same ops on whole tensors."""
    import innaprop.innaprop as innaprop
    from innaprop import INNAprop
    monkeypatch.setattr(innaprop, "CPU_CHUNK", 1024)

    def model():
        torch.manual_seed(5)
        return torch.nn.Sequential(torch.nn.Linear(40, 70), torch.nn.Tanh(),
                                   torch.nn.Linear(70, 3))

    sliced, ref = model(), model()
    calls = []
    original = innaprop._foreach_update
    monkeypatch.setattr(innaprop, "_foreach_update", lambda *a, **k: (
        calls.append(sum(t.numel() for t in a[0])), original(*a, **k)))
    x = torch.randn(8, 40)

    def train4(m, o):
        for _ in range(4):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            o.step()

    train4(sliced, INNAprop(sliced.parameters(), lr=0.01, weight_decay=0.1))
    # 2800 weights: slices of 1024, 1024, 752; then 70 + 210 + 3 batched.
    assert calls[:4] == [1024, 1024, 752, 283]
    # The same foreach ops on whole tensors.
    monkeypatch.setattr(innaprop, "CPU_CHUNK", 1 << 30)
    train4(ref, INNAprop(ref.parameters(), lr=0.01, weight_decay=0.1))
    for a, b in zip(sliced.parameters(), ref.parameters()):
        assert torch.equal(a, b)
