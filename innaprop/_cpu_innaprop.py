"""The fused INNAprop step on the CPU: one C++ call per step updates every
float32 or float64 CPU tensor of a group, reading each parameter, gradient,
``exp_avg_sq`` and ``psi`` element once and writing the parameter,
``exp_avg_sq`` and ``psi`` once (7 memory accesses per element, AdamW's
count), where the foreach path makes about 23.

``INNAprop`` uses it for CPU tensors with ``fused=True``, and by default for
groups of at least ``MIN_NUMEL`` elements. The kernel (csrc/innaprop_cpu.cpp,
plain loops the compiler vectorises) is built at the first use with torch's
own extension builder (``torch.utils.cpp_extension``: a C++ compiler and
ninja), once per machine: later processes load the cached library. The
benchmark's warm-up builds it outside the timed runs. Where it cannot be
built, ``innaprop_step`` returns None with a one-line warning and the caller
runs the foreach path.

Why a hand-written kernel rather than torch.compile's generated C++: the
generated loops are as fast, but called from the optimizer on a group's
hundreds of tensors, the compiled function pays dynamo's guard evaluation
and runtime wrappers at every step, and its first compilation takes longer
than this build. The step is memory-bound and moves as many bytes as
torch's ``AdamW(fused=True)``; it is built with OpenMP, without which
torch's parallel loop runs on one thread. ``benchmarks/optimizer_step.py``
measures it against ``AdamW(fused=True)``.
"""
import hashlib
import os
import platform
import warnings

import torch

# Default use (fused=None) needs a group this large: below it a foreach step
# takes about a millisecond, and a first build would not pay for itself.
MIN_NUMEL = 1 << 20

SOURCE = os.path.join(os.path.dirname(__file__), "csrc", "innaprop_cpu.cpp")
# -march=native: the library is built where it runs (its cache key names
# the processor, below); no FMA contraction, so that each operation rounds
# as torch's own kernels do.
CFLAGS = ["-O3", "-march=native", "-fno-math-errno", "-ffp-contract=off"]
# at::parallel_for is an OpenMP header template in torch's builds: without
# -fopenmp the kernel runs on one thread. The runtime is torch's own
# libgomp, already loaded with libtorch_cpu; the library links no other.
OPENMP = ["-fopenmp"]

__all__ = ["MIN_NUMEL", "load", "innaprop_step", "threads"]

_op = None
_unavailable = None      # why the build failed, once it has


def _processor_tag():
    """A short key for the processor's instruction sets: a build directory
    shared between machines (a cluster's home directory) keeps one library
    per kind of processor."""
    flags = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags += line
                    break
    except OSError:
        pass
    return hashlib.sha256(flags.encode()).hexdigest()[:10]


def _build(suffix, extra_cflags):
    from torch.utils import cpp_extension
    cpp_extension.load(name=f"innaprop_cpu_{_processor_tag()}{suffix}",
                       sources=[SOURCE], extra_cflags=CFLAGS + extra_cflags,
                       is_python_module=False, verbose=False)
    return torch.ops.innaprop_cpu.step


def _first_line(err):
    return f"{type(err).__name__}: {str(err).strip()}".splitlines()[0][:200]


def load():
    """The kernel's op (building it at the first call), or None with a
    one-line warning where it cannot be built. Where the compiler has no
    OpenMP (macOS's clang without libomp), it is built serial, with a
    one-line notice."""
    global _op, _unavailable
    if _op is not None or _unavailable is not None:
        return _op
    try:
        _op = _build("", OPENMP)
        return _op
    except Exception as err:  # noqa: BLE001 (any reason: try it serial)
        parallel_error = err
    try:
        _op = _build("_serial", [])
        warnings.warn(f"INNAprop: the fused CPU step was built without "
                      f"OpenMP ({_first_line(parallel_error)}); it runs on "
                      f"one thread.", RuntimeWarning, stacklevel=2)
    except Exception as err:  # noqa: BLE001 (any reason means: no kernel)
        _unavailable = f"{type(err).__name__}: {str(err).strip()}"
        warnings.warn(f"INNAprop: the fused CPU step could not be built "
                      f"({_first_line(err)}); using the foreach path.",
                      RuntimeWarning, stacklevel=2)
    return _op


def threads(n=1 << 24):
    """How many threads the kernel's loop runs on over ``n`` elements (its
    build's share of torch's thread pool); None where it is unavailable."""
    if load() is None:
        return None
    return torch.ops.innaprop_cpu.threads(n)


def innaprop_step(params, grads, exp_avg_sqs, psis, steps, *, sigma, eps,
                  psi_keep, psi_take, c_theta, c_psi, c_grad):
    """Increment the step counts and update, in one call, the tensors the
    kernel takes (float32 or float64 CPU tensors whose four share one dense
    layout); return the indices of the others, untouched, or None (nothing
    changed) where the kernel is unavailable. After a tensor's step count
    is incremented to k, with b = 1 - sigma**k:

        v     <- sigma v + (1 - sigma) g**2
        psi   <- psi_keep psi + psi_take theta
        theta <- c_theta theta - c_psi psi
                 - c_grad sqrt(b) g / (sqrt(v) + eps sqrt(b))
    """
    op = load()
    if op is None:
        return None
    return op(params, grads, exp_avg_sqs, psis, steps,
              [sigma, psi_keep, psi_take, c_theta, c_psi, eps, c_grad])
