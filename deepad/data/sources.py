"""Data sets by name: where they live, whether they are here, and how to load them.

Names: the torchvision sets (`mnist`, `fashion-mnist`, `emnist-letters`, `cifar10`, `cifar100`,
`svhn`), the bundled offline sets (`digits`, `photos`), generated controls (`noise-uniform`,
`noise-gaussian`), image folders (`folder:PATH`) and the 80 Million Tiny Images binary
(`tiny-images:PATH`, optionally `tiny-images:PATH,exclude=FILE`).

Every source gives `load(split)` -> ImageSet at its native resolution (uint8 (N, C, H, W)) and the
preprocessing it gets as nominal data; `pool(shape)` gives it as an OE pool at a given shape.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from ..paths import cache_root, data_root, decoded_root  # noqa: F401 - callers use them from here
from . import archives, identity, jpeg
from .bundled import DigitsSource, NoiseSource, PhotosSource  # noqa: F401
from .folders import FolderSource, _inside, _list_images, _stratified_test_mask  # noqa: F401
from .loading import _MEMO, _log, _memo, data_progress  # noqa: F401
from .source import (  # noqa: F401
    CIFAR_LIKE,
    IMAGENET_LIKE,
    MNIST_LIKE,
    PROFILES,
    Pool,
    Source,
    TensorPool,
)
from .tiny_images import TinyImagesPool, TinyImagesSource  # noqa: F401
from .torchvision_sets import (  # noqa: F401
    CIFAR10_CLASSES,
    FASHION_CLASSES,
    LETTERS,
    MNIST_CLASSES,
    Cifar10Source,
    TorchvisionSource,
    _cifar100_classes,
    _cifar_reader,
    _download_progress,
    _emnist_reader,
    _mnist_reader,
    _svhn_reader,
    _tv_download,
)

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
OE_ONLY = tuple(n for n, s in REGISTRY.items() if s.oe_only)  # pools, not nominal data


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
            _JPEG_QUALITY[key] = jpeg.quality_of(src)
        return _JPEG_QUALITY[key]
    if isinstance(src, Cifar10Source):
        src = None if TorchvisionSource.available(src) else src._jpg()
    if not isinstance(src, FolderSource):
        return None
    key = str(src.path)
    if key not in _JPEG_QUALITY:
        _JPEG_QUALITY[key] = jpeg.quality_of(src)
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
        if isinstance(nom, FolderSource):
            shape = nom.native_shape()
        elif nom.available():
            shape = tuple(nom.load("test").images.shape[1:])
        else:  # not here (a result bundle's data set): its protocol's size, never a download
            shape = {"mnist": (1, 28, 28), "cifar": (3, 32, 32)}.get(nom.profile())
            if shape is None:
                return False
        return src.native_shape()[1:] == tuple(shape)[1:]
    except DataError:
        return False
