"""Data sets by name: where they live, whether they are here, and how to load them.

Names: the torchvision sets (`mnist`, `fashion-mnist`, `emnist-letters`, `cifar10`, `cifar100`,
`svhn`), the bundled offline sets (`digits`, `photos`), generated controls (`noise-uniform`,
`noise-gaussian`), image folders (`folder:PATH`) and the 80 Million Tiny Images binary
(`tiny-images:PATH`, optionally `tiny-images:PATH,exclude=FILE`).

Every source gives `load(split)` -> ImageSet at its native resolution (uint8 (N, C, H, W)) and the
preprocessing it gets as nominal data; `pool(shape)` gives it as an OE pool at a given shape.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..heavy import torch
from ..paths import cache_root, data_root, decoded_root  # noqa: F401 - callers use them from here
from . import archives, formats, identity
from .augment import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocessing,
)
from .base import ImageSet
from .images import ArrayCache, conform, decode_many

MNIST_LIKE = Preprocessing()
CIFAR_LIKE = Preprocessing(augment=True, mean=CIFAR10_MEAN, std=CIFAR10_STD, pad=4)
IMAGENET_LIKE = Preprocessing(augment=True, mean=IMAGENET_MEAN, std=IMAGENET_STD, crop=224)
PROFILES = {"mnist": MNIST_LIKE, "cifar": CIFAR_LIKE, "imagenet": IMAGENET_LIKE}




_LISTENERS = threading.local()


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
    for fn in getattr(_LISTENERS, "fns", ()):
        fn(msg, None)


@contextlib.contextmanager
def data_progress(fn):
    """Route this thread's data-loading messages to fn(message, fraction or None), e.g. a
    progress bar in a page: the first decode of a data set (60,000 CIFAR-10 images) takes a
    while and should say so where the user looks."""
    fns = getattr(_LISTENERS, "fns", ())
    _LISTENERS.fns = fns + (fn,)
    try:
        yield
    finally:
        _LISTENERS.fns = fns


def _progress(msg: str, fraction: float) -> None:
    for fn in getattr(_LISTENERS, "fns", ()):
        fn(msg, fraction)


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


# --------------------------------------------------------------------------- sources

@dataclass
class Source:
    name: str
    title: str
    origin: str  # "download" | "bundled" | "generated" | "local"
    note: str = ""

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


def _memo(key, fn):
    """Process-wide memo of loaded arrays (a dashboard or sweep loads a data set once)."""
    if key not in _MEMO:
        if len(_MEMO) > 16:
            _MEMO.clear()
        _MEMO[key] = fn()
    return _MEMO[key]


def _download_failed(name, folder, err, alternatives):
    return DataError(
        f"data set '{name}' is not in {folder} and could not be downloaded ({err}); "
        f"download it on a machine with internet into DEEPAD_DATA (now {data_root()}), "
        f"point DEEPAD_DATA at a folder that has it, or use {alternatives}")


_ALTERNATIVES = ("the bundled 'digits' (nominal) or 'photos' (OE), or a 'folder:PATH'; "
                 "`python -m deepad datasets` shows what is on disk")


class TorchvisionSource(Source):
    """A torchvision data set: read from its files under the data root, downloaded on first use."""

    def __init__(self, name, title, folder, reader, downloader, classes, prep, note=""):
        super().__init__(name, title, "download", note)
        self._folder, self._reader, self._downloader = folder, reader, downloader
        self._classes, self._prep = classes, prep

    def where(self):
        return data_root() / self._folder

    def available(self):
        try:
            self._reader(data_root(), True, probe=True)
            return True
        except (DataError, FileNotFoundError, OSError):
            return False

    def classes(self):
        return list(self._classes)

    def preprocessing(self):
        return self._prep

    def ensure(self, progress=None):
        """Download the data set unless it is on disk. `progress(done_bytes, total_bytes, files)`
        is called as the bytes arrive (total None when the server does not say)."""
        if self.available():
            return
        if os.environ.get("DEEPAD_OFFLINE"):
            raise _download_failed(self.name, self.where(), "DEEPAD_OFFLINE is set",
                                   _ALTERNATIVES)
        _log(f"downloading {self.name} into {data_root()} ...")
        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(30)
        try:
            import contextlib
            with contextlib.redirect_stdout(sys.stderr), _download_progress(progress):
                self._downloader(str(data_root()))
        except Exception as e:  # network errors come in many types
            raise _download_failed(self.name, self.where(), f"{type(e).__name__}: {e}",
                                   _ALTERNATIVES) from None
        finally:
            socket.setdefaulttimeout(old)

    def load(self, split):
        self.ensure()
        key = (self.name, str(data_root().resolve()), split)
        images, labels = _memo(key, lambda: self._reader(data_root(), split == "train"))
        return ImageSet(torch.from_numpy(np.ascontiguousarray(images)),
                        torch.from_numpy(np.asarray(labels, dtype=np.int64)), list(self._classes))


_PROGRESS_LOCK = threading.Lock()


@contextlib.contextmanager
def _download_progress(progress):
    """Route torchvision's per-file download progress (a tqdm bar) to `progress`."""
    if progress is None:
        yield
        return
    import torchvision.datasets.utils as tv_utils

    state = {"files": 0}

    class _Bar:
        def __init__(self, total=None, **kw):
            self.total, self.n = total, 0
            state["files"] += 1
            progress(0, total, state["files"])

        def update(self, k):
            self.n += k
            progress(self.n, self.total, state["files"])

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def close(self):
            pass

    with _PROGRESS_LOCK:
        saved = tv_utils.tqdm
        tv_utils.tqdm = _Bar
        try:
            yield
        finally:
            tv_utils.tqdm = saved


