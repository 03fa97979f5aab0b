"""Held-out validation splits: stratified, fixed, disjoint from the
training batches and the test set; size 0 is the thesis's protocol."""
import importlib.util

import numpy as np
import pytest
import torch

from benchmark_utils.data.splits import split_tensors, stratified_holdout


def dataset(root, name, data_path=None, monkeypatch=None, **params):
    """The task of datasets/<name>.py with its default parameters but
    ``params``, reading its files from ``data_path`` when given."""
    spec = importlib.util.spec_from_file_location(
        f"ds_{name}", root / "datasets" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if data_path is not None:
        import benchmark_utils.bench.dataset as source
        for where in (module, source):   # LocalDataset.data_root too
            monkeypatch.setattr(where, "get_data_path",
                                lambda key: data_path, raising=False)
    ds = module.Dataset.__new__(module.Dataset)
    for k, v in {**{k: v[0] for k, v in module.Dataset.parameters.items()},
                 **params}.items():
        setattr(ds, k, v)
    return ds.get_data()["task"]


def test_holdout_is_stratified_disjoint_and_fixed():
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])
    train, val = stratified_holdout(labels, 20)
    assert len(val) == 20 and len(np.intersect1d(train, val)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])),
                          np.arange(100))
    assert np.bincount(labels[val]).tolist() == [10, 6, 3, 1]
    again = stratified_holdout(labels, 20)
    assert np.array_equal(val, again[1])
    train0, val0 = stratified_holdout(labels, 0)
    assert len(val0) == 0 and np.array_equal(train0, np.arange(100))


@pytest.mark.parametrize("n_val", [-1, 100, 2.5, "10"])
def test_a_bad_held_out_size_names_the_parameter(n_val):
    with pytest.raises(ValueError, match=r"n_val=.*from 0 .* to 99"):
        stratified_holdout(np.zeros(100), n_val)


def test_digits_validation_is_apart_from_training_batches_and_test(root):
    task = dataset(root, "digits", n_val=270)
    assert len(task.y_val) == 270 and len(task.y_train) == 1352 - 270
    # Every training batch of an epoch is a training image, never a
    # validation or test one (the rows are compared exactly).
    rows = lambda x: {bytes(r.numpy()) for r in x.flatten(1)}
    train, val, test = (rows(x) for x in (task.x_train, task.x_val,
                                          task.x_test))
    seen = set()
    for seed in (0, 1):
        for x, _ in task.train_loader(seed).epoch(0):
            seen |= rows(x)
    assert seen == train
    assert len(val) == 270 and not val & seen and not val & test
    # The same split for every solver and seed: get_data knows no seed.
    other = dataset(root, "digits", n_val=270)
    assert torch.equal(task.x_val, other.x_val)
    metrics = task.evaluate(task.build_model())
    assert {"val_loss", "val_acc"} <= set(metrics)


def test_size_zero_is_todays_digits_task_bit_for_bit(root):
    task = dataset(root, "digits")
    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0
    y = torch.tensor(y)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    test = torch.zeros(len(y), dtype=torch.bool)
    for c in range(10):
        idx = order[y[order] == c]
        test[idx[:len(idx) // 4]] = True
    assert torch.equal(task.x_train, x[~test])
    assert torch.equal(task.y_train, y[~test])
    assert torch.equal(task.x_test, x[test])
    assert task.x_val is None
    assert "val_loss" not in task.evaluate(task.build_model())
    x2, y2, xv, yv = split_tensors(x, y, 0)
    assert x2 is x and y2 is y and xv is None and yv is None


def test_cifar10_holds_out_its_validation_images(root, tmp_path,
                                                 monkeypatch):
    from generated_data import patch_cifar10_checksums, write_cifar10
    md5s = write_cifar10(tmp_path, n_per_batch=20, n_test=30)
    patch_cifar10_checksums(monkeypatch, md5s)
    full, held = (dataset(root, "cifar10", tmp_path, monkeypatch, n_val=n)
                  for n in (0, 10))
    assert full.x_val is None and len(full.y_train) == 100
    assert len(held.y_val) == 10 and len(held.y_train) == 90
    keep, val = stratified_holdout(full.y_train.numpy(), 10)
    assert torch.equal(held.x_val, full.x_train[torch.from_numpy(val)])
    assert torch.equal(held.x_train, full.x_train[torch.from_numpy(keep)])


def test_language_test_windows_are_disjoint_from_validation_windows():
    from benchmark_utils.tasks.language import split_validation
    val = np.arange(1000, dtype=np.uint16)
    same, none = split_validation(val, 0.0)
    assert same is val and none is None
    v, t = split_validation(val, 0.25)
    assert len(v) == 750 and len(t) == 250
    assert not set(v.tolist()) & set(t.tolist())
    with pytest.raises(ValueError, match="test_fraction=1.0"):
        split_validation(val, 1.0)


def test_tokens_dataset_reports_a_test_loss_with_a_test_fraction(root):
    task = dataset(root, "tokens", test_fraction=0.5, max_steps=1,
                   eval_batches=1, batch_size=2)
    model = task.build_model()
    metrics = task.evaluate(model)
    assert {"val_loss", "test_loss", "test_perplexity"} <= set(metrics)
    assert metrics["val_loss"] != metrics["test_loss"]
    plain = dataset(root, "tokens", max_steps=1, eval_batches=1,
                    batch_size=2)
    assert "test_loss" not in plain.evaluate(model)


def test_imagenet_holds_out_training_images_and_keeps_its_test_split(
        root, tmp_path, monkeypatch):
    from generated_data import write_image_folder
    files = write_image_folder(tmp_path, n_train=4, n_val=2, size=(40, 30))
    full, held = (dataset(root, "imagenet", tmp_path, monkeypatch, n_val=n,
                          n_workers=0) for n in (0, 3))
    assert full.val_set is None and len(full.train_set) == 12
    assert len(full.test_set) == len(files["val"]) == 6
    paths = lambda d: {d.dataset.samples[i][0] for i in d.indices}
    val, train = paths(held.val_set), paths(held.train_set)
    assert len(val) == 3 and not val & train
    assert len(train | val) == 12 and len(held.test_set) == 6
    # One image of each of the three classes.
    assert sorted(held.val_set.dataset.samples[i][1]
                  for i in held.val_set.indices) == [0, 1, 2]
