"""Readers of the on-disk formats of the standard image data sets.

Every reader returns numpy arrays: images as uint8 of shape (N, C, H, W) with C = 1 or 3, labels
as int64 of shape (N,), and (where the format names them) the class names, `classes[k]` being the
name of label k. Unreadable, truncated or unexpected files raise `DataError` naming the file.

Formats and the layouts torchvision downloads them in:

* IDX (MNIST, Fashion-MNIST, EMNIST): `MNIST/raw/train-images-idx3-ubyte`, ... (plain or .gz).
* CIFAR-10 / CIFAR-100 python pickles: `cifar-10-batches-py/`, `cifar-100-python/`. They are
  unpickled by a restricted unpickler that can only rebuild numpy arrays, so a malicious file
  cannot run code.
* SVHN MATLAB files: `{train,test,extra}_32x32.mat`.
* 80 Million Tiny Images: the flat binary `tiny_images.bin`, read through a memory map.
"""

from __future__ import annotations

import gzip
import pickle
import zlib
from pathlib import Path

import numpy as np

from deepad.errors import DataError

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
EMNIST_LETTERS_CLASSES = [chr(ord("a") + k) for k in range(26)]
SVHN_CLASSES = [str(d) for d in range(10)]


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return path


# ----------------------------------------------------------------------------------------- IDX

# dtype code -> big-endian numpy dtype
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into an array of its stored shape and dtype.

    Header: two zero bytes, a dtype code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a big-endian
    int32; the big-endian data follow. The result is in native byte order.
    """
    path = _need(Path(path))
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read or decompress IDX file ({e})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path}: IDX file has {len(raw)} bytes, its header {shape} needs "
                        f"{expected} (truncated or garbled)")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(raw_dir: Path, name: str) -> Path:
    for candidate in (raw_dir / name, raw_dir / (name + ".gz")):
        if candidate.is_file():
            return candidate
    raise DataError(f"{raw_dir / name}: file not found (neither plain nor .gz)")


def _read_idx_pair(raw_dir, images_name: str, labels_name: str) -> tuple[np.ndarray, np.ndarray]:
    raw_dir = Path(raw_dir)
    images_path, labels_path = _find_idx(raw_dir, images_name), _find_idx(raw_dir, labels_name)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{images_path}: expected uint8 images (N, H, W), "
                        f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
        raise DataError(f"{labels_path}: expected {images.shape[0]} uint8 labels, "
                        f"got {labels.dtype} {labels.shape}")
    return images[:, None], labels.astype(np.int64)


def read_mnist_like(raw_dir, train: bool, prefix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Read MNIST-style IDX files `{prefix}{train|t10k}-{images-idx3|labels-idx1}-ubyte[.gz]`.

    Returns images (N, 1, 28, 28) uint8 and labels (N,) int64 as stored (MNIST and
    Fashion-MNIST: 0..9; class names in `MNIST_CLASSES`, `FASHION_MNIST_CLASSES`).
    """
    split = "train" if train else "t10k"
    images, labels = _read_idx_pair(raw_dir, f"{prefix}{split}-images-idx3-ubyte",
                                     f"{prefix}{split}-labels-idx1-ubyte")
    if images.shape[2:] != (28, 28):
        raise DataError(f"{raw_dir}: expected 28x28 images, got {images.shape[2:]}")
    return images, labels


