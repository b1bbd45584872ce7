"""Image archives as data sets: a .zip or .tar of image folders is the same data set as the
folders (same decoded images, same AUROC), identified by its content, and hostile members are
skipped and reported as unreadable files in a folder are."""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepad import get_or_train, make_config
from deepad.cli import main
from deepad.data import archives, sources


def _zip(folder: Path, out: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, prefix + f.relative_to(folder).as_posix())
    return out


def _tar(folder: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as t:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                t.add(f, f.relative_to(folder).as_posix())
    return out


@pytest.fixture
def cifar_folder(shared_data, tmp_path):
    """CIFAR-10 JPEGs in the split layout: {train,test}/<class>/, 3 classes, 40 + 15 each."""
    src = shared_data / "cifar10-jpg"
    if not src.is_dir():
        pytest.skip("the CIFAR-10 JPEG copy is not in the shared data")
    out = tmp_path / "cifar-small"
    for split, n in (("train", 40), ("test", 15)):
        for c in ("airplane", "automobile", "bird"):
            (out / split / c).mkdir(parents=True)
            for f in sorted((src / split / c).iterdir())[:n]:
                shutil.copy(f, out / split / c / f.name)
    return out


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_an_archive_is_the_same_data_set_as_its_folder(cifar_folder, tmp_path, kind):
    arc = (_zip(cifar_folder, tmp_path / "c.zip", prefix="cifar-small/") if kind == "zip"
           else _tar(cifar_folder, tmp_path / "c.tar.gz"))
    folder, packed = sources.get(f"folder:{cifar_folder}"), sources.get(f"folder:{arc}")
    assert packed.is_archive and packed.classes() == folder.classes() == ["airplane", "automobile", "bird"]
    for split in ("train", "test"):
        a, b = folder.load(split), packed.load(split)
        assert np.array_equal(a.images.numpy(), b.images.numpy())
        assert np.array_equal(a.labels.numpy(), b.labels.numpy())
    cf = make_config(dataset=f"folder:{cifar_folder}", normal_class=1, oe="noise-uniform",
                     oe_size=16, method="hsc", epochs=1)
    ca = make_config(dataset=f"folder:{arc}", normal_class=1, oe="noise-uniform", oe_size=16,
                     method="hsc", epochs=1)
    assert ca.dataset_id and ca.dataset_id != cf.dataset_id  # identified by its own content
    ra, rf = get_or_train(ca), get_or_train(cf)
    assert ra.metrics["auroc"] == rf.metrics["auroc"]
    assert np.array_equal(ra.run.scores, rf.run.scores)
    # the archive under another path is the same data set: the same key
    moved = tmp_path / "elsewhere" / arc.name
    moved.parent.mkdir()
    shutil.copy(arc, moved)
    assert make_config(dataset=f"folder:{moved}", normal_class=1, oe="noise-uniform", oe_size=16,
                       method="hsc", epochs=1).key == ca.key


def test_an_archive_as_oe(photo_folder, tmp_path):
    pool = photo_folder(tmp_path / "pool", n_classes=3, per_class=8)
    arc = _zip(pool, tmp_path / "pool.zip")
    a = make_config(dataset="digits", oe=f"folder:{pool}", oe_size=12, method="bce", epochs=2)
    b = make_config(dataset="digits", oe=f"folder:{arc}", oe_size=12, method="bce", epochs=2)
    assert get_or_train(a).metrics["auroc"] == get_or_train(b).metrics["auroc"]
    assert len(sources.get(f"folder:{arc}").pool((1, 8, 8))) == 24


def _png(size=(8, 8), color=0) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_hostile_members_are_skipped_and_reported(tmp_path, capsys):
    good = [(f"cls{k}/{i}.png", _png(color=40 * k + i)) for k in range(2) for i in range(6)]
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, format="PNG")  # 400 M pixels, a few KB
    jpeg = io.BytesIO()
    Image.new("RGB", (16, 16), (9, 9, 9)).save(jpeg, format="JPEG")
    z = tmp_path / "hostile.zip"
    with zipfile.ZipFile(z, "w") as f:
        for n, d in good:
            f.writestr(n, d)
        f.writestr("../escape/1.png", _png())
        f.writestr("/abs/2.png", _png())
        link = zipfile.ZipInfo("cls0/link.png")
        link.external_attr = 0o120777 << 16
        f.writestr(link, "/etc/passwd")
        f.writestr("cls1/bomb.png", bomb.getvalue())
        f.writestr("cls1/text.png", b"not an image at all")
        f.writestr("cls0/truncated.jpg", jpeg.getvalue()[: len(jpeg.getvalue()) // 3])
    arc = archives.Archive(z)
    assert {n for n, _ in arc.skipped} == {"../escape/1.png", "/abs/2.png", "cls0/link.png"}
    src = sources.get(f"folder:{z}")
    train = src.load("train")
    test = src.load("test")
    assert len(train) + len(test) == 12  # the good images, and nothing else
    err = capsys.readouterr().err
    assert "skipped 3 member(s)" in err and "a link" in err and "leaves the archive" in err
    assert "decompression bomb" in err and "cls1/text.png" in err and "truncated.jpg" in err

    # nothing readable: one clear line, exit 2, nothing stored
    empty = tmp_path / "nothing.tar"
    with tarfile.open(empty, "w") as t:
        info = tarfile.TarInfo("a/evil.png")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        t.addfile(info)
        data = b"garbage"
        info = tarfile.TarInfo("b/x.png")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    code = main(["run", "--dataset", "digits", "--oe", f"folder:{empty}", "--method", "hsc",
                 "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and "nothing.tar" in err[-1]


def test_a_broken_archive_is_named(tmp_path, capsys):
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04 truncated")
    code = main(["run", "--dataset", "digits", "--oe", f"folder:{bad}", "--method", "hsc",
                 "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "not a readable archive" in err[-1] and "Traceback" not in "\n".join(err)