def _mnist_reader(folder, prefix=""):
    def read(root, train, probe=False):
        raw = Path(root) / folder / "raw"
        if probe:
            for stem in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
                if not any((raw / f"{prefix}{stem}{ext}").exists() for ext in ("", ".gz")):
                    raise FileNotFoundError(raw)
            return None
        return formats.read_mnist_like(raw, train, prefix=prefix)
    return read


def _emnist_reader(root, train, probe=False):
    raw = Path(root) / "EMNIST" / "raw"
    if probe:
        if not any((raw / f"emnist-letters-train-images-idx3-ubyte{e}").exists() for e in ("", ".gz")):
            raise FileNotFoundError(raw)
        return None
    images, labels, _ = formats.read_emnist_letters(raw, train)
    return images, labels


def _cifar_reader(which):
    def read(root, train, probe=False):
        sub = "cifar-10-batches-py" if which == 10 else "cifar-100-python"
        if probe:
            if not (Path(root) / sub).is_dir():
                raise FileNotFoundError(Path(root) / sub)
            return None
        fn = formats.read_cifar10 if which == 10 else formats.read_cifar100
        images, labels, _ = fn(root, train)
        return images, labels
    return read


def _svhn_reader(root, train, probe=False):
    folder = Path(root) / "svhn"
    if probe:
        if not (folder / "train_32x32.mat").exists():
            raise FileNotFoundError(folder)
        return None
    images, labels, _ = formats.read_svhn(folder, "train" if train else "test")
    return images, labels


def _tv_download(cls_name, **kw):
    def dl(root):
        import torchvision.datasets as tvd
        cls = getattr(tvd, cls_name)
        if cls_name == "SVHN":
            for split in ("train", "test"):
                cls(str(Path(root) / "svhn"), split=split, download=True)
            return
        for train in (True, False):
            cls(root, train=train, download=True, **kw)
    return dl


