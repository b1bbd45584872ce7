"""Preprocessing and augmentation on whole batches, on the training device.

Images stay uint8 (N, C, H, W) until a batch is drawn; then `train_view` turns a batch into the
network's input, following the paper's per-data-set pipelines (paper-protocol.md section 5):

    ColorJitter(0.01 x 4) -> horizontal flip -> random crop (pad 4, or crop from the stored 256 px)
    -> [OE only: Gaussian blur, sigma as Pillow's GaussianBlur(radius=sigma)]
    -> + 0.001 N(0, 1) noise -> Normalize(mean, std)

MNIST-type data get neither augmentation nor normalisation ([0, 1] pixels). Differences from the
paper's per-image torchvision pipeline, all below the noise of the JPEG data: the four jitters run in
a fixed order (torchvision shuffles it) and the hue jitter is a rotation of the chroma plane in YIQ
space instead of an HSV round trip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..heavy import F, torch
from .blur import gaussian_blur

CIFAR10_MEAN = (0.491373, 0.482353, 0.446667)
CIFAR10_STD = (0.247059, 0.243529, 0.261569)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class Preprocessing:
    """How one data set's images become network inputs.

    augment: the paper's CIFAR/ImageNet training augmentation; mean/std: Normalize constants
    (None: keep [0, 1]); pad: zero padding of the random crop; crop: network input side (images are
    stored larger for ImageNet-type data: random crop in training, centre crop in evaluation).
    """

    augment: bool = False
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    pad: int = 0
    crop: int | None = None

    def input_shape(self, stored: tuple) -> tuple:
        if len(stored) != 3:  # feature vectors pass through unchanged
            return tuple(stored)
        c, h, w = stored
        return (c, self.crop, self.crop) if self.crop else (c, h, w)


def _normalize(x: torch.Tensor, prep: Preprocessing) -> torch.Tensor:
    if prep.mean is None:
        return x
    c = x.shape[1]
    mean = torch.tensor(prep.mean[:c] if c > 1 else prep.mean[:1], device=x.device).view(1, c, 1, 1)
    std = torch.tensor(prep.std[:c] if c > 1 else prep.std[:1], device=x.device).view(1, c, 1, 1)
    return (x - mean) / std


def _uniform(n, lo, hi, g, device):
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo


def color_jitter(x: torch.Tensor, g: torch.Generator, amount: float = 0.01) -> torch.Tensor:
    """Brightness, contrast, saturation and hue jitter of `amount`, per image. x in [0, 1]."""
    n, c = x.shape[:2]
    dev = x.device
    shape = (n, 1, 1, 1)
    x = (x * _uniform(n, 1 - amount, 1 + amount, g, dev).view(shape)).clamp_(0, 1)
    luma = torch.tensor(_LUMA, device=dev).view(1, 3, 1, 1) if c == 3 else None
    gray = (x * luma).sum(1, keepdim=True) if c == 3 else x
    m = gray.mean((1, 2, 3), keepdim=True)
    x = ((x - m) * _uniform(n, 1 - amount, 1 + amount, g, dev).view(shape) + m).clamp_(0, 1)
    if c != 3:
        return x
    gray = (x * luma).sum(1, keepdim=True)
    x = ((x - gray) * _uniform(n, 1 - amount, 1 + amount, g, dev).view(shape) + gray).clamp_(0, 1)
    # hue: rotate the (I, Q) chroma plane by 2*pi*h, h ~ U(-amount, amount)
    theta = _uniform(n, -amount, amount, g, dev) * 2 * math.pi
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          device=dev)
    cos, sin = theta.cos(), theta.sin()
    rot = torch.zeros(n, 3, 3, device=dev)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = torch.linalg.inv(to_yiq) @ rot @ to_yiq  # (n, 3, 3)
    return torch.einsum("nij,njhw->nihw", m, x).clamp_(0, 1)


def random_crop(x: torch.Tensor, size: int, pad: int, g: torch.Generator) -> torch.Tensor:
    """Per-image random crop of size x size after zero padding by `pad` (batched gather)."""
    if pad:
        x = F.pad(x, (pad, pad, pad, pad))
    n, c, h, w = x.shape
    dy = torch.randint(0, h - size + 1, (n,), generator=g, device=x.device)
    dx = torch.randint(0, w - size + 1, (n,), generator=g, device=x.device)
    ar = torch.arange(size, device=x.device)
    rows = (dy[:, None] + ar)[:, None, :, None].expand(n, c, size, w)
    x = x.gather(2, rows)
    cols = (dx[:, None] + ar)[:, None, None, :].expand(n, c, size, size)
    return x.gather(3, cols)


def hflip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    flip = torch.rand(x.shape[0], generator=g, device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def train_view(x: torch.Tensor, prep: Preprocessing, g: torch.Generator,
               blur_sigma: float = 0.0) -> torch.Tensor:
    """uint8 batch (N, C, H, W) -> float network input, with augmentation and optional blur."""
    x = x.float().div_(255)
    if prep.augment:
        x = color_jitter(x, g)
        x = hflip(x, g)
        x = random_crop(x, prep.crop or x.shape[-1], prep.pad, g)
    elif prep.crop:
        x = center_crop(x, prep.crop)
    if blur_sigma:
        x = gaussian_blur(x, blur_sigma)
    if prep.augment:
        x = x + 0.001 * torch.randn(x.shape, generator=g, device=x.device)
    return _normalize(x, prep)


def eval_view(x: torch.Tensor, prep: Preprocessing) -> torch.Tensor:
    """uint8 batch -> float network input for scoring (no augmentation; centre crop if needed)."""
    x = x.float().div_(255)
    if prep.crop:
        x = center_crop(x, prep.crop)
    return _normalize(x, prep)
