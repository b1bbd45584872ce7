"""Networks by input shape.

`backbone(shape)` returns the paper's network for that resolution (28x28: MNIST LeNet, 32x32 or
other small sides: CIFAR-10 LeNet, >= 128: CBAM ResNet-18, <= 16: a small net);
`backbone(shape, svdd=True)` the bias-free Deep SVDD variant. Heads and decoders are small modules
added by the methods that need them.
"""

from __future__ import annotations

from torch import nn

from .lenet import MLP, LeNet, SmallNet


def backbone(shape: tuple[int, int, int], *, svdd: bool = False) -> nn.Module:
    """The representation network phi for images of `shape` = (C, H, W); has `.rep_dim`.

    svdd=True gives the bias-free LeNets of the Deep SVDD paper (no hidden 512/64 layer,
    rep_dim 128 / 32, BN without affine) that rule out the trivial constant solution.
    """
    if len(shape) == 1:  # feature vectors (2-D toy data): an MLP with a 2-D output to look at
        return MLP(in_features=shape[0], hidden=64, rep_dim=2, bias=not svdd)
    c, h, w = shape
    if h != w:
        raise ValueError(f"square images expected, got {h}x{w}")
    if h <= 16:
        return SmallNet(in_channels=c, size=h, rep_dim=32, bias=not svdd)
    if h == 28:
        if svdd:
            return _SVDDLeNet(in_channels=c, size=h, widths=(8, 4), rep_dim=32)
        return LeNet(in_channels=c, size=h, widths=(16, 32), hidden=64, rep_dim=32)
    if h < 128:
        if svdd:
            return _SVDDLeNet(in_channels=c, size=h, widths=(32, 64, 128), rep_dim=128)
        return LeNet(in_channels=c, size=h, widths=(32, 64, 128), hidden=512, rep_dim=256)
    from .resnet import CBAMResNet18  # heavy; only for 224x224-type inputs
    return CBAMResNet18(in_channels=c, rep_dim=256)


class _SVDDLeNet(nn.Module):
    """Deep SVDD's bias-free LeNet: conv blocks (BN without affine) then one Linear without bias."""

    def __init__(self, *, in_channels, size, widths, rep_dim):
        super().__init__()
        from .lenet import ConvBlock
        chans = (in_channels, *widths)
        self.features = nn.Sequential(*[ConvBlock(a, b, bias=False) for a, b in zip(chans, chans[1:])])
        side = size // 2 ** len(widths)
        self.fc = nn.Linear(widths[-1] * side * side, rep_dim, bias=False)
        self.rep_dim, self.in_channels = rep_dim, in_channels

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


class Classifier(nn.Module):
    """phi followed by Linear(rep_dim -> 1): the BCE/focal network. Returns logits of shape (N,)."""

    def __init__(self, phi: nn.Module):
        super().__init__()
        self.phi = phi
        self.head = nn.Linear(phi.rep_dim, 1)

    def forward(self, x):
        return self.head(self.phi(x)).squeeze(1)


class AutoEncoder(nn.Module):
    """Convolutional autoencoder: a bias-free encoder and a mirrored decoder.

    Decoder: Linear(rep_dim -> 32 x s x s) with s = side / 2^k, then k stages of
    ConvTranspose 5x5 -> BN -> LeakyReLU -> nearest upsampling x2, and a final 5x5 conv to C
    channels. (The Deep SVDD autoencoders reshape the code instead of using a Linear; the Linear
    lets one decoder serve every resolution.) forward returns the reconstruction (N, C, H, W).
    """

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        c, h, _ = shape
        self.encoder = backbone(shape, svdd=True)
        k = 1 if h <= 16 else (2 if h % 8 else 3)
        if h >= 128:
            k = 5
        s = h // 2 ** k
        if s * 2 ** k != h:
            raise ValueError(f"autoencoder needs a side divisible by {2 ** k}, got {h}")
        self.s = s
        self.fc = nn.Linear(self.encoder.rep_dim, 32 * s * s, bias=False)
        layers = []
        for _ in range(k):
            layers += [nn.ConvTranspose2d(32, 32, 5, padding=2, bias=False),
                       nn.BatchNorm2d(32, eps=1e-4, affine=False), nn.LeakyReLU(),
                       nn.Upsample(scale_factor=2)]
        layers.append(nn.Conv2d(32, c, 5, padding=2, bias=False))
        self.decoder = nn.Sequential(*layers)

    def forward(self, x):
        z = self.fc(self.encoder(x)).reshape(x.shape[0], 32, self.s, self.s)
        return self.decoder(nn.functional.leaky_relu(z))


__all__ = ["backbone", "Classifier", "AutoEncoder", "LeNet", "SmallNet", "MLP"]
