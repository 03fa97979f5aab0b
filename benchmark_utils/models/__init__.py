"""The networks: CIFAR forms (cifar.py), torchvision's ImageNet networks
(imagenet.py), nanoGPT's GPT (gpt.py)."""


def n_parameters(model):
    return sum(p.numel() for p in model.parameters())
