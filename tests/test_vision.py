"""Vision workloads: the model zoo, the CIFAR-10 augmentation, the ImageNet
and Food101 readers on generated files in the real layouts, the DataLoader
batches, pretrained weights, and top-5 accuracy."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

from benchmark_utils import models
from benchmark_utils.data.augment import ImageAugment
from benchmark_utils.data.loaders import DatasetLoader
from benchmark_utils.models.cifar import build_cifar_model
from benchmark_utils.models.imagenet import (build_imagenet_model,
                                            build_pretrained_model,
                                            load_pretrained_state)
from benchmark_utils.training.recipe import Recipe
from benchmark_utils.tasks.image import ClassificationTask
from benchmark_utils.data.augment import (IMAGENET_MEAN, IMAGENET_STD,
                                          Normalize, eval_transform,
                                          train_transform)
from benchmark_utils.data.image_folders import load_food101, load_imagenet
from generated_data import write_food101, write_image_folder


def published(name):
    """torchvision's published parameter count of its ImageNet model."""
    return torchvision.models.get_model_weights(name).IMAGENET1K_V1.meta[
        "num_params"]


def linear(n_in, n_out):
    return n_in * n_out + n_out


def conv(k, c_in, c_out):
    return k * k * c_in * c_out


VGG_CLASSIFIER = linear(25088, 4096) + linear(4096, 4096) + linear(4096, 1000)

# Expected counts, from torchvision's published ones by architecture
# arithmetic: CIFAR forms swap the stem for a 3x3 convolution without
# downsampling (DenseNet: and no stem batch norm) and the head for 10
# classes; VGG11 for CIFAR keeps vgg11_bn's features and one 512 -> 10 layer
# (kuangliu/pytorch-cifar's 9,231,114 and 11,173,962).
EXPECTED = {
    ("cifar", "vgg11"): lambda: published("vgg11_bn") - VGG_CLASSIFIER
    + linear(512, 10),
    ("cifar", "resnet18"): lambda: published("resnet18") - conv(7, 3, 64)
    + conv(3, 3, 64) - linear(512, 1000) + linear(512, 10),
    ("cifar", "densenet121"): lambda: published("densenet121")
    - conv(7, 3, 64) - 2 * 64 + conv(3, 3, 64) - linear(1024, 1000)
    + linear(1024, 10),
    ("imagenet", "resnet18"): lambda: published("resnet18"),
    ("imagenet", "resnet50"): lambda: published("resnet50"),
    ("imagenet", "vit_b_32"): lambda: published("vit_b_32"),
    ("pretrained", "vgg11"): lambda: published("vgg11_bn")
    - linear(4096, 1000) + linear(4096, 101),
    ("pretrained", "resnet18"): lambda: published("resnet18")
    - linear(512, 1000) + linear(512, 101),
}
# Smallest inputs each network takes (ViT-B/32 is built for 224x224).
SIZES = {"cifar": 32, "imagenet": 64, "pretrained": 32}


def build(kind, name):
    if kind == "cifar":
        return build_cifar_model(name, 10), 10
    if kind == "imagenet":
        return build_imagenet_model(name, 1000), 1000
    imagenet = {"vgg11": torchvision.models.vgg11_bn,
                "resnet18": torchvision.models.resnet18}[name]
    state = imagenet(weights=None).state_dict()
    return build_pretrained_model(name, 101, state), 101


@pytest.mark.parametrize("kind,name", sorted(EXPECTED))
def test_model_has_its_parameter_count_and_trains(kind, name):
    torch.manual_seed(0)
    model, n_classes = build(kind, name)
    assert models.n_parameters(model) == EXPECTED[kind, name]()
    size = 224 if name == "vit_b_32" else SIZES[kind]
    x = torch.randn(2, 3, size, size)
    y = torch.tensor([0, n_classes - 1])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    # Two steps: ViT's head starts at zero, so at the first one only the
    # head has a gradient.
    for _ in range(2):
        logits = model(x)
        assert logits.shape == (2, n_classes)
        loss = F.cross_entropy(logits, y)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    # Every parameter takes part in training.
    idle = [n for n, p in model.named_parameters()
            if p.grad is None or not p.grad.abs().sum() > 0]
    assert idle == []


