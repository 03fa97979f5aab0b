"""Mini-batches: from tensors held in memory (on the GPU when there is one),
or from image files decoded by DataLoader workers.

The data order of a run is a pure function of (seed, epoch): every solver of a
repetition sees the same batches, and a resumed run sees the batches it would
have seen. Every loader can start an epoch at any batch (``start``, to resume
a run there) and, in a data-parallel run, yield only this process's share of
each batch (``shard = (rank, world_size)``, given at construction); the union of the shards is the
batch a single process would have drawn, augmentations included.
"""
import torch

from benchmark_utils.training import checks


def epoch_generator(seed, epoch, device, batch=None):
    """The generator of an epoch (its order), or of one of its batches (its
    augmentation): each batch draws from its own, so that any batch can be
    produced without the ones before it."""
    gen = torch.Generator(device=device)
    key = int(seed) * 1_000_003 + int(epoch)
    if batch is not None:
        key = key * 1_000_033 + int(batch) + 1
    gen.manual_seed(key % (2 ** 63))
    return gen


def n_batches(n, batch_size):
    """Batches of an epoch of ``n`` examples, the last one possibly
    smaller."""
    return -(-n // batch_size)


def subset_indices(n_total, n, seed=0, name="n_train"):
    """The indices of a fixed random subset of ``n`` of ``n_total`` items,
    or None to keep them all (``n`` None or too large)."""
    checks.positive_int(name, n, allow_none=True)
    if n is None or n >= n_total:
        return None
    order = torch.randperm(n_total,
                           generator=torch.Generator().manual_seed(seed))
    return order[:int(n)]


def shard_slice(n, shard):
    """This process's contiguous part of ``n`` items, for shard = (rank,
    world_size); sizes differ by at most one."""
    if shard is None:
        return slice(0, n)
    rank, world = shard
    return slice(n * rank // world, n * (rank + 1) // world)


class TensorLoader:
    """Shuffled mini-batches of ``(x, y)``, with an optional batched
    ``transform(x, generator)`` (augmentation, scaling) applied per batch."""

    def __init__(self, x, y, batch_size, seed, transform=None, shard=None):
        if len(x) != len(y):
            raise ValueError("x and y differ in length.")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.seed = seed
        self.transform = transform
        self.shard = shard

    def __len__(self):
        return n_batches(len(self.x), self.batch_size)

    def epoch(self, epoch, start=0):
        """Yield the batches of epoch ``epoch`` (0-based), from batch
        ``start`` on."""
        device = self.x.device
        gen = epoch_generator(self.seed, epoch, device)
        order = torch.randperm(len(self.x), generator=gen, device=device)
        for i in range(start, len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            xb, yb = self.x[idx], self.y[idx]
            if self.transform is not None:
                # The whole batch is augmented, then sharded: the draws are
                # those of a single process.
                xb = self.transform(xb, epoch_generator(self.seed, epoch,
                                                        device, batch=i))
            part = shard_slice(len(yb), self.shard)
            yield xb[part], yb[part]


def batches(x, y, batch_size, transform=None, shard=None):
    """Unshuffled batches for evaluation (with ``shard``, every world_size-th
    batch from the rank-th: a data-parallel process's share)."""
    rank, world = shard or (0, 1)
    for i in range(rank * batch_size, len(x), world * batch_size):
        xb = x[i:i + batch_size]
        if transform is not None:
            xb = transform(xb, None)
        yield xb, y[i:i + batch_size]


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
            try:
                return self.dataset[index]
            except Exception as e:
                # Inside a worker, PIL's error names no file: name it.
                path = sample_path(self.dataset, index)
                if path is None:
                    raise
                raise RuntimeError(
                    f"{path}: unreadable image ({e}). Replace it from the "
                    "original archive, or delete it.") from e


def sample_path(dataset, index):
    """The file behind item ``index`` of a torchvision image dataset
    (ImageFolder, Food101), through Subsets; None when unknown."""
    while isinstance(dataset, torch.utils.data.Subset):
        dataset, index = dataset.dataset, dataset.indices[index]
    samples = getattr(dataset, "samples", None)        # ImageFolder
    if samples is not None:
        return samples[index][0]
    files = getattr(dataset, "_image_files", None)     # Food101
    return None if files is None else files[index]


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
                 num_workers=0, shuffle=True, shard=None):
        self.dataset = SeededSamples(dataset)
        self.batch_size = batch_size
        self.seed = seed
        self.device = torch.device(device)
        self.to_input = to_input
        self.num_workers = num_workers
        self.shuffle = shuffle
        self.shard = shard

    def __len__(self):
        return n_batches(len(self.dataset), self.batch_size)

    def epoch(self, epoch, start=0):
        """Yield the batches of epoch ``epoch`` (0-based), from batch
        ``start`` on, on the device. Each process decodes only its shard."""
        n = len(self.dataset)
        gen = epoch_generator(self.seed, epoch, "cpu")
        order = (torch.randperm(n, generator=gen) if self.shuffle
                 else torch.arange(n))
        seeds = torch.randint(0, 2 ** 62, (n,), generator=gen)
        keys = list(zip(order.tolist(), seeds.tolist()))
        bs = self.batch_size
        batches = [keys[i * bs:(i + 1) * bs] for i in range(start, len(self))]
        batches = [b[shard_slice(len(b), self.shard)] for b in batches]
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=batches,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if self.num_workers else None)
        for x, y in loader:
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            yield self.to_input(x), y
