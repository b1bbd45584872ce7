"""One-vs-rest splits, OE subsets, folders, bundled data and conversions."""

import numpy as np
import pytest
import torch
from PIL import Image

from deepad.config import make_config
from deepad.data import sources
from deepad.data.images import conform, decode
from deepad.data.tasks import build_task, select_oe
from deepad.errors import DataError


def test_oe_subset_depends_on_seed_only():
    a = select_oe(10_000, 64, None, seed=1)
    assert len(a) == 64 and len(set(a.tolist())) == 64
    assert np.array_equal(a, select_oe(10_000, 64, None, seed=1))
    assert not np.array_equal(a, select_oe(10_000, 64, None, seed=2))
    assert np.array_equal(select_oe(10_000, None, None, seed=3), np.arange(10_000))


def test_oe_classes_are_seeded_and_exclusive():
    labels = np.repeat(np.arange(26), 100)
    idx = select_oe(labels, None, 3, seed=4)
    chosen = set(labels[idx].tolist())
    assert len(chosen) == 3 and len(idx) == 300
    assert chosen == set(labels[select_oe(labels, None, 3, seed=4)].tolist())
    sub = select_oe(labels, 50, 3, seed=4)
    assert set(labels[sub].tolist()) <= chosen and len(sub) == 50
    with pytest.raises(DataError, match="larger than the OE pool"):
        select_oe(labels, 301, 3, seed=4)


def test_same_oe_images_for_every_method_and_class(shared_data):
    kw = dict(dataset="mnist", oe="folder:" + str(shared_data / "tiny-imagenet-200-val/images"),
              oe_size=32, epochs=1)
    t1 = build_task(make_config(normal_class=0, method="hsc", seed=1, **kw))
    t2 = build_task(make_config(normal_class=7, method="bce", seed=1, **kw))
    t3 = build_task(make_config(normal_class=0, method="hsc", seed=2, **kw))
    assert np.array_equal(t1.oe.indices, t2.oe.indices)
    assert torch.equal(t1.oe.images, t2.oe.images)
    assert not np.array_equal(t1.oe.indices, t3.oe.indices)
    assert t1.oe.images.shape == (32, 1, 28, 28)  # converted to the nominal data's shape


def test_mnist_one_vs_rest_split(shared_data):
    from deepad.data import formats
    raw = shared_data / "MNIST" / "raw"
    x_train, y_train = formats.read_mnist_like(raw, True)
    _, y_test = formats.read_mnist_like(raw, False)
    task = build_task(make_config(dataset="mnist", normal_class=3, oe="noise-uniform", epochs=1))
    assert len(task.train) == int((y_train == 3).sum())
    assert torch.equal(task.train, torch.from_numpy(x_train[y_train == 3]))
    assert len(task.test) == 10_000  # the whole test set, never subsampled
    assert np.array_equal(task.test_labels, (y_test != 3).astype(np.int8))


def _write_folder(root, layout, n=6, size=(12, 10), mode="RGB"):
    rng = np.random.default_rng(0)
    for split in (["train", "test"] if layout == "split" else [""]):
        for c in ("cat", "dog", "eel"):
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                a = rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)
                Image.fromarray(a).convert(mode).save(d / f"{i}.png")


def test_folder_with_classes_gets_a_fixed_disjoint_split(tmp_path):
    _write_folder(tmp_path / "f", "classes", n=10)
    src = sources.get(f"folder:{tmp_path / 'f'}")
    paths, y, test, classes = src._files()
    assert classes == ["cat", "dog", "eel"]
    assert test.sum() == 6  # 20% of each class
    assert all(test[y == k].sum() == 2 for k in range(3))
    tr, te = src.load("train"), src.load("test")
    assert len(tr) == 24 and len(te) == 6
    train_bytes = {bytes(x.numpy()) for x in tr.images}
    assert not any(bytes(x.numpy()) in train_bytes for x in te.images)
    assert src.load("test").images.shape[1:] == (3, 32, 32)


