"""Language modelling: token data, window sampling, the task, and the
preparation of OpenWebText.

Token data is a flat sequence of token ids, either an array in memory (the
byte-level ``tokens`` dataset) or nanoGPT's on-disk layout: ``train.bin`` and
``val.bin``, uint16 GPT-2 token ids, read through ``np.memmap`` so that the
17 GB training split is never loaded. Training batches are random windows of
``block_size + 1`` tokens (inputs and next-token targets), drawn from a
generator seeded by (run seed, epoch): every solver of a repetition sees the
same windows. Validation uses one fixed, seeded set of windows, the same for
every solver and every repetition.
"""
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmark_utils import distributed
from benchmark_utils.data import epoch_generator, shard_slice

VAL_SEED = 1234        # fixed: every run is judged on the same tokens
TRAIN_EVAL_SEED = 4321
OWT_HUB_ID = "Skylion007/openwebtext"


# -- token data ---------------------------------------------------------------
def read_tokens(source):
    """An array of token ids: ``source`` itself, or a uint16 .bin file
    opened read-only as a memmap (cheap; nothing is read until used)."""
    if isinstance(source, (str, Path)):
        return np.memmap(source, dtype=np.uint16, mode="r")
    return source


def byte_tokens(path, val_fraction=0.1):
    """Byte-level tokens of a text file (vocabulary 256): the first
    1 - val_fraction of the bytes for training, the rest for validation."""
    data = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)
    n_val = int(len(data) * val_fraction)
    return data[:len(data) - n_val], data[len(data) - n_val:]


def windows(tokens, starts, block_size, device):
    """Inputs and targets of the windows starting at ``starts``: tokens
    [s, s + block_size) and [s + 1, s + block_size + 1)."""
    w = np.stack([tokens[s:s + block_size + 1] for s in starts.tolist()])
    w = torch.from_numpy(w.astype(np.int64))
    if device.type == "cuda":
        # pinned, so that the copy overlaps the GPU's work (as nanoGPT)
        w = w.pin_memory().to(device, non_blocking=True)
    else:
        w = w.to(device)
    return w[:, :-1], w[:, 1:]


def random_starts(n_tokens, block_size, shape, generator):
    """Uniform window starts, each leaving room for block_size + 1 tokens."""
    high = n_tokens - block_size
    if high < 1:
        raise ValueError(f"{n_tokens} tokens are too few for windows of "
                         f"block_size={block_size} (+1 target): use a "
                         "longer text or a smaller block_size.")
    return torch.randint(high, shape, generator=generator)


