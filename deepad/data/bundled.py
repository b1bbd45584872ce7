"""Data that ship inside the installed packages or are generated: scikit-learn's 8x8 digits
(nominal), patches of its sample photos and pixel noise (OE). They work offline."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..heavy import torch
from .base import ImageSet
from .folders import _stratified_test_mask
from .images import conform
from .loading import _memo
from .source import Source, TensorPool
from .torchvision_sets import MNIST_CLASSES

# --------------------------------------------------------------------------- bundled

def _sklearn_file(*parts: str):
    """A data file inside the installed scikit-learn, found without importing it (importing
    scikit-learn costs 1-2 s, which the dashboard's first result would wait for); None where
    it cannot be found."""
    import importlib.util
    from pathlib import Path
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root, "datasets", *parts)
        if path.is_file():
            return path
    return None


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """(8x8 images as float 0..16, labels): scikit-learn's digits.csv.gz (64 pixels then the
    label per line) read directly, as load_digits gives them."""
    path = _sklearn_file("data", "digits.csv.gz")
    if path is None:
        from sklearn.datasets import load_digits
        d = load_digits()
        return d.images, d.target
    data = np.loadtxt(path, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


def _sample_photos() -> list[np.ndarray]:
    """scikit-learn's sample photos (china.jpg, flower.jpg, in name order) as HxWx3 uint8
    arrays, read directly, as load_sample_images gives them."""
    folder = _sklearn_file("images", "china.jpg")
    if folder is None:
        from sklearn.datasets import load_sample_images
        return list(load_sample_images().images)
    from PIL import Image
    out = []
    for path in sorted(folder.parent.glob("*.jpg")):
        with Image.open(path) as im:
            out.append(np.asarray(im))
    return out


class DigitsSource(Source):
    """scikit-learn's 8x8 handwritten digits (1,797 images, shipped inside scikit-learn).

    A fixed stratified split (seed 0): 60% train, 40% test."""

    def __init__(self):
        super().__init__("digits", "8x8 digits (bundled)", "bundled",
                         "scikit-learn's 8x8 handwritten digits; works offline")

    def classes(self):
        return MNIST_CLASSES

    def profile(self):
        return "tiny"

    def load(self, split):
        def make():
            images, target = _digits()
            x = np.round(images * (255 / 16)).astype(np.uint8)[:, None]
            y = target.astype(np.int64)
            test = _stratified_test_mask(y, 0.4, seed=0)
            return x, y, test
        x, y, test = _memo(("digits",), make)
        m = test if split == "test" else ~test
        return ImageSet(torch.from_numpy(x[m]), torch.from_numpy(y[m]), MNIST_CLASSES)


class PhotosSource(Source):
    oe_only = True
    """Patches of the natural sample photos that ship inside scikit-learn (china.jpg,
    flower.jpg): square crops at seven scales on a half-overlapping grid, resized to the nominal
    data's shape. A stand-in for 'random natural images' that works offline."""

    SCALES = (8, 12, 16, 24, 32, 48, 64, 96, 128)

    def __init__(self):
        super().__init__("photos", "natural photo patches (bundled)", "bundled",
                         "patches of the sample photos inside scikit-learn; OE only")

    def classes(self):
        return ["china", "flower"]

    def load(self, split):
        raise DataError("'photos' is an OE pool only (it has no classes to hold out); "
                        "use it with --oe photos")

    def pool(self, shape):
        def make():
            photos = [torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in _sample_photos()]
            budget = 256 * 2 ** 20 // (shape[0] * shape[1] * shape[2])  # at most ~256 MB
            chunks, labels = [], []
            for k, img in enumerate(photos):
                for s in self.SCALES:
                    if s < shape[1] // 4:
                        continue  # tiny crops blown up are just blur
                    p = img.unfold(1, s, s // 2).unfold(2, s, s // 2)  # (C, ny, nx, s, s)
                    p = p.permute(1, 2, 0, 3, 4).reshape(-1, img.shape[0], s, s)
                    chunks.append(conform(p.contiguous(), shape[0], shape[1]))
                    labels += [k] * p.shape[0]
            x = torch.cat(chunks)
            labels = np.asarray(labels)
            if len(x) > budget:
                keep = np.sort(np.random.default_rng(0).choice(len(x), budget, replace=False))
                x, labels = x[torch.from_numpy(keep)], labels[keep]
            return x, labels
        x, labels = _memo(("photos", shape), make)
        return TensorPool(x, labels, self.classes())


class NoiseSource(Source):
    oe_only = True
    """Generated noise images as OE (a control the paper invites): uniform uint8 pixels, or
    Gaussian pixels N(128, 64^2) clipped. A fixed pool (seed 0) of up to 10,000 images."""

    def __init__(self, kind):
        super().__init__(f"noise-{kind}", f"{kind} noise (generated)", "generated",
                         f"{kind} pixel noise; OE only")
        self.kind = kind

    def classes(self):
        return [self.kind]

    def load(self, split):
        raise DataError(f"'{self.name}' is an OE pool only; use it with --oe {self.name}")

    def pool(self, shape):
        n = int(min(10_000, 256 * 2 ** 20 // (shape[0] * shape[1] * shape[2])))
        g = torch.Generator().manual_seed(0)
        if self.kind == "uniform":
            x = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
        else:
            x = (torch.randn((n, *shape), generator=g) * 64 + 128).round().clamp(0, 255).to(torch.uint8)
        return TensorPool(x, np.zeros(n, dtype=np.int64), [self.kind])
