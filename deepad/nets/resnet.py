"""ResNet-18 with CBAM attention, the ImageNet-sized encoder of the paper's protocol.

The paper's code calls this network "imagenet_WideResNet", but it is a plain ResNet-18
(BasicBlocks, [2, 2, 2, 2]) where every block applies CBAM (a channel gate followed by a
spatial gate) to its residual branch before the addition. The head is a global average pool
and a linear projection to ``rep_dim`` with no activation.

Input: (N, in_channels, H, W) with H and W multiples of 32 (224 x 224 in the protocol).
Output: (N, rep_dim).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CBAMResNet18"]


class _ChannelGate(nn.Module):
    """Channel attention: shared MLP over global avg- and max-pooled features, summed, sigmoid."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = channels // reduction
        # Default PyTorch init for these Linear layers (as in the paper's code).
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        mx = torch.flatten(F.adaptive_max_pool2d(x, 1), 1)
        scale = torch.sigmoid(self.mlp(avg) + self.mlp(mx))
        return x * scale[:, :, None, None]


class _SpatialGate(nn.Module):
    """Spatial attention: [channel-max, channel-mean] -> 7x7 conv -> BN -> sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size=7, stride=1, padding=3, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat(
            [torch.amax(x, dim=1, keepdim=True), torch.mean(x, dim=1, keepdim=True)], dim=1
        )
        scale = torch.sigmoid(self.bn(self.conv(pooled)))
        return x * scale


class _CBAM(nn.Module):
    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.channel_gate = _ChannelGate(channels, reduction)
        self.spatial_gate = _SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial_gate(self.channel_gate(x))


class _BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.cbam = _CBAM(planes, reduction=16)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.cbam(out)
        return self.relu(out + identity)


class CBAMResNet18(nn.Module):
    """ResNet-18 with CBAM in every BasicBlock, projecting to a ``rep_dim`` representation."""

    widths = (64, 128, 256, 512)
    blocks = (2, 2, 2, 2)
    strides = (1, 2, 2, 2)

    def __init__(self, *, in_channels: int = 3, rep_dim: int = 256) -> None:
        super().__init__()
        if in_channels < 1 or rep_dim < 1:
            raise ValueError(
                f"in_channels and rep_dim must be positive, got {in_channels} and {rep_dim}"
            )
        self.in_channels = in_channels
        self.rep_dim = rep_dim

        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        stages = []
        in_planes = 64
        for width, n_blocks, stride in zip(self.widths, self.blocks, self.strides):
            layers = []
            for i in range(n_blocks):
                layers.append(_BasicBlock(in_planes, width, stride if i == 0 else 1))
                in_planes = width
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages

        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, rep_dim)

        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.kaiming_normal_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                # The spatial gate's BN starts with weight 0; every other BN (the shortcut BN
                # included, which keeps PyTorch's default 1/0) starts at weight 1, bias 0.
                if name.endswith("spatial_gate.bn"):
                    nn.init.zeros_(m.weight)
                else:
                    nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 4 and x.shape[1] == self.in_channels, (
            f"CBAMResNet18 expects input of shape (N, {self.in_channels}, H, W), "
            f"got {tuple(x.shape)}"
        )
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)
