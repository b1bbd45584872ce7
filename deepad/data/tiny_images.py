"""The 80 Million Tiny Images binary (OE only), read lazily: the file is 227 GB."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ..heavy import torch
from . import formats
from .images import conform
from .source import Pool, Source


class TinyImagesPool(Pool):
    """The 80M Tiny Images binary, read lazily (the file is 227 GB)."""

    def __init__(self, tiny: formats.TinyImages, shape):
        self.tiny, self.shape = tiny, shape
        self.classes = ["image"]

    def __len__(self):
        return len(self.tiny)

    @property
    def labels(self):  # one class; materialised only if someone asks for classes
        return np.zeros(len(self.tiny), dtype=np.int8)

    def take(self, idx):
        x = torch.from_numpy(self.tiny.take(np.asarray(idx, dtype=np.int64)))
        return conform(x, self.shape[0], self.shape[1])


class TinyImagesSource(Source):
    """The 80 Million Tiny Images binary (`tiny_images.bin`, 3,072 bytes an image, Fortran order),
    with an optional file of excluded 1-based indices (the paper's CIFAR overlap list, used
    automatically when `80mn_cifar_idxs.txt` lies beside the binary). OE only."""

    def __init__(self, name, path: Path, exclude: Path | None):
        super().__init__(name, f"80M Tiny Images {path}", "local")
        self.path, self.exclude = Path(path), exclude
        if exclude is None and (self.path.parent / "80mn_cifar_idxs.txt").exists():
            self.exclude = self.path.parent / "80mn_cifar_idxs.txt"

    def where(self):
        return self.path

    def available(self):
        return self.path.is_file()

    def classes(self):
        return ["image"]

    def load(self, split):
        raise DataError(f"'{self.name}' is an OE pool only; use it with --oe")

    oe_only = True

    def check_oe(self, size):
        self.check()

    def check(self):
        if self.path.is_dir():
            raise DataError(f"{self.path} is a folder; give 'tiny-images:' the path of the binary "
                            f"file (tiny_images.bin)")
        if not self.path.is_file():
            raise DataError(f"80M Tiny Images file {self.path} does not exist; check the path after "
                            f"'tiny-images:'")
        size = self.path.stat().st_size
        if size == 0 or size % 3072:
            raise DataError(f"{self.path} ({size} bytes) is not an 80M Tiny Images binary (a "
                            f"multiple of 3,072 bytes, one 32x32x3 image each); fix the path after "
                            f"'tiny-images:'")
        if self.exclude is not None and not Path(self.exclude).is_file():
            raise DataError(f"exclude file {self.exclude} does not exist; fix the path after "
                            f"',exclude=' or leave it out")

    def pool(self, shape):
        self.check()
        return TinyImagesPool(formats.TinyImages(self.path, self.exclude), shape)
