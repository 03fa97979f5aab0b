"""torchvision's ImageNet networks: trained from scratch (ImageNet) or
loaded with their ImageNet-1k weights and fine-tuned (Food101)."""
from pathlib import Path

import torch
from torch import nn

from benchmark_utils.data.download import DataNotFound, downloading


# ImageNet networks, trained from scratch: torchvision's own definitions.
IMAGENET_MODELS = ("resnet18", "resnet50", "vit_b_32")


def build_imagenet_model(name, n_classes=1000):
    import torchvision
    if name not in IMAGENET_MODELS:
        raise ValueError(f"Unknown ImageNet model {name!r}, expected one of "
                         f"{list(IMAGENET_MODELS)}.")
    return getattr(torchvision.models, name)(weights=None,
                                             num_classes=n_classes)


# Fine-tuning (Food101): torchvision's ImageNet-1k weights, the thesis
# authors' choices (innaprop/innaprop, classification/finetune_with_best_args
# .py): "vgg11" is torchvision's vgg11_bn (VGG11 with batch norm) with
# classifier dropout 0.2; "resnet18" is torchvision's resnet18.
PRETRAINED_MODELS = ("vgg11", "resnet18")


def _pretrained_weights(name):
    import torchvision
    enum = {"vgg11": torchvision.models.VGG11_BN_Weights,
            "resnet18": torchvision.models.ResNet18_Weights}[name]
    return enum.IMAGENET1K_V1


def pretrained_file_name(name):
    """The weights file's name, as torchvision downloads it (its hash
    prefix is checked on download), e.g. resnet18-f37072fd.pth."""
    return _pretrained_weights(name).url.rsplit("/", 1)[-1]


def load_pretrained_state(name, weights_dir=None):
    """ImageNet-1k weights of ``name``: from ``weights_dir`` when the file
    is there, else through torchvision's weights API (its cache in
    ``torch.hub.get_dir()``/checkpoints, downloading there if absent and
    checking the hash in its name)."""
    if name not in PRETRAINED_MODELS:
        raise ValueError(f"No pretrained model {name!r}, expected one of "
                         f"{list(PRETRAINED_MODELS)}.")
    weights = _pretrained_weights(name)
    file_name = pretrained_file_name(name)
    local = None if weights_dir is None else Path(weights_dir) / file_name
    if local is not None and local.exists():
        try:
            return torch.load(local, map_location="cpu", weights_only=True)
        except Exception as e:
            raise RuntimeError(
                f"The weights file {local} is unreadable ({type(e).__name__}"
                f": {str(e).splitlines()[0]}): it is truncated or not "
                f"torchvision's {file_name}. Download {weights.url} again "
                "and replace it.") from e
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        with downloading(cache):
            return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as e:  # offline, or a corrupted download
        where = (f"{Path(weights_dir) / file_name} or " if weights_dir
                 else "")
        raise DataNotFound(
            f"The ImageNet weights of {name} were not found in "
            f"{where}{cache / file_name}, and downloading them failed "
            f"({e!r}). Download {weights.url} on a machine with internet "
            f"access and put it in {cache}/ (torchvision's cache), or in a "
            "folder that config.yml's data_paths names, e.g. "
            "data_paths: {pretrained: /path/to/folder}.") from e


def build_pretrained_model(name, n_classes, state):
    """torchvision's ``name`` loaded with ``state`` (its 1000-class ImageNet
    weights), the last layer replaced by a fresh ``n_classes`` one."""
    import torchvision
    if name == "vgg11":
        model = torchvision.models.vgg11_bn(weights=None, dropout=0.2)
        model.load_state_dict(state)
        model.classifier[6] = nn.Linear(model.classifier[6].in_features,
                                        n_classes)
    elif name == "resnet18":
        model = torchvision.models.resnet18(weights=None)
        model.load_state_dict(state)
        model.fc = nn.Linear(model.fc.in_features, n_classes)
    else:
        raise ValueError(f"No pretrained model {name!r}, expected one of "
                         f"{list(PRETRAINED_MODELS)}.")
    return model
