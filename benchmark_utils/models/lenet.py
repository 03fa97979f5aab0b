"""LeNet-5 for 28x28 grey images (MNIST, Fashion-MNIST).

The layers are those of the implementation the thesis's chapter 3 cites
(ChawDoe/LeNet5-MNIST-PyTorch, model.py): two 5x5 convolutions (6 and 16
channels) each followed by a 2x2 MaxPool, then 256 -> 120 -> 84 -> 10
linear layers with ReLUs between them, and no nonlinearity after the
convolutions (that implementation's choice, kept).

Two forms, by name (``build_lenet``):

- ``lenet5``, the default: the logits are the last linear layer's output,
  as in any classifier trained with cross-entropy.
- ``lenet5_relu_logits``: the cited implementation exactly, a ReLU on the
  logits included. Kept because chapter 3's experiments (Figures 3.3-3.5,
  3.12) ran it; it trains poorly, a logit clipped at 0 passing no gradient
  (after 3 epochs of AdamW on Fashion-MNIST, seed 0: 72.5 % test accuracy,
  ``lenet5`` 86.6 %).

The differentiation knobs of nonsmooth.py: ``maxpool`` and
``maxpool_beta``, ``relu_prime0``, and ``batchnorm`` (BatchNorm2d after
each convolution, off by default as in the cited model).
"""
from torch import nn

from benchmark_utils.models import nonsmooth

MODELS = ("lenet5", "lenet5_relu_logits")


class LeNet5(nn.Module):
    def __init__(self, n_classes=10, maxpool="native", maxpool_beta=0.0,
                 relu_prime0=0, batchnorm=False, relu_logits=False):
        super().__init__()

        def pool():
            return nonsmooth.MaxPool2d(2, 2, maxpool, maxpool_beta)

        def norm(c):
            return nn.BatchNorm2d(c) if batchnorm else nn.Identity()

        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), norm(6), pool(),
            nn.Conv2d(6, 16, 5), norm(16), pool())
        head = [nn.Flatten(),
                nn.Linear(256, 120), nonsmooth.ReLU(relu_prime0),
                nn.Linear(120, 84), nonsmooth.ReLU(relu_prime0),
                nn.Linear(84, n_classes)]
        if relu_logits:
            head.append(nonsmooth.ReLU(relu_prime0))
        self.classifier = nn.Sequential(*head)

    def forward(self, x):
        return self.classifier(self.features(x))


def build_lenet(name="lenet5", n_classes=10, **knobs):
    """A MODELS name with the differentiation knobs."""
    if name not in MODELS:
        raise ValueError(f"model={name!r} is not allowed: one of "
                         f"{', '.join(MODELS)}.")
    return LeNet5(n_classes, relu_logits=name == "lenet5_relu_logits",
                  **knobs)
