"""Decoding image files and conforming image tensors to a channel count and resolution."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from ..heavy import F, torch

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm",
                    ".pgm", ".pbm")
# A decompression bomb (e.g. 20000 x 20000) is refused rather than decoded.
MAX_PIXELS = 64_000_000
_LUMA = (0.299, 0.587, 0.114)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def decode(path: str, channels: int, side: int, draft: bool = True) -> np.ndarray:
    """One file -> uint8 (channels, side, side): shorter side resized to `side`, centre crop.

    draft: let Pillow's JPEG decoder scale down by a power of two while decoding (fast, but its
    DCT-domain scaling leaves the image sharper than an antialiased resize of the full decode:
    a 64-px Tiny-ImageNet photo at 32 px has ~30% more gradient energy). False: decode at full
    resolution, then resize with Pillow's antialiasing bilinear filter, as data sets such as
    CIFAR-10 were made.

    Handles grayscale, RGB, palette, alpha (dropped), 16-bit and float images. Raises ValueError
    with the reason for anything unreadable.
    """
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ValueError(f"too large ({im.width}x{im.height} pixels)")
                if draft:
                    im.draft("RGB" if channels == 3 else "L", (side, side))
                im.load()
                im = _to_8bit(im).convert("RGB" if channels == 3 else "L")
                w, h = im.size
                if (w, h) != (side, side):
                    scale = side / min(w, h)
                    nw, nh = max(side, round(w * scale)), max(side, round(h * scale))
                    im = im.resize((nw, nh), Image.BILINEAR)
                    left, top = (nw - side) // 2, (nh - side) // 2
                    im = im.crop((left, top, left + side, top + side))
                a = np.asarray(im, dtype=np.uint8)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ValueError(f"too large, refused as a possible decompression bomb ({e})") from None
        except ValueError:
            raise
        except Exception as e:  # PIL raises many types for bad files
            raise ValueError(f"{type(e).__name__}: {e}") from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _to_8bit(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        return Image.fromarray(np.clip(a / hi * 255 + 0.5, 0, 255).astype(np.uint8))
    if im.mode in ("P", "PA", "LA", "RGBA", "CMYK", "YCbCr", "1", "La", "RGBa"):
        return im.convert("RGB") if im.mode not in ("LA", "La", "1") else im.convert("L")
    return im


def _decode_chunk(args):
    paths, channels, side, draft = args
    out, bad = [], []
    for p in paths:
        try:
            out.append(decode(p, channels, side, draft))
        except ValueError as e:
            bad.append((p, str(e)))
            out.append(None)
    return out, bad


def _decode_archive_chunk(args):
    """Decode archive members in a worker process: (archive path, names, channels, side, draft)."""
    import io

    from .archives import MAX_MEMBER, read_members
    path, names, channels, side, draft = args
    out, bad = [], []
    for name, data in read_members(path, names):
        if isinstance(data, ValueError) or len(data) > MAX_MEMBER:
            bad.append((name, str(data) if isinstance(data, ValueError) else "too large"))
            out.append(None)
            continue
        try:
            out.append(decode(io.BytesIO(data), channels, side, draft))
        except ValueError as e:
            bad.append((name, str(e)))
            out.append(None)
    return out, bad


def decode_many(paths: list[str], channels: int, side: int, *, workers: int | None = None,
                progress=None, draft: bool = True,
                archive: str | None = None) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Decode files in parallel processes (or members of `archive`, with paths its member
    names). Returns (images (n_ok, C, S, S), ok mask, bad list)."""
    workers = workers or min(4, os.cpu_count() or 1)
    chunk = 512
    if archive is None:
        fn, jobs = _decode_chunk, [(paths[i:i + chunk], channels, side, draft)
                                   for i in range(0, len(paths), chunk)]
    else:
        chunk = 2048  # each job opens the archive once
        fn, jobs = _decode_archive_chunk, [(archive, paths[i:i + chunk], channels, side, draft)
                                  for i in range(0, len(paths), chunk)]
    results = []
    if workers > 1 and len(paths) > 2000:
        with ProcessPoolExecutor(workers) as ex:
            for r in ex.map(fn, jobs):
                results.append(r)
                if progress:
                    progress(len(r[0]))
    else:
        for j in jobs:
            results.append(fn(j))
            if progress:
                progress(len(results[-1][0]))
    arrays, bad = [], []
    ok = np.zeros(len(paths), dtype=bool)
    i = 0
    for out, b in results:
        for a in out:
            if a is not None:
                arrays.append(a)
                ok[i] = True
            i += 1
        bad += b
    images = np.stack(arrays) if arrays else np.zeros((0, channels, side, side), np.uint8)
    return images, ok, bad


def conform(images: torch.Tensor, channels: int, side: int, chunk: int = 4096) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, channels, side, side).

    Gray <-> RGB by replication / ITU-R 601 luma (as PIL's 'L'); resolution by resizing the shorter
    side with antialiasing and a centre crop.
    """
    n, c, h, w = images.shape
    if c == channels and h == side and w == side:
        return images
    out = torch.empty((n, channels, side, side), dtype=torch.uint8)
    for i in range(0, n, chunk):
        x = images[i:i + chunk].float()
        if c == 3 and channels == 1:
            x = (x * torch.tensor(_LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
        elif c == 1 and channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif c != channels:
            raise ValueError(f"cannot convert {c} channels to {channels}")
        if (h, w) != (side, side):
            scale = side / min(h, w)
            nh, nw = max(side, round(h * scale)), max(side, round(w * scale))
            x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
            top, left = (nh - side) // 2, (nw - side) // 2
            x = x[..., top:top + side, left:left + side]
        out[i:i + chunk] = x.round().clamp(0, 255).to(torch.uint8)
    return out


class ArrayCache:
    """Decoded images on disk as .npy (memory-mapped on read) with a JSON sidecar.

    Keyed by a fingerprint of what was decoded (paths, sizes, mtimes, target shape), so editing a
    folder invalidates its cache. Written atomically (temporary file + rename).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    @staticmethod
    def fingerprint(*parts) -> str:
        h = hashlib.sha256()
        for p in parts:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
        return h.hexdigest()[:24]

    def load(self, key: str):
        npy, meta = self.root / f"{key}.npy", self.root / f"{key}.json"
        if not (npy.exists() and meta.exists()):
            return None
        try:
            info = json.loads(meta.read_text())
            arr = np.load(npy, mmap_mode="r")
            if list(arr.shape) != info["shape"]:
                return None
            return np.array(arr), info
        except (OSError, ValueError, KeyError):
            return None

    def lock(self, key: str):
        """A cross-process lock for decoding `key` once (a no-op if the folder is read-only)."""
        from contextlib import nullcontext

        from filelock import FileLock
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            return FileLock(str(self.root / f"{key}.lock"))
        except OSError:
            return nullcontext()

    def save(self, key: str, array: np.ndarray, info: dict) -> None:
        tmp = self.root / f".{key}.{os.getpid()}.tmp.npy"
        tmp_meta = self.root / f".{key}.{os.getpid()}.tmp.json"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            np.save(tmp, array)
            tmp_meta.write_text(json.dumps({**info, "shape": list(array.shape)}))
            os.replace(tmp, self.root / f"{key}.npy")
            os.replace(tmp_meta, self.root / f"{key}.json")
        except OSError:  # a read-only or full cache only costs the decode next time
            for t in (tmp, tmp_meta):  # and leaves no half-written file behind
                try:
                    t.unlink(missing_ok=True)
                except OSError:
                    pass
