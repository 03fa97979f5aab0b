"""INNAprop against the mathematics of the thesis (chapter 4)."""
import copy
import math

import pytest
import torch

from innaprop import INNAprop


def loss_fn(theta):
    # Smooth, non-quadratic, coordinates coupled.
    a = torch.arange(1, theta.numel() + 1, dtype=theta.dtype) / theta.numel()
    return 0.5 * (a * theta ** 2).sum() + torch.log(torch.cosh(
        theta - 0.3)).sum() + 0.1 * theta.sum() ** 2


def grad_at(theta):
    t = theta.detach().clone().requires_grad_(True)
    loss_fn(t).backward()
    return t.grad


def run_innaprop(theta0, steps, lrs=None, **hp):
    """Iterates theta_0..theta_K and gradients g_0..g_{K-1}."""
    p = torch.nn.Parameter(theta0.clone())
    opt = INNAprop([p], **hp)
    thetas, grads = [p.detach().clone()], []
    for k in range(steps):
        if lrs is not None:
            opt.param_groups[0]["lr"] = lrs[k]
        opt.zero_grad()
        loss_fn(p).backward()
        grads.append(p.grad.detach().clone())
        opt.step()
        thetas.append(p.detach().clone())
    return thetas, grads


def scaled_gradients(grads, sigma, eps):
    """u_k = g_k / (sqrt(v_hat_{k+1}) + eps), v with bias correction."""
    v = torch.zeros_like(grads[0])
    out = []
    for k, g in enumerate(grads):
        v = sigma * v + (1 - sigma) * g ** 2
        v_hat = v / (1 - sigma ** (k + 1))
        out.append(g / (v_hat.sqrt() + eps))
    return out


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("alpha,beta", [(0.1, 0.9), (2.0, 2.0), (0.5, 0.1)])
def test_mechanical_discretization_4_11(alpha, beta, foreach):
    """The 3-slot recursion satisfies (4.11) along its own iterates, and the
    first step is theta_1 = theta_0 - gamma beta u_0 (float64)."""
    torch.manual_seed(0)
    theta0 = torch.randn(20, dtype=torch.float64)
    gamma, sigma, eps = 0.05, 0.99, 1e-8
    thetas, grads = run_innaprop(theta0, 60, lr=gamma, alpha=alpha,
                                 beta=beta, sigma=sigma, eps=eps,
                                 weight_decay=0.0, foreach=foreach)
    u = scaled_gradients(grads, sigma, eps)

    torch.testing.assert_close(thetas[1], thetas[0] - gamma * beta * u[0],
                               rtol=1e-14, atol=1e-14)
    for k in range(1, 59):
        terms = [
            (thetas[k + 1] - 2 * thetas[k] + thetas[k - 1]) / gamma ** 2,
            alpha * (thetas[k] - thetas[k - 1]) / gamma,
            beta * (u[k] - u[k - 1]) / gamma,
            u[k - 1],
        ]
        residual = sum(terms).abs().max()
        scale = max(t.abs().max() for t in terms)
        assert residual <= 1e-10 * scale, (k, residual, scale)


def algorithm3(theta0, grad_fn, lrs, alpha, beta, sigma, eps, wd):
    """Thesis Algorithm 3, transcribed line by line in float64."""
    theta = theta0.clone()
    v = torch.zeros_like(theta)
    psi = (1 - alpha * beta) * theta
    out = [theta.clone()]
    for k, gamma in enumerate(lrs, start=1):
        g = grad_fn(theta)                                    # line 7
        theta = (1 - wd * gamma) * theta                      # line 9
        v = sigma * v + (1 - sigma) * g ** 2                  # line 10
        v_hat = v / (1 - sigma ** k)                          # line 11
        psi = (1 - gamma / beta) * psi + gamma * (1 / beta - alpha) * theta
        theta = ((1 + gamma * (1 - alpha * beta) / (beta - gamma)) * theta
                 - gamma / (beta - gamma) * psi
                 - gamma * beta * g / (v_hat.sqrt() + eps))   # line 13
        out.append(theta.clone())
    return out


