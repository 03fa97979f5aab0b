from functools import partial
from pathlib import Path

import pydoc_data.topics

from benchmark_utils.bench.dataset import LocalDataset
from benchmark_utils.data.download import DataNotFound
from benchmark_utils.training.identity import data_source
from benchmark_utils.models.gpt import build_gpt
from benchmark_utils.data.tokens import byte_tokens
from benchmark_utils.tasks.language import (LanguageModelingTask,
                                            auto_precision, split_validation)
from benchmark_utils.training.parallel import default_device
from benchmark_utils.training.recipe import Recipe


class Dataset(LocalDataset):
    """Any local text file, byte-level tokens (vocabulary 256): a small GPT
    trains on it with no download. The last 10% of the bytes are the
    validation split. The default text is Python's own reference
    documentation (pydoc_data/topics.py, about 750 kB, shipped with
    CPython); choose another with -d "tokens[path=/some/file.txt]".

    The recipe is nanoGPT's, scaled down: AdamW-style weight decay 0.1 not
    on biases and norms, cosine schedule with linear warmup to lr / 10,
    gradient clipping at 1.0.

    ``test_fraction`` > 0 keeps the last part of the validation bytes as a
    test split (``test_loss``, ``test_perplexity``), its windows disjoint
    from the validation windows used for selection; 0 (the default) is
    today's protocol.
    """

    name = "tokens"
    parameters = {"path": [None], "model": ["tiny"], "max_steps": [1000],
                  "batch_size": [16], "grad_accum": [1], "block_size": [128],
                  "warmup": [100], "eval_every": [100], "eval_batches": [20],
                  "test_fraction": [0.0],
                  "precision": ["auto"], "compile": [False]}

    def text_path(self):
        return self.path or pydoc_data.topics.__file__

    def source(self):
        return data_source(self.text_path())

    def get_data(self):
        path = self.text_path()
        if not Path(path).is_file():
            raise DataNotFound(
                f"The text file {path} was not found: give an existing "
                "text file, -d \"tokens[path=/path/to/file.txt]\", or no "
                "path for Python's own documentation.")
        train, val = byte_tokens(path)
        precision = self.precision
        if precision == "auto":
            precision = auto_precision(default_device())
        recipe = Recipe(
            batch_size=self.batch_size, max_steps=self.max_steps, lr=1e-3,
            weight_decay=0.1, schedule="cosine_warmup", schedule_unit="step",
            warmup=self.warmup, min_lr_ratio=0.1, eval_every=self.eval_every,
            grad_accum=self.grad_accum, grad_clip=1.0, decay_1d_params=False,
            precision=precision, compile=self.compile)
        # test_fraction > 0: the last part of the validation tokens is a
        # test split, its windows disjoint from the validation ones.
        val, test = split_validation(val, self.test_fraction)
        task = LanguageModelingTask(
            train, val, recipe=recipe, block_size=self.block_size,
            build_model=partial(build_gpt, self.model, vocab_size=256,
                                block_size=self.block_size),
            eval_batches=self.eval_batches, test=test)
        task.source = self.source()
        return dict(task=task)
