"""The networks of the CIFAR-10 experiments (and the digits CNN).

CIFAR forms keep the 32x32 resolution at the stem (3x3 convolution, no
initial downsampling).
"""
import torch
from torch import nn
import torch.nn.functional as F

from benchmark_utils.models import nonsmooth


class SmallCNN(nn.Module):
    """Two convolutions and a linear head, for 8x8 digits (quickstart)."""

    def __init__(self, in_channels=1, n_classes=10, width=16, image_size=8):
        super().__init__()
        flat = 2 * width * (image_size // 2) ** 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, 64), nn.ReLU(), nn.Linear(64, n_classes)
        )

    def forward(self, x):
        return self.head(self.features(x))


VGG_CONFIGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
}


class VGG(nn.Module):
    """VGG with batch norm for 32x32 inputs: five poolings leave 512x1x1.

    The differentiation knobs of the thesis's chapter 3 (see nonsmooth.py):
    ``maxpool`` ("native", "minimal" or "hybrid" with ``maxpool_beta``),
    ``relu_prime0`` (0 or 1) and ``batchnorm``; the defaults build torch's
    own layers."""

    def __init__(self, name="vgg11", n_classes=10, maxpool="native",
                 maxpool_beta=0.0, relu_prime0=0, batchnorm=True):
        super().__init__()
        custom = (maxpool, relu_prime0) != ("native", 0)
        layers, channels = [], 3
        for v in VGG_CONFIGS[name]:
            if v == "M":
                layers.append(nonsmooth.MaxPool2d(2, 2, maxpool, maxpool_beta)
                              if custom else nn.MaxPool2d(2))
            else:
                layers.append(nn.Conv2d(channels, v, 3, padding=1))
                if batchnorm:
                    layers.append(nn.BatchNorm2d(v))
                layers.append(nonsmooth.ReLU(relu_prime0) if custom
                              else nn.ReLU(inplace=True))
                channels = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, n_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-18 for CIFAR: 3x3 stem with stride 1 and no max pooling."""

    def __init__(self, blocks=(2, 2, 2, 2), n_classes=10):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(64, blocks[0], 1)
        self.layer2 = self._make_layer(128, blocks[1], 2)
        self.layer3 = self._make_layer(256, blocks[2], 2)
        self.layer4 = self._make_layer(512, blocks[3], 2)
        self.linear = nn.Linear(512, n_classes)

    def _make_layer(self, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (bottleneck to 4k channels), BN-ReLU-conv3x3 (k new
    channels), concatenated to the input."""

    def __init__(self, in_planes, growth_rate):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, 4 * growth_rate, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth_rate)
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, 3, padding=1,
                               bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([x, out], 1)


class Transition(nn.Module):
    """BN-ReLU-conv1x1 halving the channels, then 2x2 average pooling."""

    def __init__(self, in_planes, out_planes):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class CifarDenseNet(nn.Module):
    """DenseNet-BC for CIFAR (Huang et al. 2017): growth rate 32, blocks
    (6, 12, 24, 16) for DenseNet-121, compression 0.5. The stem is one 3x3
    convolution to 2k channels with stride 1 (torchvision's ImageNet form has
    a 7x7 stride-2 convolution, batch norm and max pooling instead)."""

    def __init__(self, blocks=(6, 12, 24, 16), growth_rate=32, n_classes=10):
        super().__init__()
        planes = 2 * growth_rate
        self.conv1 = nn.Conv2d(3, planes, 3, padding=1, bias=False)
        stages = []
        for i, n in enumerate(blocks):
            for _ in range(n):
                stages.append(DenseLayer(planes, growth_rate))
                planes += growth_rate
            if i < len(blocks) - 1:
                stages.append(Transition(planes, planes // 2))
                planes //= 2
        self.features = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(planes)
        self.linear = nn.Linear(planes, n_classes)

    def forward(self, x):
        out = F.relu(self.bn(self.features(self.conv1(x))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


# name -> (builder, expected parameter count with 10 classes). VGG11 and
# ResNet-18 are the CIFAR forms of kuangliu/pytorch-cifar; DenseNet-121 is
# torchvision's 7,978,856 with the 3x3 stem (-9,408 - 128 + 1,728) and a
# 10-class head (-1,025,000 + 10,250).
CIFAR_MODELS = {
    "vgg11": (lambda n_classes, **knobs: VGG("vgg11", n_classes, **knobs),
              9_231_114),
    "resnet18": (lambda n_classes: CifarResNet((2, 2, 2, 2), n_classes),
                 11_173_962),
    "densenet121": (lambda n_classes: CifarDenseNet((6, 12, 24, 16), 32,
                                                    n_classes), 6_956_298),
}


# The differentiation knobs and their defaults (torch's own layers).
KNOBS = {"maxpool": "native", "maxpool_beta": 0.0, "relu_prime0": 0,
         "batchnorm": True}


def build_cifar_model(name, n_classes=10, **knobs):
    """``knobs`` (KNOBS) apply to VGG11 only, as in the thesis."""
    if name not in CIFAR_MODELS:
        raise ValueError(f"Unknown CIFAR model {name!r}, expected one of "
                         f"{sorted(CIFAR_MODELS)}.")
    changed = {k: v for k, v in knobs.items() if KNOBS.get(k, v) != v}
    if name != "vgg11" and changed:
        raise ValueError(f"{', '.join(changed)} apply to model=vgg11 only, "
                         f"not {name}.")
    return CIFAR_MODELS[name][0](n_classes, **(knobs if name == "vgg11"
                                               else {}))


def torchvision_vgg11(n_classes=10, batchnorm=True, **knobs):
    """torchvision's VGG11 (vgg11_bn with batch norm), the form the thesis's
    chapter 3 cites: adaptive average pooling to 7x7 and three fully
    connected layers (25088 -> 4096 -> 4096 -> classes, dropout 0.5), 129M
    parameters at 10 classes. Its layers keep PyTorch's default
    (Kaiming-uniform) initialisation, as chapter 3's draws theta_m do,
    instead of torchvision's own re-initialisation; ``knobs`` are
    nonsmooth.with_knobs's."""
    import torchvision
    build = torchvision.models.vgg11_bn if batchnorm else \
        torchvision.models.vgg11
    model = build(weights=None, num_classes=n_classes, init_weights=False)
    return nonsmooth.with_knobs(model, **knobs)
