"""INNAprop's fused CPU step (innaprop/_cpu_innaprop.py, a C++ kernel built
at its first use) against the per-tensor reference, its default use on
large CPU groups, and its fallback where it cannot be built."""
import copy
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from innaprop import INNAprop, _cpu_innaprop

# Its module fixture runs once: its tests stay on one xdist worker.
pytestmark = pytest.mark.xdist_group("cpu_fused")

@pytest.fixture(scope="module")
def kernel():
    if _cpu_innaprop.load() is None:
        pytest.skip("the C++ kernel could not be built here (no compiler or "
                    "ninja); test_a_failed_build_falls_back covers that case")


def make_params(dtype, seed=0):
    """Sizes around the vector width and the kernel's grain, 2-D and
    channels_last tensors, and two the kernel must leave to the foreach
    ops: a transposed tensor (its gradient has another layout) and a
    bfloat16 one (in its own group)."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape, dt=dtype):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dt)

    tensors = [randn(3), randn(17), randn(40000), randn(33, 70),
               randn(6, 4, 3, 3).to(memory_format=torch.channels_last),
               randn(30, 20).t()]
    return [torch.nn.Parameter(t) for t in tensors]


def groups(params):
    return [{"params": params[:3]},
            {"params": params[3:], "alpha": 2.0, "beta": 2.0, "lr": 0.03,
             "weight_decay": 0.0}]


def train(params, opt, steps, seed=1, skip=None):
    """Steps on random gradients under a schedule; ``skip`` gets no
    gradient at step 0, so that its step count lags the others'. Gradients
    take their parameter's layout, as autograd's, except the transposed
    parameter's, which gets a contiguous one."""
    gen = torch.Generator().manual_seed(seed)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.9 ** k)
    for k in range(steps):
        for p in params:
            g = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.grad = g.to(p.dtype).contiguous(
                memory_format=torch.channels_last if p.dim() == 4
                else torch.contiguous_format)
        if k == 0 and skip is not None:
            skip.grad = None
        opt.step()
        sched.step()


TOLERANCE = {torch.float64: dict(rtol=1e-12, atol=1e-15),
             torch.float32: dict(rtol=2e-6, atol=1e-7)}


def assert_same(opt, params, ref, ref_params, dtype):
    for p, q in zip(params, ref_params):
        torch.testing.assert_close(p, q, **TOLERANCE[dtype])
        for key in ("exp_avg_sq", "psi"):
            torch.testing.assert_close(opt.state[p][key], ref.state[q][key],
                                       **TOLERANCE[dtype])
        assert torch.equal(opt.state[p]["step"], ref.state[q]["step"])
        assert opt.state[p]["step"].is_cpu


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_cpu_step_equals_the_reference(kernel, dtype, monkeypatch):
    calls = []
    step = _cpu_innaprop.innaprop_step

    def spy(*args, **kwargs):
        rest = step(*args, **kwargs)
        calls.append((len(args[0]), rest))
        return rest
    monkeypatch.setattr(_cpu_innaprop, "innaprop_step", spy)
    params, ref_params = make_params(dtype), make_params(dtype)
    opt = INNAprop(groups(params), lr=0.01, weight_decay=0.1, fused=True)
    ref = INNAprop(groups(ref_params), lr=0.01, weight_decay=0.1,
                   foreach=False)
    train(params, opt, 6, skip=params[1])
    train(ref_params, ref, 6, skip=ref_params[1])
    assert_same(opt, params, ref, ref_params, dtype)
    assert opt.state[params[1]]["step"].item() == 5
    # The kernel took every tensor but the transposed one, every step.
    assert (3, []) in calls and (3, [2]) in calls
    assert all(rest in ([], [2]) for _, rest in calls)


def test_low_precision_and_odd_layouts_take_the_foreach_path(kernel):
    """bfloat16 is not the kernel's: it follows the foreach path, as
    INNAprop(foreach=True) on the same tensors."""
    def make():
        gen = torch.Generator().manual_seed(3)
        return [torch.nn.Parameter(torch.randn(50, generator=gen).bfloat16()),
                torch.nn.Parameter(torch.randn(8, 9, generator=gen).t())]
    a, b = make(), make()
    fused = INNAprop(a, lr=0.01, fused=True)
    foreach = INNAprop(b, lr=0.01, foreach=True)
    for _ in range(3):
        for p, q in zip(a, b):
            p.grad = torch.ones_like(p).contiguous()
            q.grad = p.grad.clone()
        fused.step()
        foreach.step()
    for p, q in zip(a, b):
        assert torch.equal(p, q)


def test_the_default_takes_the_kernel_for_large_cpu_groups(kernel,
                                                           monkeypatch):
    calls = []
    step = _cpu_innaprop.innaprop_step
    monkeypatch.setattr(_cpu_innaprop, "innaprop_step",
                        lambda *a, **k: calls.append(1) or step(*a, **k))
    small = [torch.nn.Parameter(torch.randn(1000))]
    small[0].grad = torch.randn(1000)
    INNAprop(small).step()
    assert calls == []                      # below MIN_NUMEL: foreach
    monkeypatch.setattr(_cpu_innaprop, "MIN_NUMEL", 1000)
    INNAprop(small).step()
    assert calls == [1]
    INNAprop(small, foreach=True).step()    # an explicit choice is kept
    INNAprop(small, fused=False).step()
    assert calls == [1]


