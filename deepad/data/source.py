"""What a data source is: `load(split)` -> ImageSet at its native resolution, the preprocessing
it gets as nominal data, `pool(shape)` as an OE pool at a given shape; and what it says of itself
(an OE pool only or nominal data too, its protocol profile, its content identity)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..heavy import torch
from .augment import (  # noqa: F401
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocessing,
)
from .base import ImageSet
from .images import conform

MNIST_LIKE = Preprocessing()
CIFAR_LIKE = Preprocessing(augment=True, mean=CIFAR10_MEAN, std=CIFAR10_STD, pad=4)
IMAGENET_LIKE = Preprocessing(augment=True, mean=IMAGENET_MEAN, std=IMAGENET_STD, crop=224)
PROFILES = {"mnist": MNIST_LIKE, "cifar": CIFAR_LIKE, "imagenet": IMAGENET_LIKE}


# --------------------------------------------------------------------------- pools (OE role)

class Pool:
    """An OE pool: `len(pool)` images with labels (for choosing OE classes); `take(idx)` returns
    uint8 (n, C, H, W) at the shape the pool was made for."""

    classes: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, idx: np.ndarray) -> torch.Tensor:
        raise NotImplementedError


class TensorPool(Pool):
    def __init__(self, images: torch.Tensor, labels, classes):
        self.images, self.labels, self.classes = images, np.asarray(labels), list(classes)

    def take(self, idx):
        return self.images[torch.as_tensor(np.asarray(idx, dtype=np.int64))]


# --------------------------------------------------------------------------- sources

@dataclass
class Source:
    name: str
    title: str
    origin: str  # "download" | "bundled" | "generated" | "local"
    note: str = ""
    oe_only = False  # an OE pool that cannot be nominal data (no classes to hold out)

    # -- to override
    def where(self) -> Path | None:
        return None

    def available(self) -> bool:
        return True

    def classes(self) -> list[str]:
        return self.load("train").classes

    def load(self, split: str) -> ImageSet:
        raise NotImplementedError

    def preprocessing(self) -> Preprocessing:
        return MNIST_LIKE

    def profile(self) -> str:
        """Which of the paper's protocols the data follow: 'mnist', 'cifar' or 'imagenet'
        (schedules and recipes by data profile; 'tiny' for the bundled 8x8 digits)."""
        prep = self.preprocessing()
        if prep.crop:
            return "imagenet"
        return "cifar" if prep.augment else "mnist"

    def check_nominal(self) -> None:
        """DataError unless the data can be nominal data here (downloading them if needed)."""
        if self.origin == "download":
            self.ensure()

    def check_oe(self, size: int | None) -> None:
        """DataError unless the data can be an OE pool of `size` images (None: all) here."""
        if self.origin == "download" and not self.available():
            self.ensure()

    # -- shared
    def status(self) -> str:
        if self.origin in ("bundled", "generated"):
            return self.origin
        if self.available():
            return "on disk"
        return "needs download" if self.origin == "download" else "missing"

    def pool(self, shape: tuple[int, int, int]) -> Pool:
        s = self.load("train")
        return TensorPool(conform(s.images, shape[0], shape[1]), s.labels.numpy(), s.classes)


_MEMO: dict = {}