@pytest.mark.parametrize("foreach", [False, True])
def test_matches_algorithm3_with_schedule_and_decay(foreach):
    torch.manual_seed(1)
    theta0 = torch.randn(15, dtype=torch.float64)
    lrs = [0.02 * 0.5 * (1 + math.cos(math.pi * k / 40)) for k in range(40)]
    hp = dict(alpha=0.5, beta=1.5, sigma=0.95, eps=1e-8, weight_decay=0.1)
    ours, _ = run_innaprop(theta0, 40, lrs=lrs, lr=lrs[0], foreach=foreach,
                           **hp)
    ref = algorithm3(theta0, grad_at, lrs, hp["alpha"], hp["beta"],
                     hp["sigma"], hp["eps"], hp["weight_decay"])
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_alpha_beta_one_is_adamw_without_momentum(weight_decay, foreach):
    """Remark 13: INNAprop(alpha=beta=1) == AdamW(betas=(0, sigma))."""
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(),
                                torch.nn.Linear(8, 3)).double()
    twin = copy.deepcopy(model)
    ours = INNAprop(model.parameters(), lr=0.01, alpha=1.0, beta=1.0,
                    sigma=0.99, weight_decay=weight_decay, foreach=foreach)
    adamw = torch.optim.AdamW(twin.parameters(), lr=0.01, betas=(0.0, 0.99),
                              weight_decay=weight_decay)
    scheds = [torch.optim.lr_scheduler.CosineAnnealingLR(o, 30)
              for o in (ours, adamw)]
    x = torch.randn(32, 6, dtype=torch.float64)
    y = torch.randint(0, 3, (32,))
    for _ in range(30):
        for m, opt in ((model, ours), (twin, adamw)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
        for s in scheds:
            s.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def train(model, opt, steps, seed=0, sched=None):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(16, 5, generator=gen, dtype=next(
            model.parameters()).dtype)
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
        if sched is not None:
            sched.step()


def make_model(dtype=torch.float32):
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(),
                               torch.nn.Linear(7, 2)).to(dtype)


def groups(model):
    # Two groups with different hyperparameters, and a frozen-grad tensor.
    return [{"params": list(model[0].parameters())},
            {"params": list(model[2].parameters()), "alpha": 2.0,
             "beta": 2.0, "lr": 0.03, "weight_decay": 0.0}]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_foreach_equals_per_tensor(dtype):
    ref, fast = make_model(dtype), make_model(dtype)
    opt_ref = INNAprop(groups(ref), lr=0.01, weight_decay=0.1, foreach=False)
    opt_fast = INNAprop(groups(fast), lr=0.01, weight_decay=0.1,
                        foreach=True)
    train(ref, opt_ref, 25)
    train(fast, opt_fast, 25)
    # The foreach path folds the decay and the bias correction into its
    # scalars: equal to the reference up to rounding.
    tol = (dict(rtol=1e-12, atol=1e-14) if dtype == torch.float64
           else dict(rtol=1e-5, atol=1e-6))
    for a, b in zip(ref.parameters(), fast.parameters()):
        torch.testing.assert_close(a, b, **tol)
    for p_ref, p_fast in zip(ref.parameters(), fast.parameters()):
        for key in ("exp_avg_sq", "psi", "step"):
            torch.testing.assert_close(opt_ref.state[p_ref][key],
                                       opt_fast.state[p_fast][key], **tol)


def test_default_path_is_foreach(monkeypatch):
    import innaprop.innaprop as mod
    calls, original = [], mod._multi_tensor_innaprop

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(mod, "_multi_tensor_innaprop", spy)
    model = make_model()
    train(model, INNAprop(model.parameters()), 2)
    assert len(calls) == 2


def test_param_groups_have_their_own_hyperparameters():
    """One optimizer with two groups == two optimizers, one per group."""
    joint, split = make_model(), make_model()
    opt = INNAprop(groups(joint), lr=0.01)
    g = groups(split)
    opt_a = INNAprop(g[0]["params"], lr=0.01)
    opt_b = INNAprop(g[1]["params"], lr=0.03, alpha=2.0, beta=2.0,
                     weight_decay=0.0)

    class Both:
        def zero_grad(self):
            opt_a.zero_grad(), opt_b.zero_grad()

        def step(self):
            opt_a.step(), opt_b.step()

    train(joint, opt, 10)
    train(split, Both(), 10)
    for a, b in zip(joint.parameters(), split.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("foreach", [False, True])
def test_state_dict_round_trip_continues_identically(foreach):
    model = make_model()
    opt = INNAprop(groups(model), lr=0.01, foreach=foreach)
    sched = torch.optim.lr_scheduler.StepLR(opt, 3, gamma=0.5)
    train(model, opt, 7, seed=0, sched=sched)
    saved = (copy.deepcopy(model.state_dict()),
             copy.deepcopy(opt.state_dict()),
             copy.deepcopy(sched.state_dict()))
    assert set(opt.state_dict()["state"][0]) == {"step", "exp_avg_sq", "psi"}
    train(model, opt, 7, seed=1, sched=sched)

    resumed = make_model()
    resumed.load_state_dict(saved[0])
    opt2 = INNAprop(groups(resumed), lr=0.5, foreach=foreach)
    opt2.load_state_dict(saved[1])
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, 3, gamma=0.5)
    sched2.load_state_dict(saved[2])
    train(resumed, opt2, 7, seed=1, sched=sched2)
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_loads_state_with_plain_number_steps():
    """State dicts with a float step (older torch, other code) load."""
    model = make_model()
    opt = INNAprop(model.parameters(), lr=0.01)
    train(model, opt, 3)
    sd = copy.deepcopy(opt.state_dict())
    for s in sd["state"].values():
        s["step"] = float(s["step"])
    for g in sd["param_groups"]:
        del g["foreach"]
    opt2 = INNAprop(make_model().parameters(), lr=0.01)
    opt2.load_state_dict(sd)
    assert all(torch.is_tensor(s["step"]) for s in opt2.state.values())
    train(make_model(), opt2, 1)  # steps without error


