"""The fused INNAprop kernel against the per-tensor reference.

The kernel tests run on CUDA when a GPU is present. Without one,
test_kernel_tests_pass_in_triton_interpreter reruns them in a subprocess
under Triton's interpreter (TRITON_INTERPRET=1 must be set before the kernel
is defined), which executes the same kernel on CPU tensors.
"""
import copy
import importlib.util
import os
import subprocess
import sys

import pytest
import torch

from innaprop import INNAprop

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
HAS_TRITON = importlib.util.find_spec("triton") is not None
DEVICE = ("cuda" if torch.cuda.is_available()
          else "cpu" if INTERPRETED else None)

kernel_test = pytest.mark.skipif(
    DEVICE is None or not HAS_TRITON,
    reason="needs CUDA, or TRITON_INTERPRET=1 (run by "
           "test_kernel_tests_pass_in_triton_interpreter)")


@pytest.fixture(autouse=True)
def triton_on_cpu_tensors(monkeypatch):
    """Under Triton's interpreter, fused=True on CPU tensors runs the
    Triton kernel (production runs the C++ one there)."""
    if INTERPRETED:
        from innaprop import innaprop as module
        monkeypatch.setitem(module.FUSED_STEP, "cpu",
                            module._triton_innaprop)


def block():
    from innaprop._triton_innaprop import BLOCK
    return BLOCK


def make_params(dtype, seed=0):
    """Tensors covering the kernel's cases: tiny, exactly one block, full
    blocks plus a tail, 2-D, channels_last; and two it must leave to the
    foreach ops: a transposed tensor and one at an unaligned address."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype).to(DEVICE)

    b = block()
    tensors = [randn(3), randn(b), randn(2 * b + 5), randn(33, 70),
               randn(6, 4, 3, 3).to(memory_format=torch.channels_last),
               randn(30, 20).t(), randn(101)[1:]]
    return [torch.nn.Parameter(t) for t in tensors]


def groups(params):
    return [{"params": params[:4]},
            {"params": params[4:], "alpha": 2.0, "beta": 2.0, "lr": 0.03,
             "weight_decay": 0.0}]


def train(params, opt, steps, seed=1, skip=None):
    """Steps on random gradients; ``skip`` gets no gradient at step 0, so
    that its step count lags the others'."""
    gen = torch.Generator().manual_seed(seed)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.9 ** k)
    for k in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype).to(
                DEVICE).as_strided(p.shape, p.stride())
        if k == 0 and skip is not None:
            skip.grad = None
        opt.step()
        sched.step()


TOLERANCE = {torch.float64: dict(rtol=1e-12, atol=1e-14),
             torch.float32: dict(rtol=2e-6, atol=1e-7)}


@kernel_test
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_equals_reference(dtype):
    fused_params, ref_params = make_params(dtype), make_params(dtype)
    fused = INNAprop(groups(fused_params), lr=0.01, weight_decay=0.1,
                     fused=True)
    ref = INNAprop(groups(ref_params), lr=0.01, weight_decay=0.1,
                   foreach=False)
    train(fused_params, fused, 8, skip=fused_params[2])
    train(ref_params, ref, 8, skip=ref_params[2])
    for p, q in zip(fused_params, ref_params):
        assert p.stride() == q.stride()
        torch.testing.assert_close(p, q, **TOLERANCE[dtype])
        for key in ("exp_avg_sq", "psi"):
            torch.testing.assert_close(fused.state[p][key],
                                       ref.state[q][key], **TOLERANCE[dtype])
        assert torch.equal(fused.state[p]["step"], ref.state[q]["step"])
        assert fused.state[p]["step"].is_cpu
    assert fused.state[fused_params[2]]["step"].item() == 7


@kernel_test
def test_kernel_covers_the_dense_tensors():
    """The dense, aligned tensors go to the kernel, the others to foreach."""
    from innaprop import _triton_innaprop as kernel
    params = make_params(torch.float32)
    states = [torch.zeros_like(p, memory_format=torch.preserve_format)
              for p in params]
    grads = [torch.zeros_like(p, memory_format=torch.preserve_format)
             for p in params]
    ok, rest = kernel.split_supported(params, grads, states, states)
    assert ok == [0, 1, 2, 3, 4] and rest == [5, 6]


@kernel_test
def test_fused_state_dict_round_trip_continues_identically():
    params = make_params(torch.float32)
    opt = INNAprop(groups(params), lr=0.01, fused=True)
    train(params, opt, 3, seed=0)
    saved = copy.deepcopy(([p.detach() for p in params], opt.state_dict()))
    train(params, opt, 3, seed=1)

    resumed = make_params(torch.float32)
    with torch.no_grad():
        for p, value in zip(resumed, saved[0]):
            p.copy_(value)
    opt2 = INNAprop(groups(resumed), lr=0.01, fused=True)
    opt2.load_state_dict(saved[1])
    train(resumed, opt2, 3, seed=1)
    for a, b in zip(params, resumed):
        assert torch.equal(a, b)
    assert all(s["step"].is_cpu for s in opt2.state.values())


@kernel_test
def test_fused_bf16_follows_the_float32_reference():
    """bfloat16 tensors, float32 arithmetic: given the same gradients, the
    fused bfloat16 step stays within one bfloat16 rounding per step (2**-8
    of the largest value) of the float32 reference."""
    gen = torch.Generator().manual_seed(0)
    low = [torch.nn.Parameter((0.1 * torch.randn(s, generator=gen)).to(
        DEVICE, torch.bfloat16)) for s in [(256, 64), (256,), (3000,)]]
    high = [torch.nn.Parameter(p.detach().float()) for p in low]
    start = [p.detach().clone() for p in high]
    fused = INNAprop(low, lr=0.02, weight_decay=0.1, fused=True)
    ref = INNAprop(high, lr=0.02, weight_decay=0.1, foreach=False)
    steps = 8
    for _ in range(steps):
        for p, q in zip(low, high):
            g = torch.randn(p.shape, generator=gen).to(DEVICE, torch.bfloat16)
            p.grad, q.grad = g, g.float()
        fused.step()
        ref.step()
    for a, b, b0 in zip(low, high, start):
        bound = steps * 2 ** -8 * b.abs().max().item()
        torch.testing.assert_close(a.float(), b, rtol=0, atol=bound)
        assert (b - b0).abs().max() > 5 * bound     # it moved further


def test_fused_on_a_device_without_a_kernel_is_a_clear_error():
    # CUDA has the Triton kernel, the CPU the C++ one (test_cpu_fused).
    p = torch.nn.Parameter(torch.zeros(3, device="meta"))
    with pytest.raises(ValueError, match="fused=True.*CUDA and CPU.*meta"):
        INNAprop([p], fused=True)


def test_fused_and_foreach_together_are_rejected():
    p = torch.nn.Parameter(torch.zeros(3, device=DEVICE or "cpu"))
    with pytest.raises(ValueError, match="fused=True and foreach=True"):
        INNAprop([p], fused=True, foreach=True)


@pytest.mark.skipif(DEVICE is not None or not HAS_TRITON,
                    reason="the kernel tests run directly here")
def test_kernel_tests_pass_in_triton_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1")
    res = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p",
         "no:cacheprovider", "-k",
         "fused_equals or covers or round_trip or bf16"],
        env=env, capture_output=True, text=True, timeout=600,
        cwd=os.path.dirname(os.path.dirname(__file__)))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "5 passed" in res.stdout, res.stdout[-1000:]
