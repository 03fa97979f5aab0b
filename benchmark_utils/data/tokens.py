"""Token data: flat sequences of token ids, random windows, and the
preparation of OpenWebText.

Token data is an array in memory (the byte-level ``tokens`` dataset) or
nanoGPT's on-disk layout: ``train.bin`` and ``val.bin``, uint16 GPT-2 token
ids, read through ``np.memmap`` so that the 17 GB training split is never
loaded. Training batches are random windows of ``block_size + 1`` tokens
(inputs and next-token targets), drawn from a generator seeded by (run seed,
epoch): every solver of a repetition sees the same windows.
"""
import os
from pathlib import Path

import numpy as np
import torch

from benchmark_utils.data.download import DataNotFound
from benchmark_utils.data.loaders import epoch_generator, shard_slice

OWT_HUB_ID = "Skylion007/openwebtext"


# -- token data ---------------------------------------------------------------
def read_tokens(source):
    """An array of token ids: ``source`` itself, or a uint16 .bin file
    opened read-only as a memmap (cheap; nothing is read until used)."""
    if isinstance(source, (str, Path)):
        size = os.path.getsize(source)
        if size == 0 or size % 2:
            raise ValueError(
                f"{source}: {size} bytes, "
                f"{'empty' if size == 0 else 'an odd size'}; a token file "
                "holds uint16 GPT-2 token ids, 2 bytes each. It is "
                "truncated or not a token file: prepare it again (benchopt "
                "prepare . -d openwebtext) or copy nanoGPT's file anew.")
        return np.memmap(source, dtype=np.uint16, mode="r")
    return source


def byte_tokens(path, val_fraction=0.1):
    """Byte-level tokens of a text file (vocabulary 256): the first
    1 - val_fraction of the bytes for training, the rest for validation."""
    data = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8)
    n_val = int(len(data) * val_fraction)
    return data[:len(data) - n_val], data[len(data) - n_val:]


def windows(tokens, starts, block_size, device, vocab_size=None,
            name="the tokens"):
    """Inputs and targets of the windows starting at ``starts``: tokens
    [s, s + block_size) and [s + 1, s + block_size + 1). With
    ``vocab_size``, ids outside the model's vocabulary are refused here, on
    the host, naming ``name`` (on the device they fail deep inside the
    embedding, or as a CUDA assert)."""
    w = np.stack([tokens[s:s + block_size + 1] for s in starts.tolist()])
    if vocab_size is not None and w.size and int(w.max()) >= vocab_size:
        raise ValueError(
            f"{name}: token id {int(w.max())} is outside the model's "
            f"vocabulary of {vocab_size}. The file was not tokenized for "
            "this model (GPT-2 BPE ids are below 50257): prepare it again "
            "with benchopt prepare . -d openwebtext.")
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


def source_name(source):
    return str(source) if isinstance(source, (str, Path)) else "the tokens"


class WindowLoader:
    """Random training windows, ``batch_size`` per batch. An "epoch" is
    as many batches as hold the training tokens once (windows are drawn
    with replacement, as nanoGPT does); each batch's windows are a pure
    function of (seed, epoch, batch), so that an epoch can start anywhere
    (``start``, to resume a run) and a data-parallel process reads only its
    ``shard`` of each batch."""

    def __init__(self, source, batch_size, block_size, seed, device,
                 shard=None, vocab_size=None):
        self.source = source
        self.vocab_size = vocab_size
        self.batch_size, self.block_size = batch_size, block_size
        self.seed, self.device = seed, device
        n = len(read_tokens(source))
        self.n_tokens = n
        self.n_batches = max(1, (n - 1) // (batch_size * block_size))
        self.shard = shard

    def __len__(self):
        return self.n_batches

    def epoch(self, epoch, start=0):
        tokens = read_tokens(self.source)
        for i in range(start, self.n_batches):
            gen = epoch_generator(self.seed, epoch, "cpu", batch=i)
            starts = random_starts(self.n_tokens, self.block_size,
                                   (self.batch_size,), gen)
            part = shard_slice(self.batch_size, self.shard)
            yield windows(tokens, starts[part], self.block_size, self.device,
                          self.vocab_size, source_name(self.source))


# -- OpenWebText on disk (nanoGPT's layout) -----------------------------------
OWT_FILES = ("train.bin", "val.bin")


def check_prepared(root):
    """The paths of train.bin and val.bin in ``root``, or a clear error."""
    root = Path(root)
    missing = [name for name in OWT_FILES if not (root / name).exists()]
    if missing:
        raise DataNotFound(
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
        # The data cannot be had here until these are installed: the
        # run's one-paragraph message, not a traceback.
        raise DataNotFound(
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