class Cifar10Source(TorchvisionSource):
    """CIFAR-10 from the python pickles, or, when only those are missing, from a JPEG image folder
    `cifar10-jpg/{train,test}/<class>/` under the data root (lossy; the shared test data)."""

    def _jpg(self):
        p = data_root() / "cifar10-jpg"
        return FolderSource(f"folder:{p}", p) if (p / "train").is_dir() else None

    def available(self):
        return super().available() or self._jpg() is not None

    def where(self):
        return data_root() / ("cifar-10-batches-py" if super().available() or not self._jpg()
                              else "cifar10-jpg")

    def load(self, split):
        if not super().available() and self._jpg() is not None:
            s = self._jpg().load(split)
            return ImageSet(s.images, s.labels, list(self._classes))
        return super().load(split)


MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
                   "bag", "ankle-boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                   "truck"]
LETTERS = [chr(ord("a") + i) for i in range(26)]


def _cifar100_classes():
    from .cifar100_names import CIFAR100_CLASSES
    return CIFAR100_CLASSES


# --------------------------------------------------------------------------- bundled

class DigitsSource(Source):
    """scikit-learn's 8x8 handwritten digits (1,797 images, shipped inside scikit-learn).

    A fixed stratified split (seed 0): 60% train, 40% test."""

    def __init__(self):
        super().__init__("digits", "8x8 digits (bundled)", "bundled",
                         "scikit-learn's 8x8 handwritten digits; works offline")

    def classes(self):
        return MNIST_CLASSES

    def load(self, split):
        def make():
            from sklearn.datasets import load_digits
            d = load_digits()
            x = np.round(d.images * (255 / 16)).astype(np.uint8)[:, None]
            y = d.target.astype(np.int64)
            test = _stratified_test_mask(y, 0.4, seed=0)
            return x, y, test
        x, y, test = _memo(("digits",), make)
        m = test if split == "test" else ~test
        return ImageSet(torch.from_numpy(x[m]), torch.from_numpy(y[m]), MNIST_CLASSES)


class PhotosSource(Source):
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
            from sklearn.datasets import load_sample_images
            photos = [torch.from_numpy(np.array(p)).permute(2, 0, 1)
                      for p in load_sample_images().images]
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


# --------------------------------------------------------------------------- registry

def _registry() -> dict[str, Source]:
    regs = [
        TorchvisionSource("mnist", "MNIST", "MNIST/raw", _mnist_reader("MNIST"),
                          _tv_download("MNIST"), MNIST_CLASSES, MNIST_LIKE),
        TorchvisionSource("fashion-mnist", "Fashion-MNIST", "FashionMNIST/raw",
                          _mnist_reader("FashionMNIST"), _tv_download("FashionMNIST"),
                          FASHION_CLASSES, MNIST_LIKE),
        TorchvisionSource("emnist-letters", "EMNIST letters", "EMNIST/raw", _emnist_reader,
                          _tv_download("EMNIST", split="letters"), LETTERS, MNIST_LIKE,
                          note="the paper's OE for MNIST; letters stored transposed, as the paper used them"),
        Cifar10Source("cifar10", "CIFAR-10", "cifar-10-batches-py", _cifar_reader(10),
                      _tv_download("CIFAR10"), CIFAR10_CLASSES, CIFAR_LIKE),
        TorchvisionSource("cifar100", "CIFAR-100", "cifar-100-python", _cifar_reader(100),
                          _tv_download("CIFAR100"), _cifar100_classes(), CIFAR_LIKE),
        TorchvisionSource("svhn", "SVHN", "svhn", _svhn_reader, _tv_download("SVHN"),
                          MNIST_CLASSES, CIFAR_LIKE),
        DigitsSource(),
        PhotosSource(),
        NoiseSource("uniform"),
        NoiseSource("gaussian"),
    ]
    return {s.name: s for s in regs}


REGISTRY = _registry()
OE_ONLY = ("photos", "noise-uniform", "noise-gaussian")


