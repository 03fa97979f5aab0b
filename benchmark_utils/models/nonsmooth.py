"""The differentiation choices under every optimizer (thesis chapter 3):
which Jacobian autograd uses where MaxPool and ReLU are not differentiable.

- ``max_pool2d(x, k, stride, beta)``: forward exactly
  torch.nn.functional.max_pool2d; backward (Definition 10) the hybrid
  Jacobian (1 - beta) * native + beta * minimal, where native sends a
  window's gradient to torch's own choice among the tied maxima (the first
  of the active set) and minimal spreads it evenly over the active set.
  beta = 0 is torch's own backward; beta = 1 the minimal one; the thesis
  also uses beta > 1 (up to 10^4), which amplifies the difference.
- ``relu(x, prime0)``: ReLU whose derivative at exactly 0 is ``prime0``
  (0, torch's choice, or 1).
- ``zero_program``: Table 3.1's t -> max1(t x) - max2(t x), constantly 0,
  whose autograd derivative is not.
"""
import torch
import torch.nn.functional as F
from torch import nn


class _HybridMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, beta):
        out, index = F.max_pool2d(x, kernel, stride, return_indices=True)
        ctx.save_for_backward(x, out, index)
        ctx.kernel, ctx.stride, ctx.beta = kernel, stride, beta
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out, index = ctx.saved_tensors
        n, c, h, w = x.shape
        grad_in = None
        if ctx.beta != 1:
            # torch's own: each window's gradient to its recorded index.
            native = torch.zeros(n, c, h * w, dtype=grad.dtype,
                                 device=grad.device)
            native.scatter_add_(2, index.flatten(2), grad.flatten(2))
            grad_in = native.view_as(x) * (1 - ctx.beta)
        if ctx.beta != 0:
            # Spread evenly over the window's maxima (the active set).
            k, s = ctx.kernel, ctx.stride
            patches = F.unfold(x, k, stride=s).view(n, c, k * k, -1)
            ties = (patches == out.flatten(2)[:, :, None]).to(grad.dtype)
            share = ties / ties.sum(2, keepdim=True)
            spread = (share * grad.flatten(2)[:, :, None]).view(n, -1,
                                                               share.shape[-1])
            minimal = F.fold(spread, (h, w), k, stride=s)
            part = minimal * ctx.beta
            grad_in = part if grad_in is None else grad_in + part
        return grad_in, None, None, None


def max_pool2d(x, kernel, stride=None, beta=0.0):
    """MaxPool with the hybrid backward of Definition 10 (no padding)."""
    return _HybridMaxPool.apply(x, kernel, stride or kernel, float(beta))


class _ReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, prime0):
        ctx.save_for_backward(x)
        ctx.prime0 = prime0
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        slope = (x > 0).to(grad.dtype)
        if ctx.prime0:
            slope = slope + (x == 0).to(grad.dtype) * ctx.prime0
        return grad * slope, None


def relu(x, prime0=0.0):
    return _ReLU.apply(x, float(prime0))


class MaxPool2d(nn.Module):
    """nn.MaxPool2d(kernel, stride) with a chosen backward: "native"
    (torch's own), "minimal", or "hybrid" with ``beta``."""

    def __init__(self, kernel, stride=None, mode="native", beta=0.0):
        super().__init__()
        if mode not in ("native", "minimal", "hybrid"):
            raise ValueError(f"maxpool={mode!r} is not allowed: maxpool must"
                             " be one of 'native', 'minimal', 'hybrid'.")
        self.kernel, self.stride = kernel, stride or kernel
        self.beta = {"native": 0.0, "minimal": 1.0}.get(mode, float(beta))

    def forward(self, x):
        if self.beta == 0:
            return F.max_pool2d(x, self.kernel, self.stride)
        return max_pool2d(x, self.kernel, self.stride, self.beta)


class ReLU(nn.Module):
    """nn.ReLU whose derivative at 0 is ``prime0`` (0 or 1)."""

    def __init__(self, prime0=0):
        super().__init__()
        if prime0 not in (0, 1):
            raise ValueError(f"relu_prime0={prime0!r} is not allowed: "
                             "relu_prime0 must be 0 or 1.")
        self.prime0 = prime0

    def forward(self, x):
        return F.relu(x) if self.prime0 == 0 else relu(x, self.prime0)


def set_program(model, maxpool_beta=None, relu_prime0=None):
    """Switch every MaxPool2d and ReLU of this module to another Jacobian
    at nonsmooth points, in place: the same parameters under another
    program (chapter 3's P, Q, R0, R1). The forward pass is unchanged."""
    for module in model.modules():
        if isinstance(module, MaxPool2d) and maxpool_beta is not None:
            module.beta = float(maxpool_beta)
        if isinstance(module, ReLU) and relu_prime0 is not None:
            module.prime0 = relu_prime0


def with_knobs(model, maxpool="native", maxpool_beta=0.0, relu_prime0=0):
    """``model`` (any torch network) with its nn.MaxPool2d and nn.ReLU
    replaced by MaxPool2d and ReLU of the given Jacobians, so that
    torchvision's own networks take chapter 3's knobs. Only 2x2, stride-2,
    unpadded pooling is replaced; any other raises."""
    for name, child in model.named_children():
        if isinstance(child, nn.MaxPool2d):
            if (child.kernel_size, child.stride, child.padding) not in \
                    ((2, 2, 0), ((2, 2), (2, 2), 0)):
                raise ValueError(f"{name}: only 2x2 MaxPool of stride 2 "
                                 f"without padding is supported ({child}).")
            setattr(model, name, MaxPool2d(2, 2, maxpool, maxpool_beta))
        elif isinstance(child, nn.ReLU):
            setattr(model, name, ReLU(relu_prime0))
        else:
            with_knobs(child, maxpool, maxpool_beta, relu_prime0)
    return model


def max_first(x):
    """max of a 4-vector by successive comparisons: autograd sends the
    gradient to the first maximum (max1 of Figure 3.2)."""
    best = x[0]
    for value in x[1:]:
        if value > best:
            best = value
    return best


def zero_program(t, x):
    """t -> max1(t x) - max2(t x): max2 is torch.max, whose gradient is
    shared evenly by tied maxima. Constantly 0."""
    z = t * x
    return max_first(z) - torch.max(z)


TABLE_3_1_T = (-1e-3, -1e-2, -1e-1, 0.0, 1e1, 1e2, 1e3)


def table_3_1(dtype=torch.float32):
    """zero'(t) at Table 3.1's t, for x1 = (1, 2, 3, 4) and
    x2 = (1.4, 1.4, 1.4, 1.4)."""
    rows = {}
    for name, x in (("x1", [1.0, 2.0, 3.0, 4.0]), ("x2", [1.4] * 4)):
        x = torch.tensor(x, dtype=dtype)
        row = []
        for t in TABLE_3_1_T:
            t = torch.tensor([t], dtype=dtype, requires_grad=True)
            zero_program(t, x).backward()
            row.append(t.grad.item())
        rows[name] = row
    return rows
