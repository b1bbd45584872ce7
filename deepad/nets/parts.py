"""Networks that belong to one method: its preprocessing as a module (so that an exported model
carries it), or a network plus the statistics it scores with. Imported with deepad.nets, lazily
(deepad.heavy): the method modules themselves stay light.
"""

from __future__ import annotations

import torch
from torch import nn

from . import AutoEncoder
from .unet import UNet


# ----------------------------------------------------------------- Deep SVDD and the autoencoder
def gcn_l1(x: torch.Tensor) -> torch.Tensor:
    """Global contrast normalisation per image (N, ...): (x - mean) / mean(|x - mean|) over all
    values of the image; an image of one value becomes all zeros."""
    dims = tuple(range(1, x.ndim))
    x = x - x.mean(dims, keepdim=True)
    scale = x.abs().mean(dims, keepdim=True)
    return x / torch.where(scale > 0, scale, torch.ones_like(scale))


class GCNMinMax(nn.Module):
    """GCN (l1) then (x - lo) / (hi - lo). The identity until `fit` (buffer `gcn` = 0, lo 0, hi 1),
    so an unfitted model sees its raw inputs; `fit(x, gcn=False)` keeps the identity."""

    def __init__(self):
        super().__init__()
        self.register_buffer("gcn", torch.zeros(()))
        self.register_buffer("lo", torch.zeros(()))
        self.register_buffer("hi", torch.ones(()))

    @torch.no_grad()
    def fit(self, x: torch.Tensor, gcn: bool = True) -> "GCNMinMax":
        """Constants from the nominal training images x (N, C, H, W) in [0, 1]."""
        self.gcn.fill_(1.0 if gcn else 0.0)
        self.lo.fill_(0.0)
        self.hi.fill_(1.0)
        if gcn:
            lo, hi = float("inf"), float("-inf")
            for i in range(0, len(x), 1024):
                z = gcn_l1(x[i:i + 1024].float())
                lo, hi = min(lo, float(z.min())), max(hi, float(z.max()))
            if not hi > lo:
                hi = lo + 1.0
            self.lo.fill_(lo)
            self.hi.fill_(hi)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if float(self.gcn) > 0:
            x = gcn_l1(x)
        return (x - self.lo) / (self.hi - self.lo)


class Centred(nn.Module):
    def __init__(self, phi):
        super().__init__()
        self.pre = GCNMinMax()
        self.phi = phi
        self.register_buffer("center", torch.zeros(phi.rep_dim))

    def forward(self, x):
        return self.phi(self.pre(x))


class Reconstructor(nn.Module):
    """GCN + min-max preprocessing (identity until fitted) followed by the autoencoder;
    forward returns the reconstruction of the *preprocessed* input, `pre(x)` is its target."""

    def __init__(self, shape):
        super().__init__()
        self.pre = GCNMinMax()
        self.net = AutoEncoder(shape)

    def forward(self, x):
        return self.net(self.pre(x))


# ----------------------------------------------------------------- GEOM
class GeoNet(nn.Module):
    """The WRN classifier plus the per-transformation Dirichlet parameters (a buffer)."""

    def __init__(self, net: nn.Module, n_transforms: int):
        super().__init__()
        self.net = net
        self.register_buffer("alpha", torch.ones(n_transforms, n_transforms, dtype=torch.float64))

    def forward(self, x):
        return self.net(x)


# ----------------------------------------------------------------- ITAE
class ITAENet(nn.Module):
    """The U-Net plus the per-rotation mean training error (`rot_err`, 1 until `finish`)."""

    def __init__(self, shape: tuple[int, int, int], width: int):
        super().__init__()
        c, h, w = shape
        if h != w:
            raise ValueError(f"ITAE needs square images, got {h}x{w}")
        self.unet = UNet(1, c, side=h, width=width)
        self.register_buffer("rot_err", torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restoration of already transformed (grey, rotated) inputs (N, 1, H, W)."""
        return self.unet(x)


# ----------------------------------------------------------------- kernel SVDD / OC-SVM
def gcn_l1_rows(x: torch.Tensor) -> torch.Tensor:
    """Global contrast normalisation per row: (x - mean) / mean(|x - mean|)."""
    x = x - x.mean(1, keepdim=True)
    scale = x.abs().mean(1, keepdim=True)
    return x / torch.where(scale > 0, scale, torch.ones_like(scale))


class OCSVMModel(nn.Module):
    """Preprocessing + PCA + the kernel expansion; forward returns the anomaly score (float64)."""

    def __init__(self, d_in: int = 1, d_pca: int = 1, n_sv: int = 1):
        super().__init__()
        f64 = torch.float64
        self.register_buffer("gcn", torch.zeros((), dtype=f64))
        self.register_buffer("lo", torch.zeros((), dtype=f64))
        self.register_buffer("hi", torch.ones((), dtype=f64))
        self.register_buffer("pca_mean", torch.zeros(d_in, dtype=f64))
        self.register_buffer("components", torch.zeros(d_pca, d_in, dtype=f64))
        self.register_buffer("support", torch.zeros(n_sv, d_pca, dtype=f64))
        self.register_buffer("dual_coef", torch.zeros(n_sv, dtype=f64))
        self.register_buffer("intercept", torch.zeros((), dtype=f64))
        self.register_buffer("gamma", torch.ones((), dtype=f64))

    def set_state(self, state: dict) -> "OCSVMModel":
        """Replace every buffer (their shapes depend on the data) with the given tensors."""
        for k, v in state.items():
            self.register_buffer(k, v.to(torch.float64).clone())
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1).double()
        if float(self.gcn) > 0:
            x = gcn_l1_rows(x)
        x = (x - self.lo) / (self.hi - self.lo)
        return (x - self.pca_mean) @ self.components.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x)
        d2 = (z.pow(2).sum(1, keepdim=True) - 2 * z @ self.support.T
              + self.support.pow(2).sum(1)[None]).clamp_min(0)
        decision = torch.exp(-self.gamma * d2) @ self.dual_coef + self.intercept
        return -decision