class WindowLoader:
    """Random training windows, ``batch_size`` per batch. An "epoch" is
    as many batches as hold the training tokens once (windows are drawn
    with replacement, as nanoGPT does); each batch's windows are a pure
    function of (seed, epoch, batch), so that an epoch can start anywhere
    (``start``, to resume a run) and a data-parallel process reads only its
    ``shard`` of each batch."""

    def __init__(self, source, batch_size, block_size, seed, device):
        self.source = source
        self.batch_size, self.block_size = batch_size, block_size
        self.seed, self.device = seed, device
        n = len(read_tokens(source))
        self.n_tokens = n
        self.n_batches = max(1, (n - 1) // (batch_size * block_size))
        self.shard = None

    def __len__(self):
        return self.n_batches

    def epoch(self, epoch, start=0):
        tokens = read_tokens(self.source)
        for i in range(start, self.n_batches):
            gen = epoch_generator(self.seed, epoch, "cpu", batch=i)
            starts = random_starts(self.n_tokens, self.block_size,
                                   (self.batch_size,), gen)
            part = shard_slice(self.batch_size, self.shard)
            yield windows(tokens, starts[part], self.block_size, self.device)


def auto_precision(device):
    """bf16 autocast on a GPU that supports it, else fp32."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


# -- the task -----------------------------------------------------------------
class LanguageModelingTask:
    """Next-token prediction with cross-entropy.

    Args:
        train, val: token ids (arrays, or paths of uint16 .bin files).
        build_model: callable() -> nn.Module mapping (B, T) ids to
            (B, T, vocab) logits.
        recipe: the experiment's ``Recipe`` (``batch_size`` is the
            micro-batch, in sequences).
        block_size: context length of the training and validation windows.
        eval_batches: validation batches (of ``recipe.batch_size`` windows)
            behind each reported validation loss; nanoGPT's ``eval_iters``.
    """
    kind = "language_modeling"
    sample_unit = "tokens"     # what the objective's throughput counts

    def __init__(self, train, val, build_model, recipe, block_size,
                 eval_batches=200, description=""):
        self.train, self.val = train, val
        self._build_model = build_model
        self.recipe = recipe
        self.block_size = block_size
        self.eval_batches = eval_batches
        self.description = description
        self._device = torch.device("cpu")
        shape = (eval_batches, recipe.batch_size)
        self.val_starts = random_starts(
            len(read_tokens(val)), block_size, shape,
            torch.Generator().manual_seed(VAL_SEED))
        # Training-set windows for a full (not running) training loss.
        self.train_starts = random_starts(
            len(read_tokens(train)), block_size, shape,
            torch.Generator().manual_seed(TRAIN_EVAL_SEED))

    # -- what the training loop uses -------------------------------------
    def to(self, device):
        """Batches go to ``device`` as they are drawn; the tokens stay on
        the host (a memmap for OpenWebText)."""
        self._device = torch.device(device)
        return self

    @property
    def device(self):
        return self._device

    def build_model(self):
        return self._build_model()

    def train_loader(self, seed):
        return WindowLoader(self.train, self.recipe.batch_size,
                            self.block_size, seed, self.device)

    def loss(self, model, batch):
        """Mean next-token cross-entropy of a batch, and the sums to
        accumulate (``count`` is in tokens)."""
        x, y = batch
        logits = model(x)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
        n = y.numel()
        return loss, {"loss": loss.detach() * n, "count": n}

    def sampled_loss(self, model, batch):
        """Cross-entropy against next tokens sampled from the model's own
        softmax over the vocabulary (Sophia's Gauss-Newton-Bartlett
        estimator)."""
        x, _ = batch
        logits = model(x).flatten(0, 1).float()
        with torch.no_grad():
            y_hat = torch.multinomial(F.softmax(logits, dim=-1), 1).squeeze(1)
        return F.cross_entropy(logits, y_hat)

    # -- what the objective reports ------------------------------------
    @torch.no_grad()
    def evaluate(self, model, running=None):
        """Validation loss on the fixed windows (``value``), its perplexity,
        and the training loss: the running average over the tokens trained
        on since the last evaluation when ``running`` is given, else the
        loss on fixed training windows."""
        was_training = model.training
        model.eval()
        val = self._mean_loss(model, self.val, self.val_starts)
        if running:
            train = float(running["loss"]) / running["count"]
        else:
            train = self._mean_loss(model, self.train, self.train_starts)
        model.train(was_training)
        return dict(value=val, val_loss=val,
                    val_perplexity=math.exp(min(val, 700.0)),
                    train_loss=train)

    def _mean_loss(self, model, source, starts):
        tokens = read_tokens(source)
        total = torch.zeros((), device=self.device, dtype=torch.float64)
        rank, world = distributed.shard() or (0, 1)
        for batch_starts in starts[rank::world]:
            x, y = windows(tokens, batch_starts, self.block_size, self.device)
            with self.recipe.autocast(self.device):
                logits = model(x)
            total += F.cross_entropy(logits.flatten(0, 1).float(),
                                     y.flatten(), reduction="sum")
        total = distributed.all_reduce_sum(total)  # each process's share
        return total.item() / starts.numel() / self.block_size


# -- OpenWebText on disk (nanoGPT's layout) -----------------------------------
OWT_FILES = ("train.bin", "val.bin")


def check_prepared(root):
    """The paths of train.bin and val.bin in ``root``, or a clear error."""
    root = Path(root)
    missing = [name for name in OWT_FILES if not (root / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"OpenWebText is not prepared: {', '.join(missing)} not found in "
            f"{root}. Either run `pip install \".[openwebtext]\"` then "
            "`benchopt prepare . -d openwebtext` (downloads about 13.5 GB "
            "of text from the Hugging Face Hub, tokenizes it with GPT-2's "
            "BPE and writes train.bin (~17 GB) and val.bin there), or copy "
            "nanoGPT's data/openwebtext/train.bin and val.bin into that "
            "folder, or point `data_paths: openwebtext:` in config.yml at "
            "the folder that holds them.")
    return [root / name for name in OWT_FILES]


def write_token_file(path, chunks, n_tokens, progress=iter):
    """Write ``chunks`` (arrays of token ids, ``n_tokens`` in all) to
    ``path`` as uint16, through a temporary file renamed at the end so that
    an interrupted preparation never leaves a file that looks complete."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    out = np.memmap(tmp, dtype=np.uint16, mode="w+", shape=(n_tokens,))
    i = 0
    for chunk in progress(chunks):
        chunk = np.asarray(chunk)
        if chunk.size and (chunk.min() < 0 or chunk.max() >= 2 ** 16):
            raise ValueError(f"Token ids must fit in uint16, got values in "
                             f"[{chunk.min()}, {chunk.max()}].")
        out[i:i + len(chunk)] = chunk
        i += len(chunk)
    if i != n_tokens:
        raise ValueError(f"Expected {n_tokens} tokens for {path}, got {i}.")
    out.flush()
    del out
    os.replace(tmp, path)


