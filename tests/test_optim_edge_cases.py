"""Edge cases of the optimizers found by trying to break them: complex
parameters, maximize, older state dicts, the authors' Sophia state dicts."""
import copy

import pytest
import torch

from innaprop import (INNA, MARS, DINAdam, INNAprop, INNApropMomentum, Lion,
                      NAdamW, SophiaG)

ALL = [INNAprop, INNA, DINAdam, INNApropMomentum, Lion, SophiaG, NAdamW, MARS]
KW = {INNAprop: {}, INNA: dict(lr=1e-2), DINAdam: {},
      INNApropMomentum: {}, Lion: {}, SophiaG: {}, NAdamW: {}, MARS: {}}


def grads_sequence(shape, n, dtype=torch.float64):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(shape, generator=gen, dtype=dtype) for _ in range(n)]


def run(cls, p, grads, **kw):
    opt = cls([p], **{**KW[cls], **kw})
    for g in grads:
        p.grad = g.clone()
        opt.step()
        if cls is SophiaG:
            opt.update_hessian(bs=8)
    return p.detach()


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("foreach", [False, True])
def test_complex_parameters_are_pairs_of_reals(cls, foreach):
    """As torch.optim.AdamW: a complex tensor updates as its real view."""
    torch.manual_seed(0)
    z = torch.randn(4, 3, dtype=torch.complex128)
    real_grads = grads_sequence((4, 3, 2), 5)
    zc = run(cls, z.clone().requires_grad_(True),
             [torch.view_as_complex(g) for g in real_grads], foreach=foreach)
    zr = run(cls, torch.view_as_real(z).clone().requires_grad_(True),
             real_grads, foreach=foreach)
    torch.testing.assert_close(torch.view_as_real(zc), zr, rtol=0, atol=0)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_maximize_equals_minimizing_the_negation(cls):
    p0 = torch.randn(6, 2, dtype=torch.float64,
                     generator=torch.Generator().manual_seed(1))
    grads = grads_sequence((6, 2), 4)
    up = run(cls, p0.clone().requires_grad_(True), grads, maximize=True)
    down = run(cls, p0.clone().requires_grad_(True), [-g for g in grads])
    torch.testing.assert_close(up, down, rtol=0, atol=0)
    assert not torch.equal(up, p0)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_maximize_survives_a_state_dict_round_trip(cls):
    p = torch.randn(5, dtype=torch.float64, requires_grad=True)
    opt = cls([p], maximize=True, **KW[cls])
    p.grad = torch.ones_like(p)
    opt.step()
    q = p.detach().clone().requires_grad_(True)
    loaded = cls([q], **KW[cls])
    loaded.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert loaded.param_groups[0]["maximize"] is True
    for o, t in ((opt, p), (loaded, q)):
        t.grad = torch.full_like(t, 0.5)
        o.step()
    assert torch.equal(p, q)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_a_state_dict_with_integer_steps_loads_and_steps(cls):
    """Older torch optimizers and the authors' DINAdam store int steps."""
    p = torch.randn(5, dtype=torch.float64, requires_grad=True)
    opt = cls([p], **KW[cls])
    p.grad = torch.ones_like(p)
    opt.step()
    state = copy.deepcopy(opt.state_dict())
    for s in state["state"].values():
        if "step" in s:
            s["step"] = int(s["step"].item())
    q = p.detach().clone().requires_grad_(True)
    loaded = cls([q], **KW[cls])
    loaded.load_state_dict(state)
    for o, t in ((opt, p), (loaded, q)):
        t.grad = torch.full_like(t, 0.5)
        o.step()
    torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert all(torch.is_tensor(s["step"]) for s in loaded.state.values()
               if "step" in s)


def official_sophia_state(opt, bs):
    """A state dict as the authors' SophiaG writes it: the same moments, the
    Hessian without the factor bs, and their group flags."""
    state = copy.deepcopy(opt.state_dict())
    for s in state["state"].values():
        s["hessian"] = s["hessian"] / bs
    for g in state["param_groups"]:
        g.pop("foreach")
        g.update(capturable=False, maximize=False)
    return state


def test_the_authors_sophia_state_dict_is_refused_then_converted():
    torch.manual_seed(0)
    p = torch.randn(200, requires_grad=True)
    opt = SophiaG([p], rho=0.04)
    for _ in range(3):
        p.grad = torch.randn_like(p)
        opt.update_hessian(bs=64)
        opt.step()
    official = official_sophia_state(opt, bs=64)
    q = p.detach().clone().requires_grad_(True)
    loaded = SophiaG([q], rho=0.04)
    with pytest.raises(ValueError, match="load_official_state_dict"):
        loaded.load_state_dict(official)
    loaded.load_official_state_dict(official, bs=64)
    assert loaded.win_rate() == pytest.approx(opt.win_rate())
    assert 0 < opt.win_rate() < 1
    for o, t in ((opt, p), (loaded, q)):
        t.grad = torch.full_like(t, 0.1)
        o.step()
    torch.testing.assert_close(p, q)
