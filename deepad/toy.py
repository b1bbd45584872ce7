"""The paper's Figure-1 picture on 2-D data: how an unsupervised detector (Deep SVDD), the
hypersphere classifier (HSC) and a binary classifier (BCE) draw their boundaries when a few
example anomalies (OE) are added.

The same methods, networks (`nets.MLP`, 2-D output) and trainer as the image experiments; only
the data are points in the plane. Scores: higher = more anomalous.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import metrics
from .errors import DeepadError
from .train import Detector

SHAPES = ("blob", "moons", "ring")
METHODS = ("deep-svdd", "hsc", "bce")
EXTENT = 4.0  # the plane shown: [-EXTENT, EXTENT]^2


@dataclass(frozen=True)
class ToySetup:
    """shape: the nominal distribution; n_oe: OE points, drawn from N(0, oe_spread^2 I);
    fpr: the share of held-out nominal points outside each drawn boundary."""

    shape: str = "moons"
    n_nominal: int = 256
    n_oe: int = 16
    oe_spread: float = 2.0
    seed: int = 0
    epochs: int = 150
    fpr: float = 0.05
    extra_oe: tuple = ()  # points the user added, ((x, y), ...)


def nominal_points(shape: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) float32 nominal points, centred and within about [-2, 2]^2."""
    if shape == "blob":
        x = rng.normal(0, 0.5, (n, 2))
    elif shape == "moons":
        t = rng.uniform(0, np.pi, n)
        upper = rng.random(n) < 0.5
        x = np.where(upper[:, None], np.c_[np.cos(t), np.sin(t)],
                     np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
        x = (x - [0.5, 0.25]) * 1.3 + rng.normal(0, 0.08, (n, 2))
    elif shape == "ring":
        t = rng.uniform(0, 2 * np.pi, n)
        x = np.c_[np.cos(t), np.sin(t)] * 1.5 + rng.normal(0, 0.1, (n, 2))
    else:
        raise DeepadError(f"unknown toy shape '{shape}'; choose one of {', '.join(SHAPES)}")
    return x.astype(np.float32)


def test_anomalies(n: int, rng: np.random.Generator) -> np.ndarray:
    """Held-out anomalies from another distribution than the OE: four tight clusters at
    radius 2.7, so a boundary must generalise from the OE to where no OE point fell."""
    centres = np.array([[2.7, 0.4], [-1.2, 2.4], [-2.2, -1.6], [0.9, -2.6]])
    k = rng.integers(0, len(centres), n)
    return (centres[k] + rng.normal(0, 0.25, (n, 2))).astype(np.float32)


@dataclass
class ToyFit:
    method: str
    grid_x: np.ndarray          # (g,)
    grid_y: np.ndarray          # (g,)
    scores: np.ndarray          # (g, g) anomaly score at (grid_y[i], grid_x[j])
    threshold: float            # score above which a point is flagged (at the setup's FPR)
    auroc: float                # held-out nominal vs held-out anomalies
    outputs: dict = field(default_factory=dict)  # phi(x) of each point set (HSC's picture)
    note: str = ""


@dataclass
class ToyResult:
    setup: ToySetup
    nominal: np.ndarray
    oe: np.ndarray
    test_nominal: np.ndarray
    test_anomalies: np.ndarray
    fits: dict


def make_points(setup: ToySetup):
    rng = np.random.default_rng(setup.seed)
    nominal = nominal_points(setup.shape, setup.n_nominal, rng)
    oe = rng.normal(0, setup.oe_spread, (setup.n_oe, 2)).astype(np.float32)
    if setup.extra_oe:
        oe = np.concatenate([oe, np.asarray(setup.extra_oe, np.float32).reshape(-1, 2)])
    test_nominal = nominal_points(setup.shape, 512, rng)
    return nominal, oe, test_nominal, test_anomalies(256, rng)


def fit_toy(setup: ToySetup, methods=METHODS, grid: int = 90, callbacks=()) -> ToyResult:
    """Train each method on the setup's points and evaluate its score landscape on a grid."""
    nominal, oe, test_nom, test_ano = make_points(setup)
    xs = np.linspace(-EXTENT, EXTENT, grid, dtype=np.float32)
    gx, gy = np.meshgrid(xs, xs)
    plane = np.c_[gx.ravel(), gy.ravel()]
    fits = {}
    for m in methods:
        uses_oe = m != "deep-svdd"
        if uses_oe and len(oe) == 0:
            fits[m] = None  # needs at least one example anomaly
            continue
        det = Detector(m, epochs=setup.epochs, batch_size=128, lr=1e-2 if uses_oe else 1e-3,
                       weight_decay=1e-6, device="cpu", precision="fp32",
                       random_state=setup.seed, callbacks=callbacks)
        det.fit(torch.from_numpy(nominal), torch.from_numpy(oe) if uses_oe else None)
        s_nom = det.score_samples(torch.from_numpy(test_nom))
        s_ano = det.score_samples(torch.from_numpy(test_ano))
        thr = float(np.quantile(s_nom, 1 - setup.fpr))
        z = det.score_samples(torch.from_numpy(plane)).reshape(grid, grid)
        auc = metrics.auroc(np.r_[np.zeros(len(s_nom)), np.ones(len(s_ano))], np.r_[s_nom, s_ano])
        outputs = {}
        if m == "hsc":
            with torch.no_grad():
                phi = det.model_.eval()
                outputs = {name: phi(torch.from_numpy(pts)).numpy() for name, pts in
                           (("nominal", nominal), ("oe", oe), ("test anomalies", test_ano))}
        fits[m] = ToyFit(m, xs, xs, z, thr, auc, outputs)
    return ToyResult(setup, nominal, oe, test_nom, test_ano, fits)


def hsc_radius(threshold: float) -> float:
    """The radius in HSC's output space of the boundary score `threshold` = 1 - exp(-h),
    h = sqrt(||z||^2 + 1) - 1."""
    h = -np.log1p(-min(threshold, 1 - 1e-12))
    return float(np.sqrt((h + 1) ** 2 - 1))