def load_solver(root, name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        f"cpu_fused_solver_{name}", root / "solvers" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Solver


def test_the_solvers_fused_false_never_runs_a_fused_kernel(kernel, root,
                                                           monkeypatch):
    """innaprop[fused=False] on a group large enough for the default to
    take the kernel: never fused; innaprop's default: fused."""
    calls = []
    step = _cpu_innaprop.innaprop_step
    monkeypatch.setattr(_cpu_innaprop, "innaprop_step",
                        lambda *a, **k: calls.append(1) or step(*a, **k))
    solver = load_solver(root, "innaprop")
    big = [torch.nn.Parameter(torch.zeros(_cpu_innaprop.MIN_NUMEL))]
    big[0].grad = torch.ones_like(big[0])
    for fused, expected in ((False, []), (None, [1])):
        s = solver.get_instance(fused=fused)
        s.make_optimizer([{"params": big, "weight_decay": 0.0}], 1e-3, 0.0,
                         run=None).step()
        assert calls == expected, fused


def test_triton_interpret_changes_nothing_outside_tests(kernel,
                                                        monkeypatch):
    """TRITON_INTERPRET set: fused=True on CPU tensors still runs the C++
    kernel, never Triton's."""
    import innaprop.innaprop as module
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    calls = []
    step = _cpu_innaprop.innaprop_step
    monkeypatch.setattr(_cpu_innaprop, "innaprop_step",
                        lambda *a, **k: calls.append(1) or step(*a, **k))
    monkeypatch.setitem(module.FUSED_STEP, "cuda", None)  # never reached
    p = torch.nn.Parameter(torch.zeros(100))
    p.grad = torch.ones(100)
    INNAprop([p], fused=True).step()
    assert calls == [1]


def test_fused_cpu_state_dict_round_trip_continues_identically(kernel):
    params = make_params(torch.float32)
    opt = INNAprop(groups(params), lr=0.01, fused=True)
    train(params, opt, 3)
    resumed = copy.deepcopy(params)
    opt2 = INNAprop(groups(resumed), lr=0.01, fused=True)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    train(params, opt, 3, seed=7)
    train(resumed, opt2, 3, seed=7)
    for p, q in zip(params, resumed):
        assert torch.equal(p, q)


def run_with_compiler(script, compiler, tmp_path):
    """Stdout of ``script`` run in a fresh process with ``CXX=compiler`` and
    an empty extension directory (so that it builds, or fails to)."""
    env = dict(os.environ, CXX=str(compiler),
               TORCH_EXTENSIONS_DIR=str(tmp_path / "extensions"))
    res = subprocess.run([sys.executable, "-c", script], env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res.stdout


def test_a_failed_build_falls_back_with_one_warning(tmp_path):
    """No compiler: the kernel's build fails, one warning says so, and the
    steps are the foreach path's (run in a fresh process, whose extension
    directory holds no earlier build)."""
    script = textwrap.dedent("""
        import warnings
        import torch
        from innaprop import INNAprop
        def make():
            p = torch.nn.Parameter(torch.arange(6.0))
            p.grad = torch.full((6,), 0.5)
            return p
        a, b = make(), make()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fused = INNAprop([a], lr=0.01, fused=True)
            for _ in range(3):
                fused.step()
        ref = INNAprop([b], lr=0.01, foreach=True)
        for _ in range(3):
            ref.step()
        assert torch.equal(a, b), (a, b)
        notes = [str(w.message) for w in caught
                 if "fused CPU step" in str(w.message)]
        assert len(notes) == 1 and "foreach path" in notes[0], notes
        print("FELL BACK:", notes[0])
    """)
    out = run_with_compiler(script, tmp_path / "no-such-compiler", tmp_path)
    assert "FELL BACK: INNAprop: the fused CPU step could not be built" in out


def test_the_kernel_runs_on_every_thread_of_torch(kernel):
    """The kernel's parallel loop is an OpenMP template of torch's headers:
    built without OpenMP it runs on one thread (which the first build did,
    at half the speed). Large tensors must take every thread torch has
    (two here, whatever share of the cores this test process was given)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert _cpu_innaprop.threads(1 << 24) == 2
        # Below the grain, one thread: waking the others would cost more.
        assert _cpu_innaprop.threads(1000) == 1
    finally:
        torch.set_num_threads(before)


def test_a_compiler_without_openmp_builds_a_serial_kernel(tmp_path):
    """A compiler that refuses -fopenmp: the kernel is built without it,
    one warning says it runs on one thread, and its steps still equal the
    per-tensor reference (a fresh process and extension directory)."""
    compiler = tmp_path / "c++-without-openmp"
    compiler.write_text(textwrap.dedent("""\
        #!/bin/sh
        for arg in "$@"; do
          if [ "$arg" = "-fopenmp" ]; then
            echo "unsupported option '-fopenmp'" >&2; exit 1
          fi
        done
        exec c++ "$@"
    """))
    compiler.chmod(0o755)
    script = textwrap.dedent("""
        import warnings
        import torch
        from innaprop import INNAprop, _cpu_innaprop
        def make():
            gen = torch.Generator().manual_seed(0)
            p = torch.nn.Parameter(torch.randn(70000, dtype=torch.float64,
                                               generator=gen))
            p.grad = torch.randn(70000, dtype=torch.float64, generator=gen)
            return p
        a, b = make(), make()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fused = INNAprop([a], lr=0.01, weight_decay=0.1, fused=True)
            for _ in range(3):
                fused.step()
        ref = INNAprop([b], lr=0.01, weight_decay=0.1, foreach=False)
        for _ in range(3):
            ref.step()
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
        notes = [str(w.message) for w in caught
                 if "fused CPU step" in str(w.message)]
        assert len(notes) == 1 and "one thread" in notes[0], notes
        assert _cpu_innaprop.threads() == 1
        print("SERIAL:", notes[0])
    """)
    out = run_with_compiler(script, compiler, tmp_path)
    assert "SERIAL: INNAprop: the fused CPU step was built without OpenMP" \
        in out
