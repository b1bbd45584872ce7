"""RunConfig.oe_jpeg: the OE images re-encoded as JPEG once conformed to the nominal size, as the
JPEG copy of CIFAR-10 is. Checked against Pillow on the bundled data; keys of runs without it
are those of earlier versions; bad values are clear errors."""

import hashlib
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from deepad import make_config
from deepad.config import CODE_VERSION
from deepad.data import sources
from deepad.data.tasks import build_task, jpeg_roundtrip, select_oe
from deepad.errors import DeepadError
from deepad.preview import oe_images


def _pil_jpeg(im: np.ndarray, q: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(im.transpose(1, 2, 0)).save(buf, format="JPEG", quality=q)
    return np.asarray(Image.open(buf).convert("RGB")).transpose(2, 0, 1)


def test_key_without_oe_jpeg_is_the_earlier_key_and_with_it_another():
    cfg = make_config(dataset="digits", method="hsc", oe="photos")
    d = cfg.to_dict()
    assert d["oe_jpeg"] is None
    del d["oe_jpeg"]  # the payload of the versions before the field existed
    del d["oe_batch"], d["oe_augment"]  # (as these two, out of the key at the paper's values)
    del d["dataset_id"], d["oe_id"]  # (as these: registry data sets have no content identity)
    old = hashlib.sha256(json.dumps({"v": CODE_VERSION, **d}, sort_keys=True).encode()).hexdigest()[:16]
    assert cfg.key == old
    jp = make_config(dataset="digits", method="hsc", oe="photos", oe_jpeg=75)
    assert jp.oe_jpeg == 75 and jp.key != cfg.key
    assert make_config(dataset="digits", method="hsc", oe="photos", oe_jpeg="none").key == cfg.key


def test_roundtrip_is_pillows_jpeg_and_changes_the_pixels():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8))
    y = jpeg_roundtrip(x, 75)
    assert y.dtype == torch.uint8 and y.shape == x.shape
    for a, b in zip(x.numpy(), y.numpy()):
        assert np.array_equal(b, _pil_jpeg(a, 75))
    assert not torch.equal(x, y)
    # lower quality, larger error
    err = {q: (jpeg_roundtrip(x, q).float() - x.float()).abs().mean().item() for q in (30, 95)}
    assert err[30] > err[95] > 0
    gray = torch.from_numpy(rng.integers(0, 256, (2, 1, 28, 28), dtype=np.uint8))
    assert jpeg_roundtrip(gray, 75).shape == gray.shape


def test_task_and_preview_use_the_reencoded_oe_images():
    cfg = make_config(dataset="digits", method="hsc", oe="photos", oe_size=16, oe_jpeg=50, epochs=1)
    task = build_task(cfg)
    shape = tuple(task.train.shape[1:])
    pool = sources.get("photos").pool(shape)
    raw = pool.take(select_oe(len(pool), 16, None, cfg.seed))
    assert torch.equal(task.oe.images, jpeg_roundtrip(raw, 50))
    assert not torch.equal(task.oe.images, raw)
    assert np.array_equal(oe_images(cfg, k=4), jpeg_roundtrip(raw[:4], 50).numpy())
    plain = build_task(cfg.replace(oe_jpeg=None))
    assert torch.equal(plain.oe.images, raw)


@pytest.mark.parametrize("value, words", [(0, "between 1 and 95"), (101, "between 1 and 95"),
                                          ("high", "integer 1..95")])
def test_bad_quality_is_a_clear_error(value, words):
    with pytest.raises(DeepadError, match=words):
        make_config(dataset="digits", method="hsc", oe="photos", oe_jpeg=value)


def test_jpeg_without_oe_is_an_error_and_unsupervised_methods_ignore_it():
    with pytest.raises(DeepadError, match="only apply with --oe"):
        make_config(dataset="digits", method="geo-plus", oe="none", oe_jpeg=75)  # OE optional
    notes = []
    cfg = make_config(dataset="digits", method="deep-svdd", oe="photos", oe_jpeg=75, notes=notes)
    assert cfg.oe_jpeg is None and cfg.oe == "none" and notes


def test_folder_oe_with_jpeg_is_decoded_at_full_resolution_then_resized(tmp_path):
    """With oe_jpeg an image folder is decoded at full resolution and resized with Pillow's
    antialiasing filter (not the JPEG decoder's DCT scaling), then re-encoded: the OE is made
    the way a JPEG copy of a data set is."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "oe" / "things"
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:64, 0:64]
    for i in range(6):  # smooth photos-like content plus fine texture
        im = (127 + 60 * np.sin(xx / (3 + i)) * np.cos(yy / 5) + rng.normal(0, 25, (64, 64)))
        Image.fromarray(np.clip(im, 0, 255).astype(np.uint8)).save(folder / f"{i}.jpg", quality=95)
    oe = f"folder:{tmp_path / 'oe'}"
    cfg = make_config(dataset="digits", method="hsc", oe=oe, oe_jpeg=75, epochs=1)
    task = build_task(cfg)
    files = sorted(folder.glob("*.jpg"))
    side = task.train.shape[-1]
    want = []
    for f in files:
        small = Image.open(f).convert("L").resize((side, side), Image.BILINEAR)
        buf = io.BytesIO()
        small.save(buf, format="JPEG", quality=75)
        want.append(np.asarray(Image.open(buf).convert("L"))[None])
    got = task.oe.images.numpy()
    assert np.array_equal(got, np.stack(want))
    # without oe_jpeg the folder keeps its fast draft decode (the data of earlier runs)
    plain = build_task(cfg.replace(oe_jpeg=None)).oe.images.numpy()
    assert not np.array_equal(plain, got)


def test_cli_run_and_sweep_take_oe_jpeg(capsys):
    from deepad.cli import main
    base = ["--dataset", "digits", "--oe", "photos", "--oe-size", "16", "--epochs", "1"]
    assert main(["run", *base, "--oe-jpeg", "75"]) == 0
    out = capsys.readouterr().out
    assert "OE as JPEG q75" in out
    key = out.split("run ")[1].split(":")[0]
    assert make_config(dataset="digits", oe="photos", oe_size=16, epochs=1, oe_jpeg=75).key == key
    assert main(["sweep", *base, "--oe-jpeg", "75", "--dry-run"]) == 0  # the same run: cached
    assert "1 runs in the grid; 1 cached, 0 to train" in capsys.readouterr().out
    assert main(["sweep", *base, "--dry-run"]) == 0  # without it: another run
    assert "0 cached, 1 to train" in capsys.readouterr().out
    assert main(["run", *base, "--oe-jpeg", "0"]) == 2
    assert "between 1 and 95" in capsys.readouterr().err


def test_jpeg_quality_of_nominal_data_is_read_from_their_tables(tmp_path, shared_data):
    rng = np.random.default_rng(2)
    for fmt, q in (("jpg", 60), ("png", None)):
        root = tmp_path / fmt
        for cls in ("a", "b"):
            (root / "train" / cls).mkdir(parents=True)
            (root / "test" / cls).mkdir(parents=True)
            for split in ("train", "test"):
                for i in range(3):
                    im = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
                    im.save(root / split / cls / f"{i}.{fmt}", **({"quality": q} if q else {}))
        assert sources.jpeg_quality(f"folder:{root}") == q
    assert sources.jpeg_quality("cifar10") == 75  # the shared JPEG copy
    assert sources.jpeg_quality("digits") is None and sources.jpeg_quality("mnist") is None