def test_lr_not_below_beta_is_rejected_by_constructor():
    with pytest.raises(ValueError, match=r"lr=1\.0 and beta=0\.9"):
        INNAprop(make_model().parameters(), lr=1.0, beta=0.9)
    with pytest.raises(ValueError, match=r"lr=0\.9 and beta=0\.9"):
        INNAprop(make_model().parameters(), lr=0.9, beta=0.9)
    opt = INNAprop(make_model()[0].parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"lr=3\.0 and beta=2\.0"):
        opt.add_param_group({"params": make_model()[2].parameters(),
                             "lr": 3.0, "beta": 2.0})


def test_scheduler_pushing_lr_past_beta_raises_before_any_change():
    model = make_model()
    opt = INNAprop(groups(model), lr=0.5, beta=0.9)
    # Doubles every group's lr: group 0 reaches 1.0 >= 0.9 (group 1: 0.06).
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 2.0 ** k)
    train(model, opt, 1, sched=sched)
    before = [p.detach().clone() for p in model.parameters()]
    state_before = copy.deepcopy(opt.state_dict())
    with pytest.raises(ValueError, match=r"lr=1\.0 and beta=0\.9"):
        train(model, opt, 1)
    for a, b in zip(before, model.parameters()):
        assert torch.equal(a, b)
    assert all(torch.equal(s["step"], state_before["state"][i]["step"])
               for i, s in enumerate(opt.state_dict()["state"].values()))


@pytest.mark.parametrize("bad", [dict(sigma=1.0), dict(sigma=-0.1),
                                 dict(beta=0.0), dict(alpha=-1.0),
                                 dict(eps=-1.0), dict(weight_decay=-0.1),
                                 dict(lr=-1e-3)])
def test_invalid_hyperparameters_are_rejected(bad):
    with pytest.raises(ValueError, match=list(bad)[0]):
        INNAprop(make_model().parameters(), **bad)


def test_psi_starts_at_one_minus_alpha_beta_theta():
    model = make_model()
    theta0 = [p.detach().clone() for p in model.parameters()]
    opt = INNAprop(model.parameters(), lr=0.01, alpha=0.3, beta=0.5,
                   weight_decay=0.2)
    # First step with zero gradients: psi_1 = psi_0 exactly (shown in the
    # first-step identity), decay applied to theta only.
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for p, t0 in zip(model.parameters(), theta0):
        lam_theta = (1 - 0.01 * 0.2) * t0
        expected_psi = (1 - 0.01 / 0.5) * (0.85 * t0) \
            + 0.01 * (1 / 0.5 - 0.3) * lam_theta
        torch.testing.assert_close(opt.state[p]["psi"], expected_psi)


@pytest.mark.parametrize("foreach", [False, True])
def test_parameters_without_gradient_are_left_alone(foreach):
    """A tensor with no gradient at a step is not updated and its state
    does not advance, at the first steps as later (the foreach path caches
    its state lists while every parameter has a gradient)."""
    model = make_model(torch.float64)
    opt = INNAprop(model.parameters(), lr=0.01, foreach=foreach)
    x = torch.randn(8, 5, dtype=torch.float64)
    frozen = model[2].weight
    for k in range(6):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        if k in (0, 3):
            frozen.grad = None
        before = frozen.detach().clone()
        opt.step()
        assert torch.equal(before, frozen) == (k in (0, 3))
    assert opt.state[frozen]["step"].item() == 4
    assert opt.state[model[0].weight]["step"].item() == 6
