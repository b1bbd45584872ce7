"""The paper's LeNet-type networks and a small one for 8x8 inputs.

All map a float image batch (N, C, H, W) to a representation (N, rep_dim). `bias=True` with affine
BatchNorm is the paper's setting; `bias=False` gives the bias-free variant Deep SVDD needs to rule
out the trivial constant solution.
"""

from __future__ import annotations

import torch
from torch import nn


def _bn2d(c, bias):
    return nn.BatchNorm2d(c, eps=1e-4, affine=bias)


def _bn1d(c, bias):
    return nn.BatchNorm1d(c, eps=1e-4, affine=bias)


def _xavier(module: nn.Module, final: nn.Linear) -> None:
    """Xavier-normal with the leaky-ReLU gain on hidden layers and gain 1 on the last Linear."""
    gain = nn.init.calculate_gain("leaky_relu")
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=1.0 if m is final else gain)


class ConvBlock(nn.Module):
    """Conv k5 'same' -> BN(eps 1e-4) -> LeakyReLU -> MaxPool 2."""

    def __init__(self, c_in: int, c_out: int, *, bias: bool = True, kernel: int = 5):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=bias)
        self.bn = _bn2d(c_out, bias)
        self.act = nn.LeakyReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.act(self.bn(self.conv(x))))


class LeNet(nn.Module):
    """LeNet of the paper.

    * `widths=(16, 32), hidden=64, rep_dim=32` on 1x28x28 is the MNIST LeNet (115,968 parameters).
    * `widths=(32, 64, 128), hidden=512, rep_dim=256` on 3x32x32 is the CIFAR-10 LeNet (1,440,512).
    Other input sizes work as long as each pooling halves an even side.
    """

    def __init__(self, *, in_channels: int, size: int, widths=(32, 64, 128), hidden: int = 512,
                 rep_dim: int = 256, bias: bool = True):
        super().__init__()
        chans = (in_channels, *widths)
        self.features = nn.Sequential(*[ConvBlock(a, b, bias=bias) for a, b in zip(chans, chans[1:])])
        side = size
        for _ in widths:
            side //= 2
        assert side >= 1, f"input side {size} is too small for {len(widths)} poolings"
        self.in_channels, self.size = in_channels, size
        self.fc1 = nn.Linear(widths[-1] * side * side, hidden, bias=bias)
        self.bn1 = _bn1d(hidden, bias)
        self.act = nn.LeakyReLU()
        self.fc2 = nn.Linear(hidden, rep_dim, bias=bias)
        self.rep_dim = rep_dim
        _xavier(self, self.fc2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 4 and x.shape[1] == self.in_channels, (
            f"expected (N, {self.in_channels}, {self.size}, {self.size}), got {tuple(x.shape)}")
        z = self.features(x).flatten(1)
        return self.fc2(self.act(self.bn1(self.fc1(z))))


class SmallNet(nn.Module):
    """A small network for tiny inputs (e.g. scikit-learn's 8x8 digits): two 3x3 conv blocks,
    one pooling, then the LeNet head. Not from the paper; the paper has no 8x8 data."""

    def __init__(self, *, in_channels: int = 1, size: int = 8, rep_dim: int = 32, bias: bool = True):
        super().__init__()
        self.in_channels, self.size = in_channels, size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1, bias=bias), _bn2d(16, bias), nn.LeakyReLU(),
            nn.Conv2d(16, 32, 3, padding=1, bias=bias), _bn2d(32, bias), nn.LeakyReLU(),
            nn.MaxPool2d(2),
        )
        self.fc1 = nn.Linear(32 * (size // 2) ** 2, 64, bias=bias)
        self.bn1 = _bn1d(64, bias)
        self.act = nn.LeakyReLU()
        self.fc2 = nn.Linear(64, rep_dim, bias=bias)
        self.rep_dim = rep_dim
        _xavier(self, self.fc2)

    def forward(self, x):
        assert x.ndim == 4 and x.shape[1] == self.in_channels, (
            f"expected (N, {self.in_channels}, {self.size}, {self.size}), got {tuple(x.shape)}")
        return self.fc2(self.act(self.bn1(self.fc1(self.features(x).flatten(1)))))


class MLP(nn.Module):
    """A small MLP for 2-D toy data (the paper's Figure-1 picture): two (Linear -> BN -> ELU)
    blocks and a Linear to `rep_dim` (2, so the output space can be drawn)."""

    def __init__(self, *, in_features: int = 2, hidden: int = 256, rep_dim: int = 2, bias: bool = True):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden, bias=bias),
                                 nn.BatchNorm1d(hidden, affine=bias), nn.ELU(),
                                 nn.Linear(hidden, hidden, bias=bias),
                                 nn.BatchNorm1d(hidden, affine=bias), nn.ELU(),
                                 nn.Linear(hidden, rep_dim, bias=bias))
        self.rep_dim = rep_dim

    def forward(self, x):
        return self.net(x.flatten(1))
