"""Pre-activation Wide ResNet (Zagoruyko & Komodakis), the classifier of GEOM and Geo+.

WRN-d-k: a 3x3 stem conv to 16 channels, then three groups of n = (d - 4) / 6 pre-activation basic
blocks with 16k, 32k, 64k channels and strides 1, 2, 2, then BN -> ReLU -> global average pooling
-> one Linear per head. As in the GEOM Keras code (baselines.md 3.3):

- block: BN -> ReLU -> conv3x3(stride s) -> BN -> ReLU -> dropout -> conv3x3, plus the shortcut;
  the shortcut is the identity when the channel count is unchanged, otherwise a 1x1 conv
  (stride s) applied to the *pre-activated* input (the output of the block's first BN-ReLU);
- convolutions have no bias and He-normal initialisation (std = sqrt(2 / fan_in));
- Linear layers: weight and bias uniform in +-1/sqrt(fan_in); BN eps 1e-5, momentum 0.1
  (Keras momentum 0.9), gamma 1, beta 0.

Deviation: global average pooling instead of the fixed 8x8 pool, so the same network serves 32x32
(where it is identical: the last feature map is 8x8), 28x28 (7x7) and 8x8 (2x2) inputs.

`heads` is a number of outputs or a list of head sizes; forward always returns one logit tensor
(N, sum(heads)) (the heads concatenated in order, one tensor keeps export and channels-last code
simple); `split(logits)` cuts it back into the per-head logits.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in, eps=1e-5, momentum=0.1)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.1)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.act = nn.ReLU(inplace=False)
        self.shortcut = (None if c_in == c_out and stride == 1
                         else nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False))

    def forward(self, x):
        o = self.act(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(o)
        o = self.conv1(o)
        o = self.conv2(self.drop(self.act(self.bn2(o))))
        return o + skip


class WideResNet(nn.Module):
    """WRN-depth-widen for inputs (N, in_channels, H, W); depth = 6n + 4 (10, 16, 22, 28, ...)."""

    def __init__(self, in_channels: int = 3, depth: int = 10, widen: int = 4, dropout: float = 0.0,
                 heads: int | list[int] | tuple[int, ...] = 10):
        super().__init__()
        depth, widen = int(depth), int(widen)
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n + 4 with n >= 1 (10, 16, 22, ...), got {depth}")
        if widen < 1:
            raise ValueError(f"WRN widen factor must be at least 1, got {widen}")
        n = (depth - 4) // 6
        widths = (16, 16 * widen, 32 * widen, 64 * widen)
        self.head_sizes = tuple(int(h) for h in (heads if isinstance(heads, (list, tuple)) else [heads]))
        self.depth, self.widen, self.rep_dim = depth, widen, widths[-1]
        self.stem = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        blocks = []
        c = widths[0]
        for g, stride in zip(range(3), (1, 2, 2)):
            for i in range(n):
                blocks.append(_Block(c, widths[g + 1], stride if i == 0 else 1, float(dropout)))
                c = widths[g + 1]
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)
        self.act = nn.ReLU(inplace=False)
        self.fc = nn.Linear(c, sum(self.head_sizes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        bound = 1 / math.sqrt(c)
        nn.init.uniform_(self.fc.weight, -bound, bound)
        nn.init.uniform_(self.fc.bias, -bound, bound)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled representation (N, 64 * widen)."""
        o = self.act(self.bn(self.blocks(self.stem(x))))
        return o.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    def split(self, logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(logits.split(self.head_sizes, dim=1))


__all__ = ["WideResNet"]
