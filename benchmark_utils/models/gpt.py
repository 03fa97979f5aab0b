"""A GPT language model, in one file, after nanoGPT's model.py.

Pre-norm transformer blocks (LayerNorm, causal self-attention, GELU MLP),
learned position embeddings, and an output head tied to the token embedding.
Attention goes through ``scaled_dot_product_attention``, which runs flash
attention on a GPU under bf16/fp16 autocast. Initialisation is GPT-2's:
N(0, 0.02) everywhere, with the residual projections scaled down by
sqrt(2 * n_layer).
"""
import math
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    block_size: int = 1024     # longest context
    vocab_size: int = 50304    # GPT-2's 50257 padded to a multiple of 64
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    bias: bool = False         # biases in Linears and LayerNorms (GPT-2: True)


# The thesis's sizes (section 4.3.3) and a tiny one for CPU runs and tests.
GPT_SIZES = {
    "tiny": dict(n_layer=4, n_head=4, n_embd=128),
    "mini": dict(n_layer=6, n_head=6, n_embd=384),       # ~30M
    "small": dict(n_layer=12, n_head=12, n_embd=768),    # ~124M
    "medium": dict(n_layer=24, n_head=16, n_embd=1024),  # ~355M
}


class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"n_embd={config.n_embd} is not a multiple of "
                             f"n_head={config.n_head}.")
        self.n_head = config.n_head
        # query, key and value projections of all heads in one matmul
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd,
                                bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd,
                                bias=config.bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, T, C) -> (B, n_head, T, head_size)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                   for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd,
                              bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd,
                                bias=config.bias)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Maps token ids (B, T) to next-token logits (B, T, vocab_size)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying

        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0,
                                std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx):
        T = idx.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"Sequence of length {T} is longer than the "
                             f"block size {self.config.block_size}.")
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    def no_weight_decay(self):
        """Parameters left out of weight decay besides biases and norms:
        the embeddings (the tied output head with them), as in the INNAprop
        authors' GPT-2 code (the older nanoGPT rule)."""
        return {"wte.weight", "wpe.weight"}

    def stacked_matrices(self):
        """Weights that stack several matrices along their rows, and how
        many: each ``c_attn`` holds the query, key and value projections
        (3 x C by C), which Muon orthogonalizes one by one, as modded-nanogpt
        does with its separate Q, K and V (benchmark_utils/optimizers/
        muon.py)."""
        return {f"h.{i}.attn.c_attn.weight": 3 for i in range(len(self.h))}

    def n_params(self, non_embedding=False):
        """Parameters, counting the tied embedding once; nanoGPT's
        ``non_embedding`` count leaves out the position embeddings."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.wpe.weight.numel() if non_embedding else n

    def flops_per_token(self, T=None):
        """Training FLOPs per token (forward and backward): 6 N for the
        weights plus 12 L T C for attention (PaLM appendix B, as nanoGPT's
        estimate_mfu)."""
        c = self.config
        T = c.block_size if T is None else T
        return 6 * self.n_params(non_embedding=True) \
            + 12 * c.n_layer * c.n_embd * T


def build_gpt(size, vocab_size=50304, block_size=1024, bias=False):
    """A GPT of one of the named ``GPT_SIZES``."""
    if size not in GPT_SIZES:
        raise ValueError(f"Unknown GPT size {size!r}, expected one of "
                         f"{sorted(GPT_SIZES)}.")
    return GPT(GPTConfig(block_size=block_size, vocab_size=vocab_size,
                         bias=bias, **GPT_SIZES[size]))
