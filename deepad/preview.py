"""Images behind the numbers: test images by score, the OE images a run used, uploads."""

from __future__ import annotations

import io

import numpy as np

from .config import RunConfig
from .data import sources
from .data.blur import gaussian_blur
from .data.images import conform, decode
from .data.tasks import oe_pool, select_oe
from .errors import DeepadError
from .heavy import torch

MAX_UPLOAD_BYTES = 20 * 2 ** 20


def extremes(scores: np.ndarray, labels: np.ndarray, k: int = 8) -> dict[str, np.ndarray]:
    """Test-set indices of the nominal images scored most anomalous (false alarms) and of the
    anomalies scored most normal (misses), worst first."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    nom, ano = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    return {"false_alarms": nom[np.argsort(-scores[nom], kind="stable")[:k]],
            "misses": ano[np.argsort(scores[ano], kind="stable")[:k]]}


def oe_images(cfg: RunConfig, k: int = 16, blur_sigma: float | None = None) -> np.ndarray:
    """The first k OE images of a run's OE subset, as the network sees them before augmentation:
    converted to the nominal shape, re-encoded as JPEG when the run says so, and blurred with the
    run's sigma (or `blur_sigma`).
    uint8 (k, C, H, W); empty when the run uses no OE."""
    src = sources.locate(cfg.dataset, cfg.dataset_id)
    shape = tuple(src.load("test").images.shape[1:])
    if cfg.oe == "none":
        return np.zeros((0, *shape), np.uint8)
    pool = oe_pool(cfg, shape)
    if cfg.oe_classes is None:
        idx = select_oe(len(pool), cfg.oe_size, None, cfg.seed)
    else:
        idx = select_oe(pool.labels, cfg.oe_size, cfg.oe_classes, cfg.seed)
    x = pool.take(idx[:k]).float()
    sigma = cfg.blur_sigma if blur_sigma is None else blur_sigma
    if sigma:
        x = gaussian_blur(x, sigma)
    return x.round().clamp(0, 255).to(torch.uint8).numpy()


def decode_upload(data: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """An uploaded file -> uint8 (1, C, H, W) at the data set's shape. Raises DeepadError with a
    clear message for files that are too large or not images."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise DeepadError(f"the file is {len(data) / 2 ** 20:.1f} MB; upload an image under "
                          f"{MAX_UPLOAD_BYTES // 2 ** 20} MB")
    c, h, _ = shape
    try:
        side = max(h, 1)
        a = decode(io.BytesIO(data), c, side)
    except ValueError as e:
        import re
        why = re.sub(r"\s*<_io\.\w+ object at 0x[0-9a-f]+>", "", str(e))
        raise DeepadError(f"this file is not a readable image ({why}); upload a PNG or JPEG") from None
    return conform(torch.from_numpy(np.array(a[None])), c, h).numpy()
