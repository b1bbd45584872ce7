"""A U-Net-style autoencoder (ITAE's restoration network).

Follows the unofficial ITAE reimplementation (yuxiao-ash/ITAE-Pytorch-Anomaly_Detection,
model/ITAE.py, itself milesial's Pytorch-UNet): "double conv" blocks (3x3 conv -> BN -> ReLU,
twice), 2x2 max-pool between encoder blocks, bilinear upsampling (align_corners=True) followed by
concatenation with the encoder's skip and a double conv, and a 3x3 output conv.

With base width w and d down-steps the encoder widths are w, 2w, ..., 2^(d-1) w and the bottom
block repeats the last width (w=64, d=4: 64-128-256-512-512, the reference); the decoder halves
back down to w (256-128-64-64), about 13.4 M parameters at w=64 with a 1-channel input and a
3-channel output. Differences from the reference:

- d depends on the side: min(4, floor(log2(side)) - 1), so 32x32 gets the reference's 4 down-steps
  (bottom 2x2), 28x28 three (28-14-7-3) and 8x8 two (8-4-2).
- Upsampling goes to the skip's exact size instead of x2 plus zero padding, so odd sides (7 -> 3
  -> 7) line up without padding.
- The output is linear (3x3 conv with bias), not tanh: the target is the preprocessed image, whose
  range depends on the data set ([0, 1] for MNIST-type data, roughly [-2, 2.1] after CIFAR's
  mean/std normalisation), and tanh would cap it at [-1, 1]. (The reference normalises CIFAR to
  exactly [-1, 1], where its tanh fits; its MNIST normalisation does not.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BN -> ReLU) x 2."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def unet_depth(side: int) -> int:
    """Down-steps for a side: 4 (the reference) where the bottom stays >= 2 pixels, fewer below."""
    return max(1, min(4, int(math.log2(side)) - 1))


class UNet(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H, W); see the module docstring."""

    def __init__(self, in_channels: int, out_channels: int, *, side: int, width: int = 64,
                 depth: int | None = None):
        super().__init__()
        d = unet_depth(side) if depth is None else int(depth)
        w = int(width)
        if w < 1 or d < 1:
            raise ValueError(f"U-Net needs width >= 1 and depth >= 1, got {w} and {d}")
        enc = [w * 2 ** i for i in range(d)]
        enc.append(enc[-1])  # bottom block keeps the width (bilinear variant)
        self.inc = DoubleConv(in_channels, enc[0])
        self.downs = nn.ModuleList(DoubleConv(a, b) for a, b in zip(enc, enc[1:]))
        ups, cur = [], enc[-1]
        for i in range(d - 1, -1, -1):  # up to level i, concatenating encoder output i
            out = enc[i - 1] if i >= 1 else enc[0]
            ups.append(DoubleConv(cur + enc[i], out))
            cur = out
        self.ups = nn.ModuleList(ups)
        self.out = nn.Conv2d(cur, out_channels, 3, padding=1)
        self.depth, self.widths = d, tuple(enc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(F.max_pool2d(skips[-1], 2)))
        h = skips.pop()
        for up in self.ups:
            s = skips.pop()
            h = F.interpolate(h, size=s.shape[-2:], mode="bilinear", align_corners=True)
            h = up(torch.cat([s, h], dim=1))
        return self.out(h)
