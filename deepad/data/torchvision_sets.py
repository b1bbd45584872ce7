"""torchvision's data sets (MNIST, Fashion-MNIST, EMNIST letters, CIFAR-10/100, SVHN): read from
their files under the data root, downloaded on first use with progress; CIFAR-10 also from a
JPEG image-folder copy."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..heavy import torch
from ..paths import data_root
from . import formats
from .base import ImageSet
from .folders import FolderSource
from .loading import _log, _memo
from .source import Source


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
