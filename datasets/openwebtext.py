from functools import partial

from benchopt.config import get_data_path

from benchmark_utils.bench.dataset import LocalDataset
from benchmark_utils.models.gpt import build_gpt
from benchmark_utils.data.tokens import check_prepared, prepare_openwebtext
from benchmark_utils.tasks.language import (LanguageModelingTask,
                                            auto_precision, split_validation)
from benchmark_utils.training.parallel import default_device
from benchmark_utils.training.recipe import Recipe

# Peak and final learning rates of the published configs (nanoGPT; the
# INNAprop authors' GPT-2 configs): cosine from lr to min_lr.
LR = {"tiny": (6e-4, 6e-5), "mini": (6e-4, 6e-5), "small": (6e-4, 6e-5),
      "medium": (3e-4, 6e-5)}


class Dataset(LocalDataset):
    """OpenWebText, GPT-2 BPE tokens in nanoGPT's layout (train.bin and
    val.bin, uint16), with the protocol of nanoGPT and of the INNAprop
    authors' GPT-2 configs (thesis sections 4.3.3 and 4.10.4):

    - context 1024; micro-batches of 12 sequences, 40 per optimizer step
      (491,520 tokens); 100k steps;
    - lr 6e-4 (mini, small) or 3e-4 (medium), cosine with 2000 linear
      warmup steps down to 6e-5; weight decay 0.1, not on biases, norms
      and embeddings (the output head is tied to the token embedding);
      gradient clipping at 1.0; the solvers set their own betas;
    - bf16 autocast on a GPU ("fp16" adds a gradient scaler, as the
      authors ran; "fp32" turns autocast off);
    - validation loss on 200 fixed batches every 1000 steps.

    ``model`` is a GPT size: mini (~30M), small (124M), medium (355M), or
    tiny (quick checks). Prepare the data once with
    `benchopt prepare . -d openwebtext`, or point `data_paths: openwebtext:`
    in config.yml at a folder holding train.bin and val.bin.
    ``test_fraction`` > 0 keeps the last part of val.bin as a test split
    (``test_loss``), its windows disjoint from the validation ones; 0 (the
    default) is nanoGPT's and the thesis's protocol.
    """

    name = "openwebtext"
    data_key, data_marker = "openwebtext", "train.bin"
    parameters = {"model": ["small"], "max_steps": [100_000],
                  "batch_size": [12], "grad_accum": [40],
                  "block_size": [1024], "warmup": [2000],
                  "eval_every": [1000], "eval_batches": [200],
                  "test_fraction": [0.0],
                  "precision": ["auto"], "compile": [False]}
    prepare_cache_ignore = "all"

    def prepare(self):
        root = get_data_path(self.data_key)
        if not all((root / name).exists() for name in ("train.bin",
                                                         "val.bin")):
            prepare_openwebtext(root)

    def get_data(self):
        train, val = check_prepared(get_data_path(self.data_key))
        if self.model not in LR:
            raise ValueError(f"Unknown GPT size {self.model!r}, expected one "
                             f"of {sorted(LR)}.")
        lr, min_lr = LR[self.model]
        precision = self.precision
        if precision == "auto":
            precision = auto_precision(default_device())
        recipe = Recipe(
            batch_size=self.batch_size, max_steps=self.max_steps, lr=lr,
            weight_decay=0.1, schedule="cosine_warmup", schedule_unit="step",
            warmup=self.warmup, min_lr_ratio=min_lr / lr,
            eval_every=self.eval_every, grad_accum=self.grad_accum,
            grad_clip=1.0, decay_1d_params=False, precision=precision,
            compile=self.compile)
        # test_fraction > 0: the last part of the validation tokens is a
        # test split, its windows disjoint from the validation ones.
        val, test = split_validation(val, self.test_fraction)
        task = LanguageModelingTask(
            train, val, recipe=recipe, block_size=self.block_size,
            build_model=partial(build_gpt, self.model, vocab_size=50304,
                                block_size=self.block_size),
            eval_batches=self.eval_batches, vocab_size=50304, test=test)
        task.source = self.source()
        return dict(task=task)