def canonical_name(name: str) -> str:
    """Normalise a data-set name: folder and tiny-images paths become absolute."""
    for prefix in ("folder:", "tiny-images:"):
        if name.startswith(prefix) and not name[len(prefix):].partition(",exclude=")[0].strip():
            example = "/data/tiny_images.bin" if prefix == "tiny-images:" else "/data/my-images"
            raise DataError(f"'{prefix}' needs a path after it; give e.g. {prefix}{example}")
    if name.startswith("folder:"):
        return "folder:" + os.path.abspath(os.path.expanduser(name[len("folder:"):]))
    if name.startswith("tiny-images:"):
        path, _, opt = name[len("tiny-images:"):].partition(",exclude=")
        out = "tiny-images:" + os.path.abspath(os.path.expanduser(path))
        return out + (",exclude=" + os.path.abspath(os.path.expanduser(opt)) if opt else "")
    return name.lower()


def found_folders() -> list[str]:
    """Image folders and archives under the data root that `deepad datasets` names (as
    `folder:` data sets): for each folder X there, X/images.zip, X/images, or X itself when it is
    an archive. Cheap: no image is opened."""
    root = data_root()
    out = []
    try:
        children = sorted(root.iterdir())
    except OSError:
        return out
    for x in children:
        for cand in (x / "images.zip", x / "images", x):
            if archives.is_archive(cand) or (cand != x and cand.is_dir()):
                out.append(f"folder:{cand}")
                break
    return out


def _tiny_parts(name: str) -> tuple[str, str | None]:
    src = get(name)
    return str(src.path), (str(src.exclude) if src.exclude else None)


def identify(name: str) -> str | None:
    """The content identity (data.identity) of a data set given by a path, None for a registry
    name. A path that is not on this machine is identified by what is known of it (learned from
    the run store or a result bundle, or remembered from an earlier visit); otherwise DataError."""
    name = canonical_name(name)
    if name.startswith("folder:"):
        path = name[len("folder:"):]
        if os.path.isdir(path):
            return identity.fingerprint("folder", path, progress=_log)
        if archives.is_archive(path):
            return identity.fingerprint("file", path, progress=_log)
    elif name.startswith("tiny-images:"):
        path, exclude = _tiny_parts(name)
        if os.path.isfile(path) and (exclude is None or os.path.isfile(exclude)):
            return identity.fingerprint("file", path, exclude, progress=_log)
    else:
        return None
    known = identity.lookup(name)
    if known:
        return known
    src = get(name)
    if isinstance(src, FolderSource):
        src._check()
    else:
        src.check()
    raise DataError(f"{name} is not on this machine; fix the path")  # pragma: no cover


def locate(name: str, ident: str | None) -> Source:
    """The source of a run's data set: `name` itself when it holds the data with identity
    `ident` (or for registry names), else another path on this machine known to hold them.
    DataError, naming where the data were and how to give them, when they are nowhere here."""
    src = get(name)
    if ident is None:
        return src
    here = None
    try:
        if src.available():
            here = identify(name)
    except DataError:
        here = None
    if here == ident:
        return src
    kind = name.split(":", 1)[0]
    for path in identity.known_paths(ident):
        cand = f"{kind}:{path}" if kind == "folder" else None
        if cand and cand != name and os.path.isdir(path):
            try:
                if identify(cand) == ident:
                    return get(cand)
            except DataError:
                continue
    what = "changed since the run was made" if here is not None else "not on this machine"
    raise DataError(f"the data of this run ({name}, content {ident[:12]}) are {what}; give a copy "
                    f"of the same images (e.g. `--oe {kind}:YOUR_COPY` or `--dataset "
                    f"{kind}:YOUR_COPY`): deepad finds them by content, wherever they lie")


