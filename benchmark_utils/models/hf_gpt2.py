"""Pretrained GPT-2 (Hugging Face transformers) with LoRA adapters (peft),
for the E2E fine-tuning of the thesis's Table 4.4.

transformers and peft rather than the project's own GPT (models/gpt.py):
the pretrained checkpoints are in transformers' GPT-2 layout (Conv1D
weights, a fused qkv projection, its own layer names), and peft's LoRA is
the maintained implementation; loading them into our GPT would mean
rewriting both. LoRA goes on GPT-2's attention projection c_attn, rank 4,
alpha 32, dropout 0.1 (the LoRA paper's Table 11). peft adapts the fused
c_attn whole (query, key and value), where the LoRA codebase adapts the
query and value blocks only.
"""
from pathlib import Path

from benchmark_utils.data.download import DataNotFound, reachable

HUB = "https://huggingface.co"

HUB_NAMES = {"small": "gpt2", "medium": "gpt2-medium", "large": "gpt2-large"}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.json")


def find_checkpoint(size, weights_dir):
    """The folder of GPT-2 ``size``'s checkpoint: ``weights_dir/<hub
    name>`` (or ``weights_dir`` itself) when it holds a save_pretrained
    checkpoint, else the hub name (downloaded where the network allows)."""
    if size not in HUB_NAMES:
        raise ValueError(f"model={size!r} is not allowed: model must be one "
                         f"of {', '.join(map(repr, HUB_NAMES))}.")
    if weights_dir is not None:
        for folder in (Path(weights_dir) / HUB_NAMES[size], Path(weights_dir)):
            if (folder / "config.json").exists():
                return str(folder)
    return HUB_NAMES[size]


def load_gpt2(size, weights_dir=None):
    """(config, state dict, tokenizer) of pretrained GPT-2 ``size``."""
    from transformers import AutoTokenizer, GPT2LMHeadModel
    where = find_checkpoint(size, weights_dir)
    # A local folder, or the hub's cache, is read first; the hub itself only
    # when it answers (offline, its client retries for a minute).
    local = where != HUB_NAMES[size] or not reachable(HUB)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where,
                                                  local_files_only=local)
        model = GPT2LMHeadModel.from_pretrained(where, local_files_only=local)
    except Exception as e:   # offline without a local copy, or incomplete
        folder = Path(weights_dir or "/path/to/weights") / HUB_NAMES[size]
        raise DataNotFound(
            f"The pretrained GPT-2 {size} was not found ({where}: "
            f"{type(e).__name__}: {str(e).splitlines()[0]}). On a machine "
            "with internet access run `python -c \"from transformers import "
            f"AutoTokenizer, GPT2LMHeadModel as M; n = '{HUB_NAMES[size]}'; "
            f"[c.from_pretrained(n).save_pretrained('{folder}') for c in "
            "(AutoTokenizer, M)]\"`, which writes config.json, "
            "model.safetensors, tokenizer.json, vocab.json and merges.txt "
            f"into {folder}, and point config.yml's data_paths: "
            "{gpt2: ...} at its parent folder.") from e
    return model.config, model.state_dict(), tokenizer


def build_lora_gpt2(config, state, rank=4, alpha=32, dropout=0.1):
    """GPT-2 with ``state``'s pretrained weights, frozen, and fresh LoRA
    adapters on c_attn: only the adapters train. torch's global RNG (the
    run's seed) initialises them."""
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2LMHeadModel
    model = GPT2LMHeadModel(config)
    model.load_state_dict(state)
    lora = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout,
                      target_modules=["c_attn"], fan_in_fan_out=True,
                      bias="none")
    return get_peft_model(model, lora)
