"""Language modelling: next-token prediction, validated on one fixed, seeded
set of windows, the same for every solver and every repetition."""
import math

import torch
import torch.nn.functional as F

from benchmark_utils.data.tokens import (WindowLoader, random_starts,
                                         read_tokens, source_name, windows)
from benchmark_utils.tasks.base import Task
from benchmark_utils.training import checks, parallel

VAL_SEED = 1234        # fixed: every run is judged on the same tokens
TRAIN_EVAL_SEED = 4321
TEST_SEED = 5678


def split_validation(val, test_fraction):
    """(validation tokens, test tokens or None): the last ``test_fraction``
    of the validation tokens become a test split, so that the windows of
    the two never share a token. 0 keeps every token for validation (the
    thesis's protocol)."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction={test_fraction!r}: the share of "
                         "the validation tokens kept for the test split "
                         "must be in [0, 1).")
    if test_fraction == 0:
        return val, None
    tokens = read_tokens(val)
    cut = len(tokens) - int(len(tokens) * test_fraction)
    return tokens[:cut], tokens[cut:]


def auto_precision(device):
    """bf16 autocast on a GPU that supports it, else fp32."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


# -- the task -----------------------------------------------------------------
class LanguageModelingTask(Task):
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
        vocab_size: the model's vocabulary; token ids at or above it are
            refused with the file's name.
        test: tokens disjoint from ``val`` (``split_validation``), reported
            as ``test_loss`` and ``test_perplexity`` on their own fixed
            windows; None: no test split.
    """
    sample_unit = "tokens"     # what the objective's throughput counts

    def __init__(self, train, val, build_model, recipe, block_size,
                 eval_batches=200, vocab_size=None, test=None):
        checks.positive_int("block_size", block_size)
        checks.positive_int("eval_batches", eval_batches)
        self.train, self.val, self.test = train, val, test
        self.vocab_size = vocab_size
        self._build_model = build_model
        self.recipe = recipe
        self.block_size = block_size
        self.eval_batches = eval_batches
        self._device = torch.device("cpu")
        shape = (eval_batches, recipe.batch_size)
        self.val_starts = random_starts(
            len(read_tokens(val)), block_size, shape,
            torch.Generator().manual_seed(VAL_SEED))
        # Training-set windows for a full (not running) training loss.
        self.train_starts = random_starts(
            len(read_tokens(train)), block_size, shape,
            torch.Generator().manual_seed(TRAIN_EVAL_SEED))
        self.test_starts = None if test is None else random_starts(
            len(read_tokens(test)), block_size, shape,
            torch.Generator().manual_seed(TEST_SEED))

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

    def train_loader(self, seed, shard=None):
        return WindowLoader(self.train, self.recipe.batch_size,
                            self.block_size, seed, self.device, shard,
                            self.vocab_size)

    def loss(self, model, batch):
        """Mean next-token cross-entropy of a batch, and the sums to
        accumulate (``count`` is in tokens)."""
        x, y = batch
        logits = model(x)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
        n = y.numel()
        return loss, {"loss": loss.detach() * n, "count": n}

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
        test = None if self.test_starts is None else self._mean_loss(
            model, self.test, self.test_starts)
        model.train(was_training)
        metrics = dict(value=val, val_loss=val,
                       val_perplexity=math.exp(min(val, 700.0)),
                       train_loss=train)
        if test is not None:
            metrics.update(test_loss=test,
                           test_perplexity=math.exp(min(test, 700.0)))
        return metrics

    def _mean_loss(self, model, source, starts):
        tokens = read_tokens(source)
        total = torch.zeros((), device=self.device, dtype=torch.float64)
        rank, world = parallel.shard() or (0, 1)
        for batch_starts in starts[rank::world]:
            x, y = windows(tokens, batch_starts, self.block_size, self.device,
                           self.vocab_size, source_name(source))
            with self.recipe.autocast(self.device):
                logits = model(x)
            total += F.cross_entropy(logits.flatten(0, 1).float(),
                                     y.flatten(), reduction="sum")
        total = parallel.all_reduce_sum(total)  # each process's share
        return total.item() / starts.numel() / self.block_size
