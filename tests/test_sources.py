"""Named data sets read through the registry from small files written in their real formats, and
used in real (tiny) training runs."""

import gzip
import pickle

import numpy as np
import pytest
import scipy.io

from deepad import get_or_train, make_config
from deepad.data import sources
from deepad.errors import DataError

rng = np.random.default_rng(0)


def _idx(path, a):
    path.parent.mkdir(parents=True, exist_ok=True)
    head = bytes([0, 0, 0x08, a.ndim]) + np.array(a.shape, ">i4").tobytes()
    path.write_bytes(gzip.compress(head + a.astype(np.uint8).tobytes()))


def _mnist_like(root, folder, prefix="", n=40, train_name="train", test_name="t10k"):
    raw = root / folder / "raw"
    for split in (train_name, test_name):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = np.arange(n) % 10
        _idx(raw / f"{prefix}{split}-images-idx3-ubyte.gz", x)
        _idx(raw / f"{prefix}{split}-labels-idx1-ubyte.gz", y)


def _cifar(root, which, n=30):
    folder = root / ("cifar-10-batches-py" if which == 10 else "cifar-100-python")
    folder.mkdir(parents=True)
    k = 10 if which == 10 else 100
    def batch(m):
        return {b"data": rng.integers(0, 256, (m, 3072), dtype=np.uint8),
                b"labels" if which == 10 else b"fine_labels": (np.arange(m) % k).tolist()}
    if which == 10:
        for i in range(1, 6):
            (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch(n), protocol=2))
        (folder / "test_batch").write_bytes(pickle.dumps(batch(n), protocol=2))
        (folder / "batches.meta").write_bytes(pickle.dumps(
            {b"label_names": [c.encode() for c in sources.CIFAR10_CLASSES]}, protocol=2))
    else:
        (folder / "train").write_bytes(pickle.dumps(batch(n * 5), protocol=2))
        (folder / "test").write_bytes(pickle.dumps(batch(n), protocol=2))
        names = sources._cifar100_classes()
        (folder / "meta").write_bytes(pickle.dumps(
            {b"fine_label_names": [c.encode() for c in names]}, protocol=2))


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("DEEPAD_DATA", str(root))
    sources._MEMO.clear()
    yield root
    sources._MEMO.clear()


def test_statuses_follow_the_files(data_root):
    assert sources.get("fashion-mnist").status() == "needs download"
    _mnist_like(data_root, "FashionMNIST")
    assert sources.get("fashion-mnist").status() == "on disk"
    fm = sources.get("fashion-mnist").load("train")
    assert fm.images.shape == (40, 1, 28, 28) and fm.classes[0] == "t-shirt"


def test_offline_download_message_names_set_folder_and_alternatives(data_root):
    with pytest.raises(DataError) as e:
        sources.get("svhn").load("train")
    msg = str(e.value)
    assert "svhn" in msg and str(data_root) in msg and "digits" in msg and "folder:" in msg


def test_emnist_letters_as_oe_with_chosen_classes(data_root):
    raw = data_root / "EMNIST" / "raw"
    x = rng.integers(0, 256, (260, 28, 28), dtype=np.uint8)
    y = np.arange(260) % 26 + 1  # labels 1..26
    for split in ("train", "test"):
        _idx(raw / f"emnist-letters-{split}-images-idx3-ubyte.gz", x)
        _idx(raw / f"emnist-letters-{split}-labels-idx1-ubyte.gz", y)
    src = sources.get("emnist-letters")
    assert src.status() == "on disk" and src.classes()[:3] == ["a", "b", "c"]
    from deepad.data.tasks import select_oe
    pool = src.pool((1, 28, 28))
    idx = select_oe(pool.labels, None, 3, seed=1)
    assert len(idx) == 30 and len(set(pool.labels[idx].tolist())) == 3


def test_cifar10_nominal_with_cifar100_oe_trains(data_root):
    _cifar(data_root, 10)
    _cifar(data_root, 100)
    cfg = make_config(dataset="cifar10", normal_class="cat", oe="cifar100", oe_size=4,
                      oe_classes=4, method="bce", epochs=1)
    res = get_or_train(cfg)
    assert res.config.normal_class == 3 and 0 <= res.metrics["auroc"] <= 1
    assert res.metrics["n_oe"] == 4 and res.metrics["n_test"] == 30


def test_svhn_and_tiny_images(data_root, tmp_path):
    d = data_root / "svhn"
    d.mkdir()
    for split, n in (("train", 50), ("test", 20)):
        X = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(-1, 1)  # 10 means digit 0
        scipy.io.savemat(d / f"{split}_32x32.mat", {"X": X, "y": y})
    svhn = sources.get("svhn").load("test")
    assert svhn.images.shape == (20, 3, 32, 32) and set(svhn.labels.tolist()) == set(range(10))
    # 80M Tiny Images: 3,072 bytes an image in Fortran order; exclusion by 1-based indices
    imgs = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "tiny_images.bin"
    path.write_bytes(b"".join(im.tobytes(order="F") for im in imgs))
    (tmp_path / "80mn_cifar_idxs.txt").write_text("1\n3\n")
    pool = sources.get(f"tiny-images:{path}").pool((3, 32, 32))
    assert len(pool) == 8  # 2 excluded automatically (the list beside the binary)
    first = pool.take(np.array([0]))[0].permute(1, 2, 0).numpy()
    assert np.array_equal(first, imgs[1])  # raw image 2 (1-based) is the first usable one
    res = get_or_train(make_config(dataset="svhn", normal_class=1, oe=f"tiny-images:{path}",
                                   oe_size=4, method="hsc", epochs=1))
    assert res.metrics["n_oe"] == 4
