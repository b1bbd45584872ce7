"""Readers of the on-disk data set formats, on small files written in the real formats."""

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from deepad.data import formats
from deepad.data.formats import (
    TinyImages,
    read_cifar10,
    read_cifar100,
    read_emnist_letters,
    read_idx,
    read_mnist_like,
    read_svhn,
)
from deepad.errors import DataError

SHARED = Path(os.environ.get("DEEPAD_SHARED_DATA",
                             Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
rng = np.random.default_rng(0)


def idx_bytes(a: np.ndarray, code: int = 0x08) -> bytes:
    """An IDX file: 0, 0, dtype code, ndim, big-endian int32 dims, big-endian data."""
    be = a.astype(a.dtype.newbyteorder(">"))
    return bytes([0, 0, code, a.ndim]) + np.array(a.shape, ">i4").tobytes() + be.tobytes()


def write_idx(path: Path, a: np.ndarray, gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(a)
    if gz:
        Path(str(path) + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


# ------------------------------------------------------------------------------------------ IDX

@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype,code", [("u1", 0x08), ("i1", 0x09), ("i2", 0x0B), ("i4", 0x0C),
                                        ("f4", 0x0D), ("f8", 0x0E)])
def test_read_idx_round_trip(tmp_path, dtype, code, gz):
    a = (rng.integers(-100, 100, (4, 3, 5)) if dtype != "u1" else
         rng.integers(0, 256, (4, 3, 5))).astype(dtype)
    data = idx_bytes(a, code)
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if gz else data)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.shape == a.shape
    np.testing.assert_array_equal(out, a)


def test_read_idx_header_is_big_endian(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">i", 3) + bytes([7, 0, 9]))
    np.testing.assert_array_equal(read_idx(path), [7, 0, 9])


@pytest.mark.parametrize("damage", ["truncated", "extra", "header", "magic", "empty", "gzip"])
def test_read_idx_damaged_files(tmp_path, damage):
    data = idx_bytes(rng.integers(0, 256, (3, 28, 28)).astype(np.uint8))
    data = {"truncated": data[:-1], "extra": data + b"\x00", "header": data[:9],
            "magic": b"\x01" + data[1:], "empty": b"",
            "gzip": gzip.compress(data)[:-20]}[damage]
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(DataError, match="broken-idx3-ubyte"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="nothere"):
        read_idx(tmp_path / "nothere")


# -------------------------------------------------------------------------------- MNIST, EMNIST

@pytest.mark.parametrize("prefix", ["", "fashion-"])
def test_read_mnist_like(tmp_path, prefix):
    sets = {}
    for split, n, gz in [("train", 7, False), ("t10k", 4, True)]:
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        write_idx(tmp_path / f"{prefix}{split}-images-idx3-ubyte", images, gz)
        write_idx(tmp_path / f"{prefix}{split}-labels-idx1-ubyte", labels, gz)
        sets[split] = images, labels
    for train, split in [(True, "train"), (False, "t10k")]:
        images, labels = read_mnist_like(tmp_path, train, prefix)
        assert images.dtype == np.uint8 and images.shape == (len(sets[split][0]), 1, 28, 28)
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(images[:, 0], sets[split][0])
        np.testing.assert_array_equal(labels, sets[split][1])


