"""E2E NLG (Novikova et al. 2017): restaurant meaning representations and
their human references, formatted and tokenized as the LoRA codebase does
(microsoft/LoRA, examples/NLG: its data/e2e/*.txt, gpt2_encode.py with
--add_bos --add_eos, and data_utils.py).

One example is

    <meaning representation> <|endoftext|> " " + <reference> <|endoftext|>

with the meaning representation written as "name : The Vaults | Type : pub |
price : more than £30 | ..."; the loss counts only the reference's tokens
and the closing end-of-text (the model predicts the text from the meaning).

Read from a local copy (config.yml's ``data_paths: {e2e: /folder}``), in
either layout:
- the original release: trainset.csv, devset.csv, testset_w_refs.csv, with
  columns ``mr`` and ``ref`` (one row per reference);
- the Hugging Face dataset's files (e2e_nlg): train/validation/test as
  .parquet, .csv or .jsonl, with columns ``meaning_representation`` and
  ``human_reference``.
Where neither is there, it downloads through the `datasets` library
(``pip install datasets``, network needed).
"""
import re
from pathlib import Path

import pandas as pd

from benchmark_utils.data.download import DataNotFound, reachable

SPLITS = ("train", "validation", "test")
ORIGINAL = {"train": "trainset.csv", "validation": "devset.csv",
            "test": "testset_w_refs.csv"}
HUB_ID = "tuetschek/e2e_nlg"
# The attribute names of the LoRA codebase's text files.
KEYS = {"eatType": "Type", "priceRange": "price",
        "familyFriendly": "family friendly", "customer rating":
        "customer rating"}


def format_mr(mr):
    """'name[The Vaults], eatType[pub]' -> 'name : The Vaults | Type :
    pub', as in the LoRA codebase's E2E files."""
    parts = re.findall(r"\s*([^\[,]+?)\s*\[([^\]]*)\]", mr)
    if not parts:
        raise ValueError(f"Not an E2E meaning representation: {mr!r}")
    return " | ".join(f"{KEYS.get(k, k)} : {v.strip()}" for k, v in parts)


def _hub_file(root, split):
    for stem in (split, "dev" if split == "validation" else split):
        for ext in (".parquet", ".csv", ".jsonl"):
            for path in sorted(Path(root).rglob(f"{stem}*{ext}")):
                return path
    return None


def _read_table(path):
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    return pd.read_csv(path)


def load_e2e(root, download=True):
    """{split: list of (meaning representation, reference)} for train,
    validation and test."""
    root = Path(root)
    if all((root / name).exists() for name in ORIGINAL.values()):
        tables = {s: (root / ORIGINAL[s], ("mr", "ref")) for s in SPLITS}
    elif all(_hub_file(root, s) is not None for s in SPLITS):
        tables = {s: (_hub_file(root, s),
                      ("meaning_representation", "human_reference"))
                  for s in SPLITS}
    elif download:
        return _download(root)
    else:
        raise _missing(root)
    out = {}
    for split, (path, (mr, ref)) in tables.items():
        try:
            df = _read_table(path)
            out[split] = list(zip(df[mr].astype(str), df[ref].astype(str)))
        except Exception as e:
            raise RuntimeError(
                f"E2E: {path} is unreadable or lacks the columns {mr!r} and "
                f"{ref!r} ({e}). Replace it from the original release.") from e
        if not out[split]:
            raise RuntimeError(f"E2E: {path} holds no example.")
    return out


def _download(root):
    try:
        from datasets import load_dataset
    except ImportError as e:
        raise _missing(root, "the `datasets` package is not installed") \
            from e
    if not reachable("https://huggingface.co"):
        raise _missing(root, "huggingface.co is unreachable")
    try:
        ds = load_dataset(HUB_ID)
    except Exception as e:  # offline
        raise _missing(root, repr(e)) from e
    root.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        ds[split].to_parquet(str(root / f"{split}.parquet"))
    return load_e2e(root, download=False)


def _missing(root, why=None):
    why = f" The download failed: {why}." if why else ""
    return DataNotFound(
        f"E2E was not found under {root}.{why} Put the original release's "
        "trainset.csv, devset.csv and testset_w_refs.csv there (or the "
        "Hugging Face e2e_nlg files: train/validation/test .parquet), or "
        "point config.yml's data_paths: {e2e: /path/to/folder} at them.")


def encode_example(tokenizer, mr, ref, max_length=512):
    """(token ids, loss mask) of one example: the formatted meaning
    representation and end-of-text (mask 0), then " " + reference and
    end-of-text (mask 1), cut to ``max_length`` tokens."""
    eot = tokenizer.eos_token_id
    context = tokenizer.encode(format_mr(mr)) + [eot]
    completion = tokenizer.encode(" " + ref.strip()) + [eot]
    ids = (context + completion)[:max_length]
    mask = ([0] * len(context) + [1] * len(completion))[:max_length]
    return ids, mask