def get(name: str) -> Source:
    """The source for a data-set name (see the module docstring)."""
    if not isinstance(name, str) or not name:
        raise DataError("empty data-set name; run `python -m deepad datasets` to see the choices")
    name = canonical_name(name)
    if name.startswith("folder:"):
        return FolderSource(name, Path(name[len("folder:"):]))
    if name.startswith("tiny-images:"):
        path, _, opt = name[len("tiny-images:"):].partition(",exclude=")
        return TinyImagesSource(name, Path(path), Path(opt) if opt else None)
    if name in REGISTRY:
        return REGISTRY[name]
    raise DataError(f"unknown data set '{name}'; choose one of {', '.join(REGISTRY)}, "
                    f"'folder:PATH' or 'tiny-images:PATH' (see `python -m deepad datasets`)")


_JPEG_QUALITY: dict = {}


def jpeg_quality(name: str) -> int | None:
    """The JPEG quality a nominal data set's images were stored at, when it is read from JPEG
    files whose quantisation tables are Pillow's for some quality 1..100 (e.g. the `cifar10-jpg`
    copy: 75); None for lossless data, other encoders or anything unreadable. Looked up on the
    first training image, once per data set and folder."""
    src = get(name)
    if not src.available():  # not here: what a result bundle or the run store told of it
        return (identity.learned(src.name) or {}).get("jpeg_quality")
    if isinstance(src, FolderSource) and src.is_archive:
        key = str(src.path)
        if key not in _JPEG_QUALITY:
            _JPEG_QUALITY[key] = _pillow_quality_of(src)
        return _JPEG_QUALITY[key]
    if isinstance(src, Cifar10Source):
        src = None if TorchvisionSource.available(src) else src._jpg()
    if not isinstance(src, FolderSource):
        return None
    key = str(src.path)
    if key not in _JPEG_QUALITY:
        _JPEG_QUALITY[key] = _pillow_quality_of(src)
    return _JPEG_QUALITY[key]


def oe_jpeg_setting(setting, name: str, oe: str | None = None) -> int | None:
    """An `--oe-jpeg` setting of the benchmark scripts resolved for nominal data set `name`:
    'auto' = the quality its images are stored at (jpeg_quality), unless the OE pool `oe` already
    carries that codec at the nominal resolution (carries_codec: re-encoding it again would only
    add a second generation of artefacts); None or 'none' = off, otherwise the quality itself
    (checked by make_config)."""
    if setting in (None, "none"):
        return None
    if setting == "auto":
        q = jpeg_quality(name)
        if q is not None and oe and carries_codec(oe, name):
            return None
        return q
    return int(setting)


def carries_codec(oe: str, nominal: str) -> bool:
    """Whether the OE pool's images are stored as JPEG at the nominal data's quality (read from
    both files' quantisation tables, not assumed) and at the nominal resolution, so that they
    already look like the nominal copy (e.g. the 32-px Tiny-ImageNet training zip beside the
    CIFAR-10 JPEG copy, both Pillow's quality 75)."""
    try:
        q = jpeg_quality(nominal)
        src, nom = get(oe), get(nominal)
        if q is None or not isinstance(src, FolderSource) or not src.available():
            return False
        if jpeg_quality(oe) != q:
            return False
        shape = nom.native_shape() if isinstance(nom, FolderSource) else tuple(nom.load("test").images.shape[1:])
        return src.native_shape()[1:] == tuple(shape)[1:]
    except DataError:
        return False


def _pillow_quality_of(src: "FolderSource") -> int | None:
    import io

    from PIL import Image
    try:
        paths = src._files()[0]
        with Image.open(src._open(paths[0])) as im:
            if im.format != "JPEG":
                return None
            tables, mode = im.quantization, ("L" if im.mode == "L" else "RGB")
    except Exception:  # noqa: BLE001 - not a readable folder: no quality to report
        return None
    probe = Image.new(mode, (16, 16))
    for q in range(1, 101):
        buf = io.BytesIO()
        probe.save(buf, format="JPEG", quality=q)
        if Image.open(buf).quantization == tables:
            return q
    return None
