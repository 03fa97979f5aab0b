"""torch.optim.Muon on every hidden weight matrix, conv filters included,
and which parameters are hidden weight matrices.

Muon orthogonalizes the momentum of a weight matrix. KellerJordan/Muon's
README: only hidden layers (not the embeddings, the first layer, the head,
or 1-D gains and biases), with a convolution's filters viewed as a matrix of
out_channels x (in_channels * kernel size). torch.optim.Muon takes 2-D
parameters only; ``Muon`` below hands it 2-D views of the others, so the
arithmetic is torch's own (its ``muon`` functional) and only the view is
ours. Orthogonalization commutes with a permutation of the columns, so a
channels_last filter may be viewed in its own memory order.

A weight that stacks several matrices along its rows (the GPT's fused
query, key and value projection, 3C x C) is orthogonalized one matrix at a
time, as modded-nanogpt does (it keeps Q, K, V and O as one (4, d, d)
parameter orthogonalized as a batch of matrices): orthogonalizing the stack
as one matrix would couple the three. A model names such weights in its
``stacked_matrices()`` (models/gpt.py).
"""
import torch
from torch import nn
from torch.optim._muon import muon as muon_step

MATRIX_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def hidden_matrices(model):
    """The hidden weight matrices of ``model``, in module order: the
    weights of its Linear and Conv layers, except the first layer (the
    first Linear, Conv or Embedding), the head (the last Linear) and any
    weight shared with an Embedding (GPT's tied head)."""
    layers = [m for m in model.modules()
              if isinstance(m, MATRIX_LAYERS + (nn.Embedding,))
              and m.weight.requires_grad]
    if not layers:
        return []
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    excluded = {id(layers[0].weight)}
    if linears:
        excluded.add(id(linears[-1].weight))
    excluded |= {id(m.weight) for m in layers if isinstance(m, nn.Embedding)}
    return [m.weight for m in layers if isinstance(m, MATRIX_LAYERS)
            and id(m.weight) not in excluded]


def stacked_rows(model):
    """{id(parameter): number of matrices stacked along its rows}, from the
    model's ``stacked_matrices()`` (none if it has no such method)."""
    names = getattr(model, "stacked_matrices", dict)()
    params = dict(model.named_parameters())
    return {id(params[name]): n for name, n in names.items()}


def as_matrix(t):
    """A 2-D view of ``t`` sharing its memory (out x everything else)."""
    if t.ndim == 2:
        return t
    if t.is_contiguous():
        return t.view(t.shape[0], -1)
    if t.ndim == 4 and t.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).view(t.shape[0], -1)
    raise ValueError(f"Muon: a parameter of shape {tuple(t.shape)} and "
                     f"strides {t.stride()} has no 2-D view.")


def _matrix_like(grad, param):
    """The gradient as a matrix laid out as ``as_matrix(param)``."""
    if grad.ndim == 2:
        return grad
    if param.is_contiguous():
        return grad.reshape(grad.shape[0], -1)
    return grad.permute(0, 2, 3, 1).reshape(grad.shape[0], -1)


class Muon(torch.optim.Muon):
    """torch.optim.Muon that also takes conv filters (viewed as
    matrices); on 2-D parameters it is torch.optim.Muon exactly.

    ``row_blocks`` maps id(parameter) to the number of matrices stacked
    along its rows (``stacked_rows(model)``): each block is orthogonalized,
    and its lr adjusted for its shape, as torch.optim.Muon does for a
    parameter of that shape."""

    def __init__(self, params, row_blocks=None, **kwargs):
        self.row_blocks = dict(row_blocks or {})
        params = list(params)
        groups = params if params and isinstance(params[0], dict) else \
            [{"params": params}]
        # torch.optim.Muon refuses non-2-D parameters: build it on 2-D
        # stand-ins, then put the real parameters in their place.
        real = [list(g["params"]) for g in groups]
        stand_ins = [dict(g, params=[torch.empty(2, 2) for _ in g["params"]])
                     for g in groups]
        super().__init__(stand_ins, **kwargs)
        for group, ps in zip(self.param_groups, real):
            group["params"] = ps
        for ps in real:
            for p in ps:
                matrix = as_matrix(p)     # fail now on an unusable layout
                n = self.row_blocks.get(id(p), 1)
                if n < 1 or matrix.shape[0] % n:
                    raise ValueError(
                        f"Muon: {matrix.shape[0]} rows do not split into "
                        f"{n} stacked matrices.")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, bufs = [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                matrix = as_matrix(p)
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(matrix)
                n = self.row_blocks.get(id(p), 1)
                # Row blocks of a row-major matrix are views of it.
                params.extend(matrix.chunk(n))
                grads.extend(_matrix_like(p.grad, p).chunk(n))
                bufs.extend(state["momentum_buffer"].chunk(n))
            muon_step(params, grads, bufs, lr=group["lr"],
                      weight_decay=group["weight_decay"],
                      momentum=group["momentum"],
                      nesterov=group["nesterov"],
                      ns_coefficients=group["ns_coefficients"],
                      eps=group["eps"], ns_steps=group["ns_steps"],
                      adjust_lr_fn=group["adjust_lr_fn"], has_complex=False)
        return loss