def test_read_mnist_like_mismatched_or_missing(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        read_mnist_like(tmp_path, True)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        read_mnist_like(tmp_path, True)


def write_emnist_letters(root: Path):
    raw = root / "EMNIST" / "raw"
    written = {}
    for split, n in [("train", 9), ("test", 5)]:
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        images[0] = 0
        images[0, 0, :] = 255  # first stored row lit: must stay a row (no transposition)
        labels = rng.integers(1, 27, n).astype(np.uint8)
        labels[:2] = [1, 26]
        write_idx(raw / f"emnist-letters-{split}-images-idx3-ubyte", images)
        write_idx(raw / f"emnist-letters-{split}-labels-idx1-ubyte", labels)
        written[split] = images, labels
    return raw, written


def test_read_emnist_letters_matches_torchvision(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    raw, written = write_emnist_letters(tmp_path)
    for train, split in [(True, "train"), (False, "test")]:
        images, labels, classes = read_emnist_letters(raw, train)
        assert images.shape == (len(written[split][0]), 1, 28, 28) and images.dtype == np.uint8
        assert classes == list("abcdefghijklmnopqrstuvwxyz")
        assert labels.dtype == np.int64 and labels[0] == 0 and labels[1] == 25
        assert (images[0, 0, 0] == 255).all() and images[0, 0, 1:].sum() == 0
        np.testing.assert_array_equal(images[:, 0], written[split][0])
        np.testing.assert_array_equal(labels, written[split][1].astype(np.int64) - 1)

        tv = torchvision.datasets.EMNIST(str(tmp_path), split="letters", train=train,
                                         download=False)
        np.testing.assert_array_equal(images[:, 0], tv.data.numpy())
        np.testing.assert_array_equal(labels, tv.targets.numpy() - 1)
        assert [tv.classes[t] for t in tv.targets.tolist()] == [classes[k] for k in labels]


def test_read_emnist_letters_rejects_bad_labels(tmp_path):
    write_idx(tmp_path / "emnist-letters-train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    write_idx(tmp_path / "emnist-letters-train-labels-idx1-ubyte", np.array([0, 3], np.uint8))
    with pytest.raises(DataError, match="EMNIST-Letters"):
        read_emnist_letters(tmp_path, True)


# ---------------------------------------------------------------------------------------- CIFAR

def py2_pickle(obj) -> bytes:
    """Protocol-2 pickle as Python 2 with numpy 1.x wrote the real CIFAR files: str as
    BINSTRING (bytes), arrays via numpy.core.multiarray._reconstruct."""
    def s(b):
        b = b.encode() if isinstance(b, str) else b
        return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<i", len(b))) + b

    def enc(o):
        if isinstance(o, (str, bytes)):
            return s(o)
        if isinstance(o, int):
            return b"J" + struct.pack("<i", o)
        if isinstance(o, list):
            return b"](" + b"".join(map(enc, o)) + b"e"
        if isinstance(o, dict):
            return b"}(" + b"".join(enc(k) + enc(v) for k, v in o.items()) + b"u"
        assert isinstance(o, np.ndarray) and o.dtype == np.uint8
        return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + s("b")
                + b"\x87R(K\x01" + b"(" + b"".join(enc(d) for d in o.shape) + b"t"
                + b"cnumpy\ndtype\n" + s("u1") + b"K\x00K\x01\x87R(K\x03" + s("|")
                + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89" + s(o.tobytes()) + b"tb")
    return b"\x80\x02" + enc(obj) + b"."


def cifar_rows(n):
    images = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
    return images, images.reshape(n, 3072)  # row: 1024 R, 1024 G, 1024 B, each row-major


def test_cifar_row_layout():
    images, rows = cifar_rows(2)
    assert rows[1, 1024 + 2 * 32 + 5] == images[1, 1, 2, 5]  # G, row 2, column 5
    assert rows[0, 2048 + 31 * 32] == images[0, 2, 31, 0]


def test_py2_pickle_helper_matches_python3_loading():
    _, rows = cifar_rows(3)
    d = pickle.loads(py2_pickle({"data": rows, "labels": [1, 2, 3], "x": "y"}), encoding="latin1")
    np.testing.assert_array_equal(d["data"], rows)
    assert d["labels"] == [1, 2, 3] and d["x"] == "y"


def test_read_cifar10(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
    expected = {True: ([], []), False: ([], [])}
    for name, train in [(f"data_batch_{k}", True) for k in range(1, 6)] + [("test_batch", False)]:
        images, rows = cifar_rows(3)
        labels = rng.integers(0, 10, 3).tolist()
        d = {b"batch_label": b"testing batch 1 of 1", b"labels": labels, b"data": rows,
             b"filenames": [b"a.png", b"b.png", b"c.png"]}
        if train:  # written by Python 3, protocol 2, bytes keys
            (folder / name).write_bytes(pickle.dumps(d, protocol=2))
        else:  # written like the real Python 2 files
            (folder / name).write_bytes(py2_pickle(d))
        expected[train][0].append(images)
        expected[train][1].extend(labels)
    meta = {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in names],
            b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    for train in (True, False):
        images, labels, classes = read_cifar10(tmp_path, train)
        assert images.shape == (15 if train else 3, 3, 32, 32) and images.dtype == np.uint8
        assert labels.dtype == np.int64 and classes == names
        np.testing.assert_array_equal(images, np.concatenate(expected[train][0]))
        np.testing.assert_array_equal(labels, expected[train][1])


def test_read_cifar100(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    fine = [f"class{k:02d}" for k in range(100)]
    expected = {}
    for name in ("train", "test"):
        images, rows = cifar_rows(4)
        fine_labels = [0, 99, 5, 42]
        d = {b"filenames": [b"x"] * 4, b"batch_label": b"training batch 1 of 1",
             b"fine_labels": fine_labels, b"coarse_labels": [0, 19, 1, 2], b"data": rows}
        (folder / name).write_bytes(pickle.dumps(d, protocol=2))
        expected[name] = images, fine_labels
    (folder / "meta").write_bytes(pickle.dumps(
        {b"fine_label_names": [f.encode() for f in fine],
         b"coarse_label_names": [b"c%d" % k for k in range(20)]}, protocol=2))
    for train, name in [(True, "train"), (False, "test")]:
        images, labels, classes = read_cifar100(tmp_path, train)
        assert classes == fine and labels.dtype == np.int64
        np.testing.assert_array_equal(images, expected[name][0])
        np.testing.assert_array_equal(labels, expected[name][1])


class _Payload:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("kind", ["system", "exec", "codecs"])
def test_cifar_malicious_pickle_is_refused(tmp_path, kind):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "pwned"
    if kind == "codecs":  # `_codecs.encode` is allowed, but only to encode text as latin-1
        data = b"\x80\x02c_codecs\nencode\nX\x04\x00\x00\x00abcdX\x05\x00\x00\x00rot13\x86R."
    else:
        payload = (_Payload(os.system, f"touch {marker}") if kind == "system" else
                   _Payload(exec, f"open({str(marker)!r}, 'w').close()"))
        data = pickle.dumps({b"data": cifar_rows(2)[1], b"labels": [0, 1], b"x": payload}, 2)
    (folder / "test_batch").write_bytes(data)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a", b"b"]}, protocol=2))
    with pytest.raises(DataError, match="test_batch.*refused"):
        read_cifar10(tmp_path, False)
    assert not marker.exists()


def test_cifar_damaged_pickle(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({b"labels": [0]}, protocol=2)[:-5])
    with pytest.raises(DataError, match="test_batch"):
        read_cifar10(tmp_path, False)
    (folder / "test_batch").write_bytes(pickle.dumps({b"labels": [0]}, protocol=2))
    with pytest.raises(DataError, match="missing 'data'"):
        read_cifar10(tmp_path, False)


# ----------------------------------------------------------------------------------------- SVHN

def test_read_svhn(tmp_path):
    import scipy.io

    n = 6
    x = rng.integers(0, 256, (32, 32, 3, n)).astype(np.uint8)  # (H, W, C, N) as stored
    y = np.array([[10], [1], [9], [10], [5], [2]], np.uint8)
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": x, "y": y})
    images, labels, classes = read_svhn(tmp_path, "test")
    assert images.shape == (n, 3, 32, 32) and images.dtype == np.uint8
    assert images.flags.c_contiguous
    assert images[4, 2, 7, 30] == x[7, 30, 2, 4]  # (n, c, h, w) <- X[h, w, c, n]
    np.testing.assert_array_equal(images, np.moveaxis(x, (3, 2), (0, 1)))
    np.testing.assert_array_equal(labels, [0, 1, 9, 0, 5, 2])
    assert labels.dtype == np.int64 and classes == [str(d) for d in range(10)]
    with pytest.raises(DataError, match="train_32x32.mat"):
        read_svhn(tmp_path, "train")
    with pytest.raises(DataError, match="split"):
        read_svhn(tmp_path, "valid")


# ------------------------------------------------------------------------------- Tiny Images

def write_tiny(path: Path, n: int) -> np.ndarray:
    """n known images as (n, 32, 32, 3) HWC, written each in Fortran order like the real file."""
    hwc = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
    path.write_bytes(b"".join(im.tobytes(order="F") for im in hwc))
    return hwc


def test_tiny_images_decoding(tmp_path):
    hwc = write_tiny(tmp_path / "tiny_images.bin", 5)
    ti = TinyImages(tmp_path / "tiny_images.bin")
    assert len(ti) == 5
    raw = (tmp_path / "tiny_images.bin").read_bytes()
    out = ti.take(np.array([3, 0, 3, 4]))
    assert out.shape == (4, 3, 32, 32) and out.dtype == np.uint8
    for got, k in zip(out, [3, 0, 3, 4]):
        ref = np.frombuffer(raw[k * 3072:(k + 1) * 3072], np.uint8).reshape(32, 32, 3, order="F")
        np.testing.assert_array_equal(got, ref.transpose(2, 0, 1))
        np.testing.assert_array_equal(got, hwc[k].transpose(2, 0, 1))
    assert out[0, 1, 0, 1] == raw[3 * 3072 + 1024 + 32]  # G, h=0, w=1: byte h + 32 w + 1024 c
    np.testing.assert_array_equal(ti[2], hwc[2].transpose(2, 0, 1))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(ti)).take([1])[0], hwc[1].transpose(2, 0, 1))
    assert ti.take([]).shape == (0, 3, 32, 32)


def test_tiny_images_exclusion(tmp_path):
    hwc = write_tiny(tmp_path / "tiny_images.bin", 6)
    (tmp_path / "80mn_cifar_idxs.txt").write_text("2\n4\n\n2\n")  # 1-based; raw 1 and 3 skipped
    ti = TinyImages(tmp_path / "tiny_images.bin", tmp_path / "80mn_cifar_idxs.txt")
    assert len(ti) == 4
    np.testing.assert_array_equal(ti.raw_index([0, 1, 2, 3]), [0, 2, 4, 5])
    np.testing.assert_array_equal(ti.take([3, 1, 0, 1]), hwc[[5, 2, 0, 2]].transpose(0, 3, 1, 2))
    for bad in ([4], [-1]):
        with pytest.raises(DataError, match="out of range"):
            ti.take(bad)


@pytest.mark.parametrize("seed", range(5))
def test_tiny_images_index_mapping_matches_brute_force(tmp_path, seed):
    r = np.random.default_rng(seed)
    n_raw = 120
    (tmp_path / "t.bin").write_bytes(bytes(n_raw * 3072))
    excluded = r.choice(n_raw, r.integers(0, 60), replace=False) + 1
    if seed == 0:
        excluded = np.array([1, 2, 3, n_raw])  # runs at both ends
    (tmp_path / "ex.txt").write_text("".join(f"{k}\n" for k in excluded))
    ti = TinyImages(tmp_path / "t.bin", tmp_path / "ex.txt")
    usable = np.setdiff1d(np.arange(n_raw), excluded - 1)
    assert len(ti) == len(usable)
    np.testing.assert_array_equal(ti.raw_index(np.arange(len(ti))), usable)


def test_tiny_images_validation(tmp_path):
    (tmp_path / "tiny_images.bin").write_bytes(bytes(3072 * 2 + 5))
    with pytest.raises(DataError, match=r"tiny_images\.bin.*6149"):
        TinyImages(tmp_path / "tiny_images.bin")
    (tmp_path / "tiny_images.bin").write_bytes(bytes(3072 * 2))
    (tmp_path / "ex.txt").write_text("3\n")
    with pytest.raises(DataError, match="ex.txt"):
        TinyImages(tmp_path / "tiny_images.bin", tmp_path / "ex.txt")
    (tmp_path / "ex.txt").write_text("one\n")
    with pytest.raises(DataError, match="ex.txt"):
        TinyImages(tmp_path / "tiny_images.bin", tmp_path / "ex.txt")
    with pytest.raises(DataError, match="missing.bin"):
        TinyImages(tmp_path / "missing.bin")


# ------------------------------------------------------------------------------ real MNIST

@pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(), reason="real MNIST not available")
def test_real_mnist_matches_torchvision():
    torchvision = pytest.importorskip("torchvision")
    for train, n in [(True, 60000), (False, 10000)]:
        images, labels = read_mnist_like(SHARED / "MNIST" / "raw", train)
        assert images.shape == (n, 1, 28, 28) and labels.shape == (n,)
        tv = torchvision.datasets.MNIST(root=str(SHARED), train=train, download=False)
        np.testing.assert_array_equal(images[:, 0], tv.data.numpy())
        np.testing.assert_array_equal(labels, tv.targets.numpy())
        assert set(np.unique(labels)) == set(range(10))
        assert [c.split(" ")[0] for c in tv.classes] == formats.MNIST_CLASSES