def read_emnist_letters(raw_dir, train: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read EMNIST-Letters from `emnist-letters-{train|test}-{images-idx3|labels-idx1}-ubyte[.gz]`
    (torchvision's layout: `EMNIST/raw/`).

    Returns images (N, 1, 28, 28) uint8 exactly as stored, labels (N,) int64 in 0..25 (stored
    1..26) and classes ['a', ..., 'z']. The images are NOT transposed: EMNIST stores them
    column-major, so the letters appear transposed (mirrored across the diagonal) relative to
    MNIST digits, exactly as torchvision's `EMNIST` returns them and the paper's code used them.
    """
    split = "train" if train else "test"
    images, labels = _read_idx_pair(raw_dir, f"emnist-letters-{split}-images-idx3-ubyte",
                                    f"emnist-letters-{split}-labels-idx1-ubyte")
    if images.shape[2:] != (28, 28) or labels.size and (labels.min() < 1 or labels.max() > 26):
        raise DataError(f"{raw_dir}: not EMNIST-Letters (28x28 images, labels 1..26 expected)")
    return images, labels - 1, list(EMNIST_LETTERS_CLASSES)


# ---------------------------------------------------------------------------------------- CIFAR

def _latin1_encode(text, encoding="utf-8"):
    """Stand-in for `_codecs.encode`, which Python 3 protocol-2 pickles use to rebuild bytes."""
    if not isinstance(text, str) or encoding.lower().replace("-", "") != "latin1":
        raise DataError(f"refused _codecs.encode(..., {encoding!r}) in pickle")
    return text.encode("latin1")


# The only globals a CIFAR pickle needs: numpy's array reconstructor (under its numpy 1 and 2
# module names), ndarray, dtype, and `_codecs.encode` (latin-1 only) for bytes in protocol 2.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): np.empty(0).__reduce__()[0],
    ("numpy._core.multiarray", "_reconstruct"): np.empty(0).__reduce__()[0],
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(f"refused to load {module}.{name} from a pickle") from None


def _load_pickle(path: Path) -> dict:
    """Unpickle a (Python 2 or 3) CIFAR dict safely; keys and string values come back as str."""
    path = _need(path)
    try:
        with open(path, "rb") as f:
            obj = _SafeUnpickler(f, encoding="latin1").load()
    except DataError as e:
        raise DataError(f"{path}: {e}") from None
    except Exception as e:  # any unpickling failure means a damaged or foreign file
        raise DataError(f"{path}: not a readable CIFAR pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {_text(k): v for k, v in obj.items()}


def _text(s) -> str:
    return s.decode("latin1") if isinstance(s, bytes) else s


def _field(d: dict, key: str, path: Path):
    if key not in d:
        raise DataError(f"{path}: missing '{key}' (has {sorted(d)})")
    return d[key]


def _cifar(folder: Path, batches: list[str], label_key: str, meta: str, names_key: str):
    images, labels = [], []
    for name in batches:
        path = folder / name
        d = _load_pickle(path)
        data = np.asarray(_field(d, "data", path))
        lab = np.asarray(_field(d, label_key, path))
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"{path}: expected uint8 data (N, 3072), got {data.dtype} {data.shape}")
        if lab.shape != data.shape[:1] or not np.issubdtype(lab.dtype, np.integer):
            raise DataError(f"{path}: expected {len(data)} integer '{label_key}', got {lab.shape}")
        images.append(data.reshape(-1, 3, 32, 32))  # row: 1024 R, 1024 G, 1024 B, row-major
        labels.append(lab.astype(np.int64))
    meta_path = folder / meta
    classes = [_text(c) for c in _field(_load_pickle(meta_path), names_key, meta_path)]
    labels = np.concatenate(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DataError(f"{folder}: labels outside 0..{len(classes) - 1}")
    return np.ascontiguousarray(np.concatenate(images)), labels, classes


def read_cifar10(folder, train: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read CIFAR-10 from `folder/cifar-10-batches-py/` (`data_batch_1..5` or `test_batch`, and
    `batches.meta`). Returns images (N, 3, 32, 32) uint8 RGB, labels (N,) int64 and 10 classes."""
    batches = [f"data_batch_{k}" for k in range(1, 6)] if train else ["test_batch"]
    return _cifar(Path(folder) / "cifar-10-batches-py", batches, "labels", "batches.meta",
                  "label_names")


def read_cifar100(folder, train: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read CIFAR-100 from `folder/cifar-100-python/` (`train` or `test`, and `meta`). Returns
    images (N, 3, 32, 32) uint8 RGB, the fine labels (N,) int64 and the 100 fine class names."""
    return _cifar(Path(folder) / "cifar-100-python", ["train" if train else "test"],
                  "fine_labels", "meta", "fine_label_names")


# ----------------------------------------------------------------------------------------- SVHN

def read_svhn(folder, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read SVHN from `folder/{split}_32x32.mat`, split in {'train', 'test', 'extra'}.

    The file holds X (32, 32, 3, N) and y (N, 1) with label 10 for digit 0. Returns images
    (N, 3, 32, 32) uint8 RGB, labels (N,) int64 in 0..9 and classes '0'..'9'.
    """
    import scipy.io

    if split not in ("train", "test", "extra"):
        raise DataError(f"SVHN split must be 'train', 'test' or 'extra', got {split!r}")
    path = _need(Path(folder) / f"{split}_32x32.mat")
    try:
        mat = scipy.io.loadmat(path, variable_names=["X", "y"])
    except Exception as e:
        raise DataError(f"{path}: not a readable MATLAB file ({type(e).__name__}: {e})") from None
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path}: missing variable X or y")
    x, y = mat["X"], mat["y"]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or y.size != x.shape[3]:
        raise DataError(f"{path}: expected X uint8 (32, 32, 3, N) and N labels, "
                        f"got X {x.dtype} {x.shape}, y {y.shape}")
    labels = y.reshape(-1).astype(np.int64)
    labels[labels == 10] = 0
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: labels outside 1..10")
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), labels, list(SVHN_CLASSES)


# ------------------------------------------------------------------------ 80 Million Tiny Images

class TinyImages:
    """The 80 Million Tiny Images binary `tiny_images.bin`, read lazily through a memory map.

    The file is a flat sequence of 32x32 RGB images of 3072 bytes each, every image stored
    column-major (Fortran order) as (H, W, C). `exclude_file` optionally lists 1-based raw
    indices, one per line (e.g. `80mn_cifar_idxs.txt`, the CIFAR images inside the file), that
    are skipped: usable index i is the i-th non-excluded image. `len()` counts usable images.
    """

    IMAGE_BYTES = 3072

    def __init__(self, path, exclude_file=None):
        self.path = _need(Path(path))
        size = self.path.stat().st_size
        if size % self.IMAGE_BYTES or size == 0:
            raise DataError(f"{self.path}: size {size} bytes is not a positive multiple of "
                            f"{self.IMAGE_BYTES} (32x32x3 images)")
        self.n_raw = size // self.IMAGE_BYTES
        self.excluded = np.zeros(0, np.int64)  # sorted unique 0-based raw indices
        if exclude_file is not None:
            self.excluded = self._read_excluded(_need(Path(exclude_file)))
        # adjusted[j]: number of usable images before the j-th excluded one (non-decreasing)
        self._adjusted = self.excluded - np.arange(len(self.excluded))
        self._memmap = None

    def _read_excluded(self, path: Path) -> np.ndarray:
        try:
            idx = np.array([int(t) for t in path.read_text().split()], np.int64)
        except ValueError as e:
            raise DataError(f"{path}: expected one integer index per line ({e})") from None
        if idx.size and (idx.min() < 1 or idx.max() > self.n_raw):
            raise DataError(f"{path}: indices must be 1-based and within 1..{self.n_raw}")
        return np.unique(idx) - 1

    def __len__(self) -> int:
        return self.n_raw - len(self.excluded)

    def __getstate__(self):  # never pickle the map (a copy would read the whole file)
        return {**self.__dict__, "_memmap": None}

    def raw_index(self, indices) -> np.ndarray:
        """0-based positions in the file of the usable `indices` (int64, same shape)."""
        indices = np.asarray(indices)
        if indices.size and not np.issubdtype(indices.dtype, np.integer):
            raise DataError(f"TinyImages indices must be integers, got {indices.dtype}")
        indices = indices.astype(np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise DataError(f"TinyImages index out of range 0..{len(self) - 1}")
        return indices + np.searchsorted(self._adjusted, indices, side="right")

    def take(self, indices) -> np.ndarray:
        """Images at the usable `indices` (1-D), as uint8 (n, 3, 32, 32) RGB in that order."""
        raw = self.raw_index(indices).reshape(-1)
        if self._memmap is None:
            self._memmap = np.memmap(self.path, np.uint8, "r", shape=(self.n_raw, self.IMAGE_BYTES))
        unique, inverse = np.unique(raw, return_inverse=True)  # sorted reads
        rows = np.asarray(self._memmap[unique])
        # Fortran-order (32, 32, 3): byte = h + 32 w + 1024 c, i.e. C-order (c, w, h).
        images = rows.reshape(-1, 3, 32, 32).transpose(0, 1, 3, 2)
        return np.ascontiguousarray(images[inverse.reshape(-1)])

    def __getitem__(self, index: int) -> np.ndarray:
        """One usable image, uint8 (3, 32, 32)."""
        return self.take([index])[0]
