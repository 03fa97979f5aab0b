"""LeNet-5 for 28x28 MNIST, as the implementation the thesis's chapter 3
cites (ChawDoe/LeNet5-MNIST-PyTorch, model.py): two 5x5 convolutions (6 and
16 channels) each followed by a 2x2 MaxPool, then 256 -> 120 -> 84 -> 10
linear layers, each followed by a ReLU, the last one included, and no
nonlinearity after the convolutions (that implementation's choices, kept).

The differentiation knobs of nonsmooth.py: ``maxpool`` and
``maxpool_beta``, ``relu_prime0``, and ``batchnorm`` (BatchNorm2d after
each convolution, off by default as in the cited model).
"""
from torch import nn

from benchmark_utils.models import nonsmooth


class LeNet5(nn.Module):
    def __init__(self, n_classes=10, maxpool="native", maxpool_beta=0.0,
                 relu_prime0=0, batchnorm=False):
        super().__init__()

        def pool():
            return nonsmooth.MaxPool2d(2, 2, maxpool, maxpool_beta)

        def norm(c):
            return nn.BatchNorm2d(c) if batchnorm else nn.Identity()

        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), norm(6), pool(),
            nn.Conv2d(6, 16, 5), norm(16), pool())
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256, 120), nonsmooth.ReLU(relu_prime0),
            nn.Linear(120, 84), nonsmooth.ReLU(relu_prime0),
            nn.Linear(84, n_classes), nonsmooth.ReLU(relu_prime0))

    def forward(self, x):
        return self.classifier(self.features(x))
