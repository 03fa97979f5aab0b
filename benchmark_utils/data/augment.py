"""Image augmentation and normalization: batched tensor ops on the device
(CIFAR-10, held there as uint8), and torchvision's PIL transforms run in
DataLoader workers (ImageNet, Food101), whose uint8 output is normalized on
the device (``Normalize``)."""
import torch

# torchvision is imported where its PIL transforms are built: every
# benchopt run imports the dataset files, and torchvision takes ~2 s.

# torchvision's ImageNet statistics, those the pretrained weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
        self.normalize = Normalize(mean, std, channels_last)
        self.pad = crop_padding
        self.flip = flip

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


def train_transform(crop=224):
    """Thesis section 4.10.3 (torchvision's reference recipe): a random
    resized crop to 224x224 (scale 0.08-1, bilinear) and a horizontal flip."""
    from torchvision import transforms
    return transforms.Compose([
        transforms.RandomResizedCrop(crop, antialias=True),
        transforms.RandomHorizontalFlip(),
        transforms.PILToTensor(),
    ])


def eval_transform(resize=256, crop=224):
    """Shorter side resized to 256, center crop 224x224."""
    from torchvision import transforms
    return transforms.Compose([
        transforms.Resize(resize, antialias=True),
        transforms.CenterCrop(crop),
        transforms.PILToTensor(),
    ])


class Normalize:
    """uint8 NCHW batch on the device -> normalized float32, optionally in
    channels_last memory format."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                 channels_last=False):
        mean, std = torch.tensor(mean), torch.tensor(std)
        # (x / 255 - mean) / std == x * scale + shift
        self.scale = (1 / (255 * std)).view(1, -1, 1, 1)
        self.shift = (-mean / std).view(1, -1, 1, 1)
        self.memory_format = (torch.channels_last if channels_last
                              else torch.contiguous_format)

    def __call__(self, x):
        x = x.to(torch.float32, memory_format=self.memory_format)
        return torch.addcmul(self.shift.to(x.device), x,
                             self.scale.to(x.device))
