"""Networks by input shape.

`backbone(shape)` returns the paper's network for that resolution (28x28: MNIST LeNet, 32x32 or
other small sides: CIFAR-10 LeNet, >= 128: CBAM ResNet-18, <= 16: a small net);
`backbone(shape, svdd=True)` the bias-free Deep SVDD variant. Heads and decoders are small modules
added by the methods that need them.
"""

from __future__ import annotations

import torch
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
    """Deep SVDD's bias-free LeNet (baselines.md 2.3, 2.4): conv 5x5 blocks (conv without bias ->
    BN(eps 1e-4, affine False) -> LeakyReLU(0.01) -> MaxPool 2), then one Linear without bias."""

    def __init__(self, *, in_channels, size, widths, rep_dim):
        super().__init__()
        from .lenet import ConvBlock
        chans = (in_channels, *widths)
        self.features = nn.Sequential(*[ConvBlock(a, b, bias=False) for a, b in zip(chans, chans[1:])])
        side = size // 2 ** len(widths)
        self.fc = nn.Linear(widths[-1] * side * side, rep_dim, bias=False)
        self.rep_dim, self.in_channels, self.size, self.widths = rep_dim, in_channels, size, tuple(widths)

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


def _bn2d(c):
    return nn.BatchNorm2d(c, eps=1e-4, affine=False)


def _up(x):
    return nn.functional.interpolate(x, scale_factor=2)  # nearest, as F.interpolate's default


class AutoEncoder(nn.Module):
    """Convolutional autoencoder whose encoder is the Deep SVDD network of the same input shape
    (`backbone(shape, svdd=True)`), so that its weights can initialise Deep SVDD (baselines.md 2.5).
    forward returns the reconstruction (N, C, H, W) through a sigmoid, i.e. in [0, 1]: the inputs
    are expected in [0, 1] (the GCN + min-max preprocessing of Deep SVDD, or raw pixels).

    * 32x32 (CIFAR-10, baselines.md 6.2): encoder conv 32-64-128 + Linear 2048 -> 128, then
      BatchNorm1d(128) (affine False, eps 1e-4); decoder: reshape to 8x4x4 -> LeakyReLU ->
      3 x [ConvT 5x5 (8->128->64->32) -> BN -> LeakyReLU -> nearest up x2] -> ConvT 5x5 to C
      -> sigmoid. Xavier-uniform init (LeakyReLU gain) of every conv and ConvT weight.
    * 28x28 (MNIST, baselines.md 6.3): encoder conv 8-4 + Linear 196 -> 32, no bottleneck BN;
      decoder: reshape to 2x4x4 -> LeakyReLU -> up x2 -> ConvT 2->4 (pad 2) -> BN -> LeakyReLU
      -> up -> ConvT 4->8 (pad 3, 16 -> 14) -> BN -> LeakyReLU -> up -> ConvT 8->C (pad 2)
      -> sigmoid. PyTorch's default init.
    * Other sides (not in the paper; e.g. 8x8 digits, 224 px): Linear(rep_dim -> 32 x s x s)
      with s = side / 2^k, then k stages of ConvT 5x5 -> BN -> LeakyReLU -> nearest up x2, a
      final 5x5 conv to C channels and a sigmoid (a Linear lets one decoder serve every side).

    Every layer is bias-free and every BN has affine False (the paper's autoencoders).
    """

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        c, h, _ = shape
        self.encoder = backbone(shape, svdd=True)
        enc = self.encoder
        self.kind = "generic"
        if isinstance(enc, _SVDDLeNet) and h == 32 and enc.widths == (32, 64, 128):
            self.kind = "cifar"
        elif isinstance(enc, _SVDDLeNet) and h == 28 and enc.widths == (8, 4):
            self.kind = "mnist"
        rep = enc.rep_dim
        if self.kind == "cifar":
            self.bottleneck = nn.BatchNorm1d(rep, eps=1e-4, affine=False)
            self.code_channels = rep // 16
            chans = (self.code_channels, 128, 64, 32)
            self.deconvs = nn.ModuleList(nn.ConvTranspose2d(a, b, 5, padding=2, bias=False)
                                         for a, b in zip(chans, chans[1:]))
            self.bns = nn.ModuleList(_bn2d(b) for b in chans[1:])
            self.out = nn.ConvTranspose2d(32, c, 5, padding=2, bias=False)
            gain = nn.init.calculate_gain("leaky_relu")
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    nn.init.xavier_uniform_(m.weight, gain=gain)
        elif self.kind == "mnist":
            self.code_channels = rep // 16
            self.deconvs = nn.ModuleList([
                nn.ConvTranspose2d(self.code_channels, 4, 5, padding=2, bias=False),
                nn.ConvTranspose2d(4, 8, 5, padding=3, bias=False)])
            self.bns = nn.ModuleList([_bn2d(4), _bn2d(8)])
            self.out = nn.ConvTranspose2d(8, c, 5, padding=2, bias=False)
        else:
            k = 1 if h <= 16 else (2 if h % 8 else 3)
            if h >= 128:
                k = 5
            s = h // 2 ** k
            if s * 2 ** k != h:
                raise ValueError(f"autoencoder needs a side divisible by {2 ** k}, got {h}")
            self.s = s
            self.fc = nn.Linear(rep, 32 * s * s, bias=False)
            layers = []
            for _ in range(k):
                layers += [nn.ConvTranspose2d(32, 32, 5, padding=2, bias=False), _bn2d(32),
                           nn.LeakyReLU(), nn.Upsample(scale_factor=2)]
            layers.append(nn.Conv2d(32, c, 5, padding=2, bias=False))
            self.decoder = nn.Sequential(*layers)

    def decode(self, z):
        act = nn.functional.leaky_relu
        n = z.shape[0]
        if self.kind == "cifar":
            x = act(self.bottleneck(z).reshape(n, self.code_channels, 4, 4))
            for conv, bn in zip(self.deconvs, self.bns):
                x = _up(act(bn(conv(x))))
            return torch.sigmoid(self.out(x))
        if self.kind == "mnist":
            x = _up(act(z.reshape(n, self.code_channels, 4, 4)))
            for conv, bn in zip(self.deconvs, self.bns):
                x = _up(act(bn(conv(x))))
            return torch.sigmoid(self.out(x))
        x = act(self.fc(z).reshape(n, 32, self.s, self.s))
        return torch.sigmoid(self.decoder(x))

    def forward(self, x):
        return self.decode(self.encoder(x))




# networks of single methods, and the larger families (imported after the classes above)
from .parts import (  # noqa: E402
    Centred,
    GCNMinMax,
    GeoNet,
    ITAENet,
    OCSVMModel,
    Reconstructor,
    gcn_l1,
    gcn_l1_rows,
)
from .unet import UNet  # noqa: E402
from .wrn import WideResNet  # noqa: E402

__all__ = ["backbone", "Classifier", "AutoEncoder", "LeNet", "SmallNet", "MLP", "Centred",
           "GCNMinMax", "GeoNet", "ITAENet", "OCSVMModel", "Reconstructor", "gcn_l1",
           "gcn_l1_rows", "UNet", "WideResNet"]