def test_cifar_augmentation_is_the_padded_crop_and_flip_it_replaces():
    """One gather on uint8 == F.pad(reflect) + crop + flip on the normalized
    batch, with the same random draws."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8,
                      generator=gen)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    out = ImageAugment(mean, std)(x, torch.Generator().manual_seed(5))

    g = torch.Generator().manual_seed(5)
    ref = (x.double() / 255 - torch.tensor(mean).double().view(1, 3, 1, 1)) \
        / torch.tensor(std).double().view(1, 3, 1, 1)
    ref = F.pad(ref, (4, 4, 4, 4), mode="reflect")
    dy = torch.randint(0, 9, (64,), generator=g)
    dx = torch.randint(0, 9, (64,), generator=g)
    flip = torch.rand(64, generator=g) < 0.5
    ref = torch.stack([ref[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
                       for i in range(64)])
    ref = torch.where(flip[:, None, None, None], ref.flip(3), ref)
    torch.testing.assert_close(out.double(), ref, rtol=0, atol=1e-5)
    assert 0 < flip.sum() < 64


def test_channels_last_changes_the_layout_not_the_values():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    mean, std = (0.5, 0.5, 0.5), (0.2, 0.3, 0.4)
    a = ImageAugment(mean, std)(x, torch.Generator().manual_seed(1))
    b = ImageAugment(mean, std, channels_last=True)(
        x, torch.Generator().manual_seed(1))
    assert b.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(a, b)
    n = Normalize(channels_last=True)(x)
    expected = (x.double() / 255 - torch.tensor(IMAGENET_MEAN).double()
                .view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).double() \
        .view(1, 3, 1, 1)
    assert n.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(n.double(), expected, rtol=0, atol=1e-5)


def test_imagenet_reader_on_an_image_folder_tree(tmp_path):
    files = write_image_folder(tmp_path, n_train=3, n_val=2, size=(80, 60))
    train, val, train_eval = load_imagenet(tmp_path)
    assert train.classes == ["n01440764", "n01443537", "n01484850"]
    assert len(train) == 9 and len(val) == 6 and len(train_eval) == 9
    assert [label for _, label in train.samples] == \
        [label for _, label in files["train"]]
    # Training: a random resized 224x224 crop, uint8.
    x, label = train[4]
    assert x.shape == (3, 224, 224) and x.dtype == torch.uint8
    assert label == files["train"][4][1]
    # Training metrics in eval mode: the same images, the test transform.
    image = Image.open(files["train"][4][0]).convert("RGB")
    assert torch.equal(train_eval[4][0], eval_transform()(image))
    # Test: shorter side to 256 (bilinear), center 224x224 crop.
    path, label = files["val"][3]
    image = Image.open(path).convert("RGB")
    resized = np.asarray(image.resize((341, 256), Image.BILINEAR))
    top, left = round((256 - 224) / 2), round((341 - 224) / 2)
    expected = resized[top:top + 224, left:left + 224].transpose(2, 0, 1)
    x, y = val[3]
    assert y == label
    assert np.array_equal(x.numpy(), expected)


def test_imagenet_missing_or_inconsistent_says_what_to_do(tmp_path):
    with pytest.raises(RuntimeError, match="data_paths"):
        load_imagenet(tmp_path / "absent")
    write_image_folder(tmp_path, classes=("n01", "n02"), n_train=1, n_val=1)
    (tmp_path / "val" / "n02").rename(tmp_path / "val" / "n03")
    with pytest.raises(RuntimeError, match="same class folders"):
        load_imagenet(tmp_path)


def test_food101_reader_follows_the_meta_split(tmp_path):
    files = write_food101(tmp_path, n_train=3, n_test=2)
    train, test, train_eval = load_food101(
        tmp_path, eval_transform(), eval_transform(), download=False)
    assert train.classes == ["apple_pie", "baby_back_ribs", "waffles"]
    assert len(train) == 9 and len(test) == 6
    meta = json.loads((tmp_path / "food-101" / "meta" / "test.json")
                      .read_text())
    assert sum(map(len, meta.values())) == len(test)
    for i, (path, label) in enumerate(files["test"]):
        x, y = test[i]
        assert y == label and x.shape == (3, 224, 224)
        assert torch.equal(x, eval_transform()(Image.open(path)
                                               .convert("RGB")))


def test_food101_missing_offline_says_where_to_put_it(tmp_path, monkeypatch):
    import torchvision.datasets.food101 as food

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(food, "download_and_extract_archive", offline)
    with pytest.raises(RuntimeError, match="data_paths") as info:
        load_food101(tmp_path, None, None, download=True)
    assert "no network" in str(info.value)


def test_dataloader_batches_depend_on_seed_and_epoch_only(tmp_path):
    """Same batches (order and augmentations) with 0 or 2 worker
    processes; another epoch gives others; each epoch sees every image."""
    write_image_folder(tmp_path, n_train=3, n_val=1, size=(48, 40))
    train, _, _ = load_imagenet(tmp_path, train_tf=train_transform(32))

    def epoch(workers, e):
        loader = DatasetLoader(train, 4, seed=7, device="cpu",
                               to_input=lambda x: x, num_workers=workers)
        assert len(loader) == 3
        return list(loader.epoch(e))

    a, b, c = epoch(0, 0), epoch(2, 0), epoch(0, 1)
    assert [len(y) for _, y in a] == [4, 4, 1]
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(torch.cat([x for x, _ in a]),
                           torch.cat([x for x, _ in c]))
    labels = sorted(torch.cat([y for _, y in a]).tolist())
    assert labels == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_pretrained_weights_from_a_local_file(tmp_path):
    torch.manual_seed(1)
    saved = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(saved, tmp_path / "resnet18-f37072fd.pth")
    state = load_pretrained_state("resnet18", tmp_path)
    model = build_pretrained_model("resnet18", 101, state)
    loaded = model.state_dict()
    for key, value in saved.items():
        if not key.startswith("fc."):
            assert torch.equal(loaded[key], value), key
    assert model.fc.out_features == 101


def test_pretrained_weights_missing_offline_say_where_to_put_them(
        tmp_path, monkeypatch):
    import torch.hub

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(RuntimeError) as info:
        load_pretrained_state("vgg11", tmp_path / "weights")
    message = str(info.value)
    assert "vgg11_bn-6002323d.pth" in message and "no network" in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "data_paths" in message and "download.pytorch.org" in message


def test_top5_accuracy_and_eval_loss_match_a_float64_reference():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 12, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 12, (50,), generator=gen)
    task = ClassificationTask(
        logits.float(), y, logits.float(), y,
        build_model=lambda n: torch.nn.Identity(),
        recipe=Recipe(batch_size=8, epochs=1), n_classes=12,
        eval_batch_size=16, top5=True)
    metrics = task.evaluate(torch.nn.Identity())
    ranks = (logits > logits[torch.arange(50), y][:, None]).sum(1)
    assert metrics["test_top5"] == pytest.approx(
        100 * (ranks < 5).double().mean().item())
    assert metrics["test_acc"] == pytest.approx(
        100 * (ranks == 0).double().mean().item())
    assert metrics["test_loss"] == pytest.approx(
        F.cross_entropy(logits, y).item(), rel=1e-6)
    assert 0 < metrics["test_acc"] < metrics["test_top5"] < 100
