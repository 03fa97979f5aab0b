"""Held-out validation splits: a fixed, seeded, class-stratified part of the
training set, kept apart for selecting hyperparameters so that the test set
only reports. The split depends on the labels and its own seed alone, never
on a run's seed: every solver and every repetition sees the same one."""
import numpy as np
import torch

SPLIT_SEED = 0


def check_n_val(n_val, n_total, name="n_val"):
    """``n_val`` as an int, or a clear error naming it and what is allowed."""
    try:
        n = int(n_val)
    except (TypeError, ValueError):
        n = None
    if n is None or n != n_val or not 0 <= n < n_total:
        raise ValueError(
            f"{name}={n_val!r}: the held-out validation size must be an "
            f"integer from 0 (no validation split, the thesis's protocol) to "
            f"{n_total - 1} (the training set has {n_total} examples).")
    return n


def stratified_holdout(labels, n_val, seed=SPLIT_SEED):
    """(train indices, validation indices), sorted, disjoint, covering
    ``range(len(labels))``; the validation part has ``n_val`` examples
    spread over the classes in proportion to their sizes (largest
    remainders), each class shuffled by ``seed``.

    ``n_val = 0`` returns every index as training, none held out."""
    labels = np.asarray(labels)
    n_val = check_n_val(n_val, len(labels))
    if n_val == 0:
        return np.arange(len(labels)), np.arange(0)
    classes, counts = np.unique(labels, return_counts=True)
    quota = n_val * counts / len(labels)
    take = np.floor(quota).astype(int)
    extra = n_val - take.sum()
    take[np.argsort(-(quota - take), kind="stable")[:extra]] += 1
    gen = torch.Generator().manual_seed(seed)
    val = []
    for c, k in zip(classes, take):
        idx = np.flatnonzero(labels == c)
        order = torch.randperm(len(idx), generator=gen).numpy()
        val.append(idx[order[:k]])
    val = np.sort(np.concatenate(val))
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


def split_tensors(x, y, n_val):
    """(x, y, x_val, y_val): ``stratified_holdout`` of tensors; with
    ``n_val = 0`` the inputs themselves and (None, None)."""
    keep, held = stratified_holdout(y.cpu().numpy(), n_val)
    if len(held) == 0:
        return x, y, None, None
    keep, held = torch.from_numpy(keep), torch.from_numpy(held)
    return x[keep], y[keep], x[held], y[held]