def prepare_openwebtext(root, num_proc=None, hub_id=OWT_HUB_ID):
    """nanoGPT's data/openwebtext/prepare.py: download OpenWebText with
    `datasets`, tokenize it with tiktoken's GPT-2 encoding, and write
    ``root``/train.bin and val.bin (see ``write_splits``)."""
    try:
        # (a bare `import datasets` would find the benchmark's own datasets/
        # folder, as a namespace package, when the library is missing)
        from datasets import load_dataset
        import tiktoken
        import tqdm  # noqa: F401  (write_splits' progress bars)
    except ImportError as e:
        raise ImportError(
            f"Preparing OpenWebText needs `datasets`, `tiktoken` and "
            f"`tqdm` ({e}). Install them with `pip install "
            "\".[openwebtext]\"` from the benchmark's folder.") from e
    num_proc = num_proc or max(1, (os.cpu_count() or 2) // 2)
    enc = tiktoken.get_encoding("gpt2")
    try:
        raw = load_dataset(hub_id, num_proc=num_proc)
    except RuntimeError as e:
        if "scripts are no longer supported" not in str(e):
            raise
        raise RuntimeError(
            f"This version of `datasets` cannot read {hub_id!r} ({e}). "
            "Install `datasets<4` and run the preparation again.") from e
    write_splits(root, raw["train"], enc.encode_ordinary, enc.eot_token,
                 num_proc)


def write_splits(root, documents, encode, eot, num_proc=1):
    """Hold out 0.05% of ``documents`` (a `datasets.Dataset` with a "text"
    column; split seeded with 2357, as nanoGPT) for validation, tokenize
    each document with ``encode`` followed by the ``eot`` token, and write
    ``root``/train.bin and val.bin, with progress bars."""
    from tqdm import tqdm
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    split = documents.train_test_split(test_size=0.0005, seed=2357,
                                       shuffle=True)
    split["val"] = split.pop("test")

    def tokenize(example):
        ids = list(encode(example["text"]))
        ids.append(eot)
        return {"ids": ids, "len": len(ids)}

    tokenized = split.map(tokenize, remove_columns=["text"],
                          desc="tokenizing the splits", num_proc=num_proc)
    for name, dset in tokenized.items():
        n_tokens = int(np.sum(np.asarray(dset.with_format("numpy")["len"]),
                              dtype=np.uint64))
        n_shards = min(1024, len(dset))
        shards = (np.concatenate(
            dset.shard(num_shards=n_shards, index=i, contiguous=True)
            .with_format("numpy")["ids"]) for i in range(n_shards))
        write_token_file(
            root / f"{name}.bin", shards, n_tokens,
            progress=lambda it, name=name, n=n_shards: tqdm(
                it, total=n, desc=f"writing {name}.bin"))
