"""Fine-tuning a causal language model on prompt/completion pairs (E2E with
LoRA): the loss is the next-token cross-entropy over the completion's
tokens, and the metrics are its mean over each split and the perplexity,
exp(mean token loss), as the LoRA codebase reports it."""
import math

import torch
import torch.nn.functional as F

from benchmark_utils.data.loaders import epoch_generator, n_batches
from benchmark_utils.data.loaders import shard_slice
from benchmark_utils.tasks.base import Task
from benchmark_utils.training import checks, parallel


def collate(examples, pad_id, device):
    """Right-padded (input ids, attention mask, loss mask) of a batch of
    (ids, loss mask) examples."""
    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    loss_mask = torch.zeros((len(examples), width), dtype=torch.float32)
    for i, (x, m) in enumerate(examples):
        ids[i, :len(x)] = torch.tensor(x)
        attention[i, :len(x)] = 1
        loss_mask[i, :len(m)] = torch.tensor(m, dtype=torch.float32)
    return ids.to(device), attention.to(device), loss_mask.to(device)


class SequenceLoader:
    """Shuffled batches of variable-length examples; the order of an epoch
    is a pure function of (seed, epoch), and any batch can start it."""

    def __init__(self, examples, batch_size, seed, device, pad_id,
                 shard=None):
        self.examples, self.batch_size = examples, batch_size
        self.seed, self.device, self.pad_id = seed, device, pad_id
        self.shard = shard

    def __len__(self):
        return n_batches(len(self.examples), self.batch_size)

    def epoch(self, epoch, start=0):
        order = torch.randperm(len(self.examples),
                               generator=epoch_generator(self.seed, epoch,
                                                         "cpu"))
        for i in range(start, len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            idx = idx[shard_slice(len(idx), self.shard)].tolist()
            yield collate([self.examples[j] for j in idx], self.pad_id,
                          self.device)


def token_losses(model, batch):
    """(summed cross-entropy over the loss mask's tokens, their number)."""
    ids, attention, loss_mask = batch
    logits = model(input_ids=ids, attention_mask=attention).logits
    logits = logits[:, :-1].float()
    targets, mask = ids[:, 1:], loss_mask[:, 1:]
    losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                             reduction="none").view_as(mask)
    return (losses * mask).sum(), mask.sum()


class FineTuneTask(Task):
    """Args:
        splits: {"train", "validation", "test": list of (ids, loss mask)}.
        build_model: callable() -> the model to fine-tune.
        recipe: the experiment's ``Recipe``.
        pad_id: the padding token (ignored by the attention and the loss).
        eval_batch_size: examples per evaluation batch.
    """
    sample_unit = "tokens"

    def __init__(self, splits, build_model, recipe, pad_id,
                 eval_batch_size=32):
        checks.positive_int("eval_batch_size", eval_batch_size)
        self.splits = splits
        self._build_model = build_model
        self.recipe = recipe
        self.pad_id = pad_id
        self.eval_batch_size = eval_batch_size
        self._device = torch.device("cpu")

    @property
    def device(self):
        return self._device

    def to(self, device):
        self._device = torch.device(device)
        return self

    def build_model(self):
        return self._build_model()

    def train_loader(self, seed, shard=None):
        return SequenceLoader(self.splits["train"], self.recipe.batch_size,
                              seed, self.device, self.pad_id, shard)

    def loss(self, model, batch):
        total, n = token_losses(model, batch)
        return total / n.clamp(min=1), {"loss": total.detach(),
                                        "count": int(batch[2][:, 1:].sum())}

    @torch.no_grad()
    def evaluate(self, model, running=None):
        was_training = model.training
        model.eval()
        out = {}
        for split, name in (("validation", "val"), ("test", "test")):
            loss = self.mean_token_loss(model, self.splits[split])
            out[f"{name}_loss"] = loss
            out[f"{name}_perplexity"] = math.exp(min(loss, 700.0))
        if running:
            train = float(running["loss"]) / running["count"]
        else:
            train = self.mean_token_loss(model, self.splits["train"])
        model.train(was_training)
        return dict(value=out["val_loss"], train_loss=train, **out)

    def mean_token_loss(self, model, examples):
        """The mean cross-entropy over every completion token of
        ``examples`` (each process its share, summed)."""
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        count = torch.zeros((), dtype=torch.float64, device=self.device)
        rank, world = parallel.shard() or (0, 1)
        bs = self.eval_batch_size
        for start in range(rank * bs, len(examples), world * bs):
            batch = collate(examples[start:start + bs], self.pad_id,
                            self.device)
            with self.recipe.autocast(self.device):
                loss, n = token_losses(model, batch)
            total += loss.double()
            count += n.double()
        total = parallel.all_reduce_sum(total)
        count = parallel.all_reduce_sum(count)
        return (total / count).item()
