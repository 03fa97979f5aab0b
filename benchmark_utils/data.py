"""Mini-batches: from tensors held in memory (on the GPU when there is one),
or from image files decoded by DataLoader workers.

The data order of a run is a pure function of (seed, epoch): every solver of a
repetition sees the same batches, and a resumed run sees the batches it would
have seen.
"""
import torch


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

    Crop, padding and flip are one gather on the uint8 batch: each output
    pixel reads its reflected, shifted, maybe mirrored source pixel, so no
    padded copy is made and the float conversion happens once, fused with
    the normalization. ``channels_last`` returns NHWC-strided batches for
    channels_last models.
    """

    def __init__(self, mean, std, crop_padding=4, flip=True,
                 channels_last=False):
        mean, std = torch.tensor(mean), torch.tensor(std)
        # (x / 255 - mean) / std == x * scale + shift
        self.scale = (1 / (255 * std)).view(1, -1, 1, 1)
        self.shift = (-mean / std).view(1, -1, 1, 1)
        self.pad = crop_padding
        self.flip = flip
        self.memory_format = (torch.channels_last if channels_last
                              else torch.contiguous_format)

    def normalize(self, x):
        scale = self.scale.to(x.device)
        shift = self.shift.to(x.device)
        x = x.to(torch.float32, memory_format=self.memory_format)
        return torch.addcmul(shift, x, scale)

    def __call__(self, x, generator):
        if generator is None:
            return self.normalize(x)
        n, c, h, w = x.shape
        dev, p = x.device, self.pad
        # Same draws, in the same order, as pad -> crop -> flip.
        if p:
            dy = torch.randint(0, 2 * p + 1, (n, 1), generator=generator,
                               device=dev)
            dx = torch.randint(0, 2 * p + 1, (n, 1), generator=generator,
                               device=dev)
        else:
            dy = dx = torch.full((n, 1), 0, device=dev)
        cols = torch.arange(w, device=dev).expand(n, w)
        if self.flip:
            flip = torch.rand(n, 1, generator=generator, device=dev) < 0.5
            cols = torch.where(flip, w - 1 - cols, cols)
        rows = _reflect(torch.arange(h, device=dev) + dy - p, h)
        cols = _reflect(cols + dx - p, w)
        index = (rows[:, :, None] * w + cols[:, None, :]).view(n, 1, h * w)
        x = x.reshape(n, c, h * w).gather(2, index.expand(n, c, h * w))
        return self.normalize(x.view(n, c, h, w))


def _reflect(i, size):
    """Indices outside [0, size) mirrored back, without repeating the edge
    (F.pad's "reflect")."""
    return (size - 1) - ((size - 1) - i.abs()).abs()


class SeededSamples(torch.utils.data.Dataset):
    """Wraps a map-style dataset whose transform draws from torch's global
    RNG (torchvision's transforms): item ``(index, seed)`` is sample
    ``index`` transformed under ``torch.manual_seed(seed)``, so an
    augmentation depends on (run seed, epoch, index) only, not on the
    number of workers nor on which worker decodes it."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]


class DatasetLoader:
    """Batches of a map-style dataset of (uint8 CHW image, label) pairs
    through a torch DataLoader: decoding and augmentation run in
    ``num_workers`` worker processes, uint8 batches are pinned, copied to
    ``device`` asynchronously and converted there by ``to_input`` (a
    callable(uint8 batch) -> model input, e.g. normalization).

    With ``shuffle`` the order and the augmentations of epoch ``e`` are a
    pure function of (seed, e), as for ``TensorLoader``.
    """

    def __init__(self, dataset, batch_size, seed, device, to_input,
                 num_workers=0, shuffle=True, drop_last=False):
        self.dataset = SeededSamples(dataset)
        self.batch_size = batch_size
        self.seed = seed
        self.device = torch.device(device)
        self.to_input = to_input
        self.num_workers = num_workers
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self):
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def epoch(self, epoch):
        """Yield the batches of epoch ``epoch`` (0-based), on the device."""
        n = len(self.dataset)
        gen = epoch_generator(self.seed, epoch, "cpu")
        order = (torch.randperm(n, generator=gen) if self.shuffle
                 else torch.arange(n))
        seeds = torch.randint(0, 2 ** 62, (n,), generator=gen)
        keys = list(zip(order.tolist(), seeds.tolist()))
        if self.drop_last:
            keys = keys[:len(self) * self.batch_size]
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=self.batch_size, sampler=keys,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if self.num_workers else None)
        for x, y in loader:
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            yield self.to_input(x), y
