"""Mini-batches from tensors held in memory (on the GPU when there is one).

The data order of a run is a pure function of (seed, epoch): every solver of a
repetition sees the same batches, and a resumed run sees the batches it would
have seen.
"""
import torch
import torch.nn.functional as F


def epoch_generator(seed, epoch, device):
    gen = torch.Generator(device=device)
    gen.manual_seed((int(seed) * 1_000_003 + int(epoch)) % (2 ** 63))
    return gen


class TensorLoader:
    """Shuffled mini-batches of ``(x, y)``, with an optional batched
    ``transform(x, generator)`` (augmentation, scaling) applied per batch."""

    def __init__(self, x, y, batch_size, seed, transform=None,
                 drop_last=False):
        if len(x) != len(y):
            raise ValueError("x and y differ in length.")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.seed = seed
        self.transform = transform
        self.drop_last = drop_last

    def __len__(self):
        n = len(self.x)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def epoch(self, epoch):
        """Yield the batches of epoch ``epoch`` (0-based)."""
        device = self.x.device
        gen = epoch_generator(self.seed, epoch, device)
        order = torch.randperm(len(self.x), generator=gen, device=device)
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            xb, yb = self.x[idx], self.y[idx]
            if self.transform is not None:
                xb = self.transform(xb, gen)
            yield xb, yb


def batches(x, y, batch_size, transform=None):
    """Unshuffled batches for evaluation."""
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        if transform is not None:
            xb = transform(xb, None)
        yield xb, y[i:i + batch_size]


class ImageAugment:
    """Thesis augmentation as batched tensor ops on uint8 NCHW images:
    random crop with reflect padding, random horizontal flip, then
    normalization. With ``generator=None`` (evaluation) it only normalizes.
    """

    def __init__(self, mean, std, crop_padding=4, flip=True):
        self.mean = torch.tensor(mean).view(1, -1, 1, 1)
        self.std = torch.tensor(std).view(1, -1, 1, 1)
        self.pad = crop_padding
        self.flip = flip

    def normalize(self, x):
        mean = self.mean.to(x.device)
        std = self.std.to(x.device)
        return (x.float().div_(255) - mean) / std

    def __call__(self, x, generator):
        x = self.normalize(x)
        if generator is None:
            return x
        n, _, h, w = x.shape
        if self.pad:
            p = self.pad
            x = F.pad(x, (p, p, p, p), mode="reflect")
            dy = torch.randint(0, 2 * p + 1, (n,), generator=generator,
                               device=x.device)
            dx = torch.randint(0, 2 * p + 1, (n,), generator=generator,
                               device=x.device)
            rows = (dy[:, None] + torch.arange(h, device=x.device))
            cols = (dx[:, None] + torch.arange(w, device=x.device))
            x = x[torch.arange(n, device=x.device)[:, None, None, None],
                  torch.arange(x.shape[1], device=x.device)[None, :, None,
                                                              None],
                  rows[:, None, :, None], cols[:, None, None, :]]
        if self.flip:
            flip = torch.rand(n, generator=generator, device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x