def test_folder_train_test_layout_and_mixed_modes(tmp_path):
    _write_folder(tmp_path / "g", "split", n=3)
    # mixed content: grayscale, RGBA, 16-bit, palette
    d = tmp_path / "g" / "train" / "cat"
    Image.fromarray(np.full((40, 50), 7, np.uint8)).save(d / "gray.png")
    Image.fromarray(np.zeros((20, 20, 4), np.uint8)).save(d / "alpha.png")
    Image.fromarray(np.full((30, 30), 65535, np.uint16)).save(d / "deep.png")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).convert("P").save(d / "pal.png")
    (d / "broken.png").write_bytes(b"not an image")
    src = sources.get(f"folder:{tmp_path / 'g'}")
    tr = src.load("train")
    assert len(tr) == 9 + 4  # the broken file is skipped (and reported on stderr)
    assert tr.images.dtype == torch.uint8 and tr.images.shape[1:] == (3, 32, 32)
    assert int(tr.images.max()) <= 255
    assert len(src.load("test")) == 9


def test_folder_errors_are_clear(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        sources.get(f"folder:{tmp_path / 'empty'}").pool((1, 28, 28))
    with pytest.raises(DataError, match="does not exist"):
        sources.get(f"folder:{tmp_path / 'missing'}").classes()
    (tmp_path / "bad").mkdir()
    for i in range(3):
        (tmp_path / "bad" / f"{i}.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match="could be read"):
        sources.get(f"folder:{tmp_path / 'bad'}").pool((1, 28, 28))


def test_decode_refuses_bombs_and_reads_16bit(tmp_path):
    p = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(p)
    a = decode(str(p), 1, 8)
    assert a.shape == (1, 8, 8) and 126 <= int(a[0, 0, 0]) <= 129
    big = tmp_path / "big.png"
    Image.new("L", (9000, 9000)).save(big)  # 81 Mpx > the limit
    with pytest.raises(ValueError, match="too large"):
        decode(str(big), 1, 8)


def test_conform_channels_and_size():
    rgb = torch.zeros(2, 3, 64, 48, dtype=torch.uint8)
    rgb[:, 0] = 255  # pure red -> luma 76
    g = conform(rgb, 1, 28)
    assert g.shape == (2, 1, 28, 28) and int(g[0, 0, 5, 5]) == 76
    back = conform(g, 3, 32)
    assert back.shape == (2, 3, 32, 32) and torch.equal(back[:, 0], back[:, 2])


def test_bundled_sets_work_offline():
    d = sources.get("digits")
    tr, te = d.load("train"), d.load("test")
    assert tr.shape == (1, 8, 8) and len(tr) + len(te) == 1797
    assert set(tr.labels.tolist()) == set(range(10))
    pool = sources.get("photos").pool((1, 8, 8))
    assert len(pool) > 1000 and pool.take(np.arange(5)).shape == (5, 1, 8, 8)
    # natural patches, not constant: real texture
    assert pool.take(np.arange(len(pool))).float().std() > 20
    noise = sources.get("noise-uniform").pool((3, 32, 32))
    x = noise.take(np.arange(100)).float()
    assert abs(x.mean().item() - 127.5) < 2 and x.std() > 70


def test_bundled_sets_are_read_without_importing_scikit_learn(tmp_path):
    """The dashboard's first result trains on the bundled digits with photo-patch OE: their
    files are read from scikit-learn's package folder without importing it (1-2 s), and give
    exactly what scikit-learn's loaders give."""
    import subprocess
    import sys
    code = ("import sys; from deepad.data import bundled as b; im, t = b._digits(); "
            "ph = b._sample_photos(); import numpy as np; "
            "np.savez(sys.argv[1], im=im, t=t, p0=ph[0], p1=ph[1]); "
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.npz")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
    got = np.load(tmp_path / "x.npz")
    from sklearn.datasets import load_digits, load_sample_images
    digits, photos = load_digits(), load_sample_images().images
    assert np.array_equal(got["im"], digits.images) and np.array_equal(got["t"], digits.target)
    assert np.array_equal(got["p0"], photos[0]) and np.array_equal(got["p1"], photos[1])


def test_cifar10_name_reads_the_jpeg_folders(shared_data):
    src = sources.get("cifar10")
    assert src.status() == "on disk"
    assert src.classes()[0] == "airplane" and src.classes()[9] == "truck"
    assert src.preprocessing().augment and src.preprocessing().mean is not None
