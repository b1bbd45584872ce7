"""One-vs-rest tasks and OE subsets (paper-protocol.md sections 1 and 6).

Train: the nominal class's training images only. Test: the whole test split, label 1 = anomaly
(every class but the nominal one). OE: a subset of the pool drawn from the run seed alone, so it is
the same for every method and nominal class of that seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..heavy import torch
from . import sources
from .augment import Preprocessing

# Above this many images an OE subset is read batch by batch from its pool instead of held in
# memory (only the 80M Tiny Images binary gets there).
IN_MEMORY_LIMIT = 2_000_000


def jpeg_roundtrip(images: torch.Tensor, quality: int) -> torch.Tensor:
    """uint8 (n, C, H, W) images encoded as JPEG at `quality` (Pillow, 4:2:0 chroma subsampling,
    its default) and decoded again: the codec's artefacts, as in data stored as JPEG."""
    import io

    from PIL import Image
    x = images.numpy()
    out = np.empty_like(x)
    for i, im in enumerate(x):
        pic = Image.fromarray(im[0] if im.shape[0] == 1 else im.transpose(1, 2, 0))
        buf = io.BytesIO()
        pic.save(buf, format="JPEG", quality=int(quality))
        dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert(pic.mode))
        out[i] = dec[None] if im.shape[0] == 1 else dec.transpose(2, 0, 1)
    return torch.from_numpy(out)


class JpegPool(sources.Pool):
    """A pool whose images come out JPEG-encoded and decoded at `quality` (RunConfig.oe_jpeg)."""

    def __init__(self, pool: sources.Pool, quality: int):
        self.pool, self.quality = pool, quality
        self.labels, self.classes = pool.labels, pool.classes

    def take(self, idx) -> torch.Tensor:
        return jpeg_roundtrip(self.pool.take(idx), self.quality)


def oe_pool(cfg, shape) -> sources.Pool:
    """The run's OE pool at the nominal shape. With cfg.oe_jpeg the OE is made as a JPEG copy
    such as CIFAR-10's was: image folders decoded at full resolution and resized with
    antialiasing (never the decoder's fast DCT scaling), then the codec (JpegPool)."""
    src = sources.locate(cfg.oe, cfg.oe_id)
    if cfg.oe_jpeg is None:
        return src.pool(shape)
    base = src.pool(shape, draft=False) if isinstance(src, sources.FolderSource) else src.pool(shape)
    return JpegPool(base, cfg.oe_jpeg)


@dataclass
class OESubset:
    """The OE images of a run: `len()` images, `take(positions)` -> uint8 (n, C, H, W)."""

    pool: sources.Pool
    indices: np.ndarray  # into the pool
    images: torch.Tensor | None = None  # materialised when small enough

    def __len__(self):
        return len(self.indices)

    def take(self, positions) -> torch.Tensor:
        if self.images is not None:
            return self.images[torch.as_tensor(positions)]
        return self.pool.take(self.indices[np.asarray(positions)])


@dataclass
class Task:
    train: torch.Tensor        # uint8 (n, C, H, W), nominal class only
    test: torch.Tensor         # uint8 (m, C, H, W), whole test split
    test_labels: np.ndarray    # (m,) 1 = anomaly
    test_classes: np.ndarray   # (m,) original class of each test image
    oe: OESubset | None
    prep: Preprocessing
    class_names: list[str]


def select_oe(pool_labels: np.ndarray | int, size: int | None, n_classes: int | None,
              seed: int) -> np.ndarray:
    """Indices of the OE subset: k classes chosen by random.Random(seed).sample, then `size`
    images by random.Random(seed).sample (the paper's code), None = all. Depends on the seed and the
    pool only, never on the method or nominal class."""
    if isinstance(pool_labels, (int, np.integer)):
        n = int(pool_labels)
        candidates = None
    else:
        labels = np.asarray(pool_labels)
        n = len(labels)
        candidates = None
        if n_classes is not None:
            present = sorted(np.unique(labels).tolist())
            if n_classes > len(present):
                raise DataError(f"OE classes {n_classes} is more than the {len(present)} classes of "
                                f"the pool; use at most {len(present)}")
            chosen = random.Random(seed).sample(present, n_classes)
            candidates = np.flatnonzero(np.isin(labels, chosen))
    m = n if candidates is None else len(candidates)
    if size is None:
        pos = np.arange(m)
    else:
        if size > m:
            raise DataError(f"OE size {size} is larger than the OE pool ({m} images); "
                            f"use at most {m} or 'all'")
        pos = np.asarray(random.Random(seed).sample(range(m), size), dtype=np.int64)
    return pos if candidates is None else candidates[pos]


def build_task(cfg, splits=None, pool: sources.Pool | None = None) -> Task:
    """The run's one-vs-rest task. `splits` (train ImageSet, test ImageSet, Preprocessing) and
    `pool` (the run's whole OE pool at the nominal shape, as oe_pool gives it) come from the
    caller when it has them (a Ray worker gets them from the driver); else they are read here."""
    if splits is None:
        src = sources.locate(cfg.dataset, cfg.dataset_id)
        splits = (src.load("train"), src.load("test"), src.preprocessing())
    train, test, prep = splits
    k = cfg.normal_class
    nominal = train.images[train.labels == k]
    if len(nominal) == 0:
        raise DataError(f"{cfg.dataset} has no training images of class {k}; add images of "
                        f"that class or pick another --normal-class")
    test_y = (test.labels != k).numpy().astype(np.int8)
    if test_y.all() or not test_y.any():
        raise DataError(f"the test split of {cfg.dataset} needs images of class {k} and of "
                        f"other classes; for an image folder give every class at least 3 images "
                        f"(20% of each is held out for testing) or use PATH/train and PATH/test")
    oe = None
    if cfg.oe != "none":
        pool = oe_pool(cfg, tuple(nominal.shape[1:])) if pool is None else pool
        if cfg.oe_classes is None:
            idx = select_oe(len(pool), cfg.oe_size, None, cfg.seed)
        else:
            idx = select_oe(pool.labels, cfg.oe_size, cfg.oe_classes, cfg.seed)
        oe = OESubset(pool, idx)
        if len(idx) <= IN_MEMORY_LIMIT:
            oe.images = pool.take(idx)
    return Task(nominal.contiguous(), test.images, test_y, test.labels.numpy(), oe, prep,
                test.classes)
