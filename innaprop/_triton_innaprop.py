"""The fused INNAprop step: one Triton kernel launch per bucket of tensors.

``INNAprop(..., fused=True)`` imports this module at its first step. The
kernel reads each parameter, gradient, ``exp_avg_sq`` and ``psi`` element
once and writes the parameter, ``exp_avg_sq`` and ``psi`` once: 7 memory
accesses per parameter, the least INNAprop's update allows, where the
foreach path makes about 23 (AdamW's, 22).

All the tensors of a bucket (same device, dtype and step) go to a single
launch. Small int64 tables give, per tensor, its four data pointers and its
size, and per program, the tensor and the offset of the BLOCK elements it
updates. Both tables are cached, keyed by the tensors' addresses and sizes, and
rebuilt (and copied to the device without a host sync) only when these
change: a step's host work is little more than reading the addresses and
launching the kernel. The step's scalars travel in a small tensor of the compute dtype,
so float64 runs keep float64 coefficients.

Tensors the kernel cannot treat as flat arrays (different strides between a
parameter and its gradient or state, non-dense layouts, addresses not
aligned to 16 bytes) are left to the caller, which runs the foreach path on
them.

Set TRITON_INTERPRET=1 before this module is imported to run the kernel in
Triton's interpreter on CPU tensors (slow; tests use it to check the
arithmetic without a GPU).
"""
import contextlib
from collections import OrderedDict

import torch
import triton
import triton.language as tl

BLOCK = 1024          # elements per program (1024 x 4 warps: ~70 registers,
                      # 7 programs per H100 SM, 112 KB in flight per SM)
NUM_WARPS = 4
_CACHE_SIZE = 16      # tables kept per process

__all__ = ["INTERPRET", "BLOCK", "split_supported", "innaprop_step"]


@triton.jit
def _update(p_ptr, g_ptr, v_ptr, psi_ptr, offs, n, coefs,
            MASKED: tl.constexpr, FP64: tl.constexpr):
    # The reference's arithmetic, in its order (see innaprop.py), in float64
    # for float64 tensors and in float32 otherwise.
    if FP64:
        acc = tl.float64
    else:
        acc = tl.float32
    sigma = tl.load(coefs + 0)
    one_minus_sigma = tl.load(coefs + 1)
    eps = tl.load(coefs + 2)
    psi_keep = tl.load(coefs + 3)
    psi_take = tl.load(coefs + 4)
    c_theta = tl.load(coefs + 5)
    c_psi = tl.load(coefs + 6)
    c_grad = tl.load(coefs + 7)
    if MASKED:
        mask = offs < n
        p = tl.load(p_ptr + offs, mask=mask).to(acc)
        g = tl.load(g_ptr + offs, mask=mask).to(acc)
        v = tl.load(v_ptr + offs, mask=mask).to(acc)
        psi = tl.load(psi_ptr + offs, mask=mask).to(acc)
    else:
        p = tl.load(p_ptr + offs).to(acc)
        g = tl.load(g_ptr + offs).to(acc)
        v = tl.load(v_ptr + offs).to(acc)
        psi = tl.load(psi_ptr + offs).to(acc)

    v = v * sigma + one_minus_sigma * g * g
    if FP64:
        scaled = g / (tl.sqrt(v) + eps)
    else:
        # IEEE-rounded, as torch's ops (Triton's default is approximate).
        scaled = tl.div_rn(g, tl.sqrt_rn(v) + eps)
    psi = psi * psi_keep + psi_take * p
    p = p * c_theta - c_psi * psi
    p = p - c_grad * scaled

    dtype = p_ptr.dtype.element_ty
    if MASKED:
        tl.store(p_ptr + offs, p.to(dtype), mask=mask)
        tl.store(v_ptr + offs, v.to(dtype), mask=mask)
        tl.store(psi_ptr + offs, psi.to(dtype), mask=mask)
    else:
        tl.store(p_ptr + offs, p.to(dtype))
        tl.store(v_ptr + offs, v.to(dtype))
        tl.store(psi_ptr + offs, psi.to(dtype))


@triton.jit
def _innaprop_kernel(ptrs, sizes, block_tensor, block_start, carrier, coefs,
                     BLOCK: tl.constexpr, FP64: tl.constexpr):
    pid = tl.program_id(0)
    t = tl.load(block_tensor + pid).to(tl.int64)
    start = tl.multiple_of(tl.load(block_start + pid), BLOCK)
    n = tl.load(sizes + t)
    # Addresses come from a table: the alignment hints (checked on the host)
    # let Triton emit 16-byte vector loads and stores.
    ptr_type = tl.pointer_type(carrier.dtype.element_ty)
    p_ptr = tl.multiple_of(tl.load(ptrs + 4 * t).to(ptr_type), 16)
    g_ptr = tl.multiple_of(tl.load(ptrs + 4 * t + 1).to(ptr_type), 16)
    v_ptr = tl.multiple_of(tl.load(ptrs + 4 * t + 2).to(ptr_type), 16)
    psi_ptr = tl.multiple_of(tl.load(ptrs + 4 * t + 3).to(ptr_type), 16)
    offs = start + tl.arange(0, BLOCK)
    if start + BLOCK <= n:
        _update(p_ptr, g_ptr, v_ptr, psi_ptr, offs, n, coefs, False, FP64)
    else:
        _update(p_ptr, g_ptr, v_ptr, psi_ptr, offs, n, coefs, True, FP64)


