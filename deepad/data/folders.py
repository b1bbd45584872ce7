"""Image folders and archives of them (`folder:PATH`): the layouts `PATH/train|test/<class>/`,
`PATH/<class>/` (a seeded 80/20 split) or images at the top (OE only); a .zip or .tar of the same
(data.archives). Decoded once per target shape into DEEPAD_DATASET_CACHE; identified by content."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..heavy import torch
from ..paths import decoded_root
from . import archives, identity
from .base import ImageSet
from .images import ArrayCache, decode_many
from .loading import _MEMO, _log, _memo, _progress
from .source import CIFAR_LIKE, IMAGENET_LIKE, MNIST_LIKE, PROFILES, Source, TensorPool

# --------------------------------------------------------------------------- folders

def _stratified_test_mask(y: np.ndarray, frac: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test[idx[:int(round(len(idx) * frac))]] = True
    return test


def _inside(path, root) -> bool:
    """Whether `path`, every symlink on the way resolved, lies under `root`."""
    return (os.path.realpath(path) + os.sep).startswith(os.path.realpath(root) + os.sep)


def _list_images(folder: Path, root: Path) -> list[str]:
    """Image files under `folder`, sorted; symlinks that lead outside `root` (to a file, or to a
    folder on the way, e.g. a class folder) are skipped."""
    return [os.path.join(d, f) for d, _, files in identity.walk_images(str(folder), str(root))
            for f in files]


class FolderSource(Source):
    """Image folders.

    * `PATH/train/<class>/...` and `PATH/test/<class>/...`: the given split (e.g. cifar10-jpg);
    * `PATH/<class>/...`: a fixed stratified split, 20% test (seed 0);
    * images directly under PATH: one class, OE use only.
    As OE, every image under PATH (the class is the first sub-folder, for --oe-classes).
    Images are decoded once per target shape and cached under DEEPAD_CACHE/datasets.
    """

    def __init__(self, name, path: Path):
        super().__init__(name, f"image folder {path}", "local")
        self.path = Path(path)

    def where(self):
        return self.path

    @property
    def is_archive(self) -> bool:
        return archives.is_archive(self.path)

    def available(self):
        return self.path.is_dir() or self.is_archive

    def _check(self):
        if self.path.exists() and not self.path.is_dir() and not self.is_archive:
            raise DataError(f"{self.path} is a file, not a folder or an archive of images; give "
                            f"a folder that holds the images, or a .zip / .tar of them")
        if not self.available():
            raise DataError(f"image folder {self.path} does not exist; "
                            f"check the folder's path (a relative path starts at {Path.cwd()})")

    def check_oe(self, size):
        n_files = len(self._files()[0])  # raises for a missing folder or one without images
        if size is not None and size > n_files:
            raise DataError(f"OE size {size} is larger than the OE pool ({n_files} image files "
                            f"in {self.path}); use at most {n_files} or 'all'")

    def check_nominal(self):
        """Raise DataError unless the folder can be nominal data (at least 2 classes); cheap."""
        classes = self._files()[3]
        if len(classes) < 2:
            kind = (archives.layout(self._archive().names)[0] if self.is_archive
                    else self._layout()[0])
            n = 0 if kind == "flat" else len(classes)
            raise DataError(f"{self.path} has {n} class sub-folder(s), so it cannot be nominal data "
                            f"(one-vs-rest needs at least 2 classes); use it as OE "
                            f"(--oe folder:...) or arrange it as PATH/<class>/images")

    def _layout(self):
        p = self.path
        if (p / "train").is_dir() and (p / "test").is_dir():
            classes = sorted(d.name for d in (p / "train").iterdir() if d.is_dir() and _inside(d, p))
            return "split", classes
        classes = sorted(d.name for d in p.iterdir()
                         if d.is_dir() and not d.name.startswith(".") and _inside(d, p))
        return ("classes", classes) if classes else ("flat", [])

    def _archive(self) -> "archives.Archive":
        stamp = self.path.stat().st_mtime_ns
        arc = _memo(("archive", str(self.path), stamp), lambda: archives.Archive(self.path))
        if arc.skipped and ("warned", str(self.path), stamp) not in _MEMO:
            _MEMO[("warned", str(self.path), stamp)] = True
            shown = "; ".join(f"{n}: {why}" for n, why in arc.skipped[:5])
            _log(f"warning: skipped {len(arc.skipped)} member(s) of {self.path}: {shown}"
                 + (f" (and {len(arc.skipped) - 5} more)" if len(arc.skipped) > 5 else ""))
        return arc

    def _archive_files(self):
        names = self._archive().names
        kind, classes, prefix = archives.layout(names)
        groups: dict = {}  # (split, class) -> names, in one pass (100,000 members)
        for n in names:
            parts = n[len(prefix):].split("/")
            if kind == "split" and len(parts) >= 3:
                groups.setdefault((parts[0], parts[1]), []).append(n)
            elif kind == "classes" and len(parts) >= 2:
                groups.setdefault((None, parts[0]), []).append(n)
        paths, labels, test = [], [], []
        if kind == "split":
            for split in ("train", "test"):
                for k, c in enumerate(classes):
                    f = groups.get((split, c), [])
                    paths += f
                    labels += [k] * len(f)
                    test += [split == "test"] * len(f)
            return paths, np.asarray(labels, np.int64), np.asarray(test, bool), classes
        if kind == "classes":
            for k, c in enumerate(classes):
                f = groups.get((None, c), [])
                paths += f
                labels += [k] * len(f)
        else:
            paths, labels, classes = list(names), [0] * len(names), ["all"]
        y = np.asarray(labels, np.int64)
        return paths, y, _stratified_test_mask(y, 0.2, seed=0), classes

    def _open(self, p):
        """A file's image (a path, or an archive member's bytes) for PIL."""
        import io
        return io.BytesIO(self._archive().read(p)) if self.is_archive else p

    def _files(self):
        """(paths, labels, test mask, classes), cheap: a directory walk (or the archive's
        member list: member names in place of paths)."""
        def make():
            self._check()
            if self.is_archive:
                return self._archive_files()
            layout, classes = self._layout()
            paths, labels, test = [], [], []
            if layout == "split":
                for split in ("train", "test"):
                    for k, c in enumerate(classes):
                        f = _list_images(self.path / split / c, self.path)
                        paths += f
                        labels += [k] * len(f)
                        test += [split == "test"] * len(f)
                return paths, np.asarray(labels, np.int64), np.asarray(test, bool), classes
            if layout == "classes":
                for k, c in enumerate(classes):
                    f = _list_images(self.path / c, self.path)
                    paths += f
                    labels += [k] * len(f)
            else:
                paths = _list_images(self.path, self.path)
                labels = [0] * len(paths)
                classes = ["all"]
            y = np.asarray(labels, np.int64)
            return paths, y, _stratified_test_mask(y, 0.2, seed=0), classes
        stamp = self.path.stat().st_mtime_ns if self.path.exists() else 0
        paths, y, test, classes = _memo(("files", str(self.path), stamp), make)
        if not paths:
            raise DataError(f"no images found in {self.path} (looked for "
                            f"{', '.join(e for e in ('.jpg', '.png', '.bmp', '.gif', '.webp', '.tif'))} "
                            f"files); point 'folder:' at a folder of images")
        return paths, y, test, classes

    def classes(self):
        if not self.path.exists():
            meta = identity.learned(self.name)
            if meta and meta.get("classes"):
                return list(meta["classes"])
        return self._files()[3]

    def native_shape(self) -> tuple[int, int, int]:
        """(channels, side, side) chosen from a sample of the images: grayscale only if every
        sampled image is; side 28/32/64 for small images, 256 (cropped to 224) for large ones."""
        from PIL import Image
        paths = self._files()[0]
        rng = random.Random(0)
        sample = rng.sample(paths, min(64, len(paths)))
        gray, sides = True, []
        if self.is_archive:  # one pass over the archive for the whole sample
            import io
            opened = [io.BytesIO(d) for _, d in self._archive().read_many(sample)
                      if not isinstance(d, ValueError)]
        else:
            opened = sample
        for p in opened:
            try:
                with Image.open(p) as im:
                    gray &= im.mode in ("1", "L", "LA", "I", "I;16", "F")
                    sides.append(min(im.size))
            except Exception:
                continue
        if not sides:
            raise DataError(f"none of the sampled files in {self.path} is a readable image; "
                            f"point 'folder:' at a folder of images")
        side = sorted(sides)[len(sides) // 2]
        side = 28 if (gray and side <= 28) else 32 if side <= 48 else 64 if side <= 96 else 256
        return (1 if gray else 3, side, side)

    def preprocessing(self):
        if not self.path.exists():
            meta = identity.learned(self.name)
            prof = (meta or {}).get("profile")
            if prof in PROFILES:
                return PROFILES[prof]
        c, side, _ = self.native_shape()
        if side >= 224:
            return IMAGENET_LIKE
        if c == 1:
            return MNIST_LIKE
        return CIFAR_LIKE

    def _decoded(self, shape, draft: bool = True):
        paths, y, test, classes = self._files()
        cache = ArrayCache(decoded_root())
        if self.is_archive:
            st = self.path.stat()
            sig = [("archive", st.st_size, st.st_mtime_ns), paths]
        else:
            sig = [(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths]
        # the draft decode keeps the fingerprint it always had, so existing caches stay valid
        extra = () if draft else ("full-resolution decode",)
        key = cache.fingerprint("folder", str(self.path.resolve()), list(shape), sig, *extra)

        def make():
            hit = cache.load(key)
            if hit is not None:
                arr, info = hit
                return torch.from_numpy(arr), np.asarray(info["ok"], bool)
            with cache.lock(key):  # parallel workers decode a folder once
                hit = cache.load(key)
                if hit is not None:
                    arr, info = hit
                    return torch.from_numpy(arr), np.asarray(info["ok"], bool)
                return decode_now()

        def decode_now():
            _log(f"decoding {len(paths)} images in {self.path} (once; cached afterwards) ...")
            done = [0]

            def step(n):
                done[0] += n
                _progress(f"decoding {len(paths):,} images of {self.path.name} (once; cached "
                          f"afterwards): {done[0]:,} done", done[0] / max(1, len(paths)))
            images, ok, bad = decode_many(paths, shape[0], shape[1], draft=draft, progress=step,
                                          archive=str(self.path) if self.is_archive else None)
            if bad:
                shown = "; ".join(f"{p}: {why}" for p, why in bad[:5])
                more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
                _log(f"warning: skipped {len(bad)} unreadable file(s): {shown}{more}")
            if not ok.any():
                raise DataError(f"none of the {len(paths)} files in {self.path} could be read "
                                f"as an image (first: {bad[0][0]}: {bad[0][1]})")
            cache.save(key, images, {"ok": ok.tolist(), "bad": bad[:100]})
            return torch.from_numpy(images), ok
        return _memo(("decoded", key), make)

    def load(self, split):
        self.check_nominal()
        paths, y, test, classes = self._files()
        images, ok = self._decoded(self.native_shape())
        keep = (test if split == "test" else ~test)[ok]
        return ImageSet(images[torch.from_numpy(keep)], torch.from_numpy(y[ok][keep]), classes)

    def pool(self, shape, draft: bool = True):
        """draft=False: decoded at full resolution and resized with antialiasing (images.decode);
        what RunConfig.oe_jpeg asks for."""
        paths, y, test, classes = self._files()
        images, ok = self._decoded(shape, draft)
        return TensorPool(images, y[ok], classes)