INTERPRET = not isinstance(_innaprop_kernel, triton.runtime.jit.JITFunction)

_tables = OrderedDict()


def _cached(key, build):
    if key in _tables:
        _tables.move_to_end(key)
        return _tables[key]
    value = _tables[key] = build()
    if len(_tables) > _CACHE_SIZE:
        _tables.popitem(last=False)
    return value


def _to_device(values, dtype, device):
    # From pinned memory without blocking: no host sync in the step.
    if device.type == "cpu":
        return torch.tensor(values, dtype=dtype)
    return torch.tensor(values, dtype=dtype, pin_memory=True).to(
        device, non_blocking=True)


def _dense_layout(ts):
    """True if the tensors share one dense layout, so that element i of
    each is at the same offset from its data pointer."""
    t0 = ts[0]
    dense = (t0.is_contiguous()
             or (t0.dim() == 4
                 and t0.is_contiguous(memory_format=torch.channels_last))
             or (t0.dim() == 5
                 and t0.is_contiguous(memory_format=torch.channels_last_3d)))
    return dense and all(t.stride() == t0.stride() for t in ts)


def split_supported(params, grads, exp_avg_sqs, psis):
    """Indices of the tensors the kernel updates (one dense layout, 16-byte
    aligned addresses), and of the others."""
    ok, rest = [], []
    for i, ts in enumerate(zip(params, grads, exp_avg_sqs, psis)):
        aligned = all(t.data_ptr() % 16 == 0 for t in ts)
        (ok if aligned and _dense_layout(ts) else rest).append(i)
    return ok, rest


def _blocks(tensor_lists, device):
    """Which tensors the kernel takes, their sizes, and per program the
    tensor (its index among those) and the offset of its block."""
    ok, rest = split_supported(*tensor_lists)
    sizes, tensor_ids, starts = [], [], []
    for j, i in enumerate(ok):
        n = tensor_lists[0][i].numel()
        sizes.append(n)
        first = range(0, n, BLOCK)
        tensor_ids.extend([j] * len(first))
        starts.extend(first)
    tables = None
    if ok:
        tables = (_to_device(sizes, torch.int64, device),
                  _to_device(tensor_ids, torch.int32, device),
                  _to_device(starts, torch.int64, device))
    return ok, rest, tables


def _plan(tensor_lists, addresses, device):
    """Block tables and pointer table of a set of tensors (cache miss)."""
    ok, rest, tables = _blocks(tensor_lists, device)
    n = len(tensor_lists[0])
    # Per tensor, its four pointers: parameter, gradient, exp_avg_sq, psi.
    taken = [addresses[k * n + i] for i in ok for k in range(4)]
    ptrs = _to_device(taken, torch.int64, device) if ok else None
    return ok, rest, tables, ptrs


def innaprop_step(params, grads, exp_avg_sqs, psis, *, sigma, eps, psi_keep,
                  psi_take, c_theta, c_psi, c_grad):
    """Update, in one launch, the tensors (same device and dtype) that the
    kernel can take; return the indices of the others, left to the caller.
    The scalars are the reference's (innaprop.py), for one step:

        v     <- sigma v + (1 - sigma) g**2
        psi   <- psi_keep psi + psi_take theta
        theta <- c_theta theta - c_psi psi - c_grad g / (sqrt(v) + eps)
    """
    device, dtype = params[0].device, params[0].dtype
    if device.type != "cuda" and not INTERPRET:
        raise RuntimeError(
            "The fused INNAprop kernel runs on CUDA tensors (or in Triton's "
            "interpreter: set TRITON_INTERPRET=1 before importing it), got a "
            f"{device.type} tensor.")
    tensor_lists = (params, grads, exp_avg_sqs, psis)
    # The host work of a step is this key: the step is launch-bound on
    # GPT-2-sized models, so everything else is cached by it. Tensors alive
    # at given addresses keep their sizes; gradients reallocated at the same
    # addresses keep their parameters' layout (autograd's layout contract).
    addresses = tuple([t.data_ptr() for lst in tensor_lists for t in lst])
    key = (device, BLOCK, addresses, tuple([p.numel() for p in params]))
    ok, rest, tables, ptrs = _cached(key, lambda: _plan(tensor_lists,
                                                        addresses, device))
    if not ok:
        return rest

    fp64 = dtype == torch.float64
    coefs = _to_device([sigma, 1 - sigma, eps, psi_keep, psi_take, c_theta,
                        c_psi, c_grad],
                       torch.float64 if fp64 else torch.float32, device)
    sizes, block_tensor, block_start = tables
    on_device = (torch.cuda.device(device) if device.type == "cuda"
                 else contextlib.nullcontext())
    with on_device:
        _innaprop_kernel[(len(block_tensor),)](
            ptrs, sizes, block_tensor, block_start, params[ok[0]], coefs,
            BLOCK=BLOCK, FP64=fp64, num_warps=NUM_WARPS)
    return rest
