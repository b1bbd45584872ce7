"""Hostile image folders through the command line (in-process `deepad.cli.main`, and one
subprocess for the real exit code and streams) and the dashboard.

Designed behaviour: unreadable files (truncated JPEGs, decompression bombs such as a 20000x20000
PNG) are skipped and reported by path on stderr, and the run trains on the readable ones; 16-bit
and RGBA images are converted and used; symlinks that lead outside the folder (to a file, or a
whole class folder) are never read; a folder with no readable image exits 2 with one clear line
and writes nothing to the store. Empty folders and folders of non-images are in
tests/test_cli_errors.py (oe-folder-empty, oe-folder-txt, oe-folder-fakepng)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rel_helpers import APP, REPO, huge_png, sub_env, truncated_jpeg
from streamlit.testing.v1 import AppTest

from deepad.cli import main
from deepad.data import sources
from deepad.store import RunStore

GOOD = 8      # plain images per folder / class
DEEP = 40000  # the 16-bit images' value: 40000 / 65535 * 255 -> 156 in 8 bits
ALPHA_RGB = 200


def noise_png(path: Path, rng, channels=1) -> None:
    shape = (16, 16) if channels == 1 else (16, 16, channels)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)


def hostile(d: Path, rng, outside: Path) -> dict:
    """Plain images plus one of each hostile kind in `d`; returns the paths by kind."""
    d.mkdir(parents=True)
    for i in range(GOOD):
        noise_png(d / f"good{i}.png", rng)
    f = {"cut": d / "cut.jpg", "huge": d / "huge.png", "deep": d / "deep.png",
         "alpha": d / "alpha.png", "link": d / "link.png"}
    truncated_jpeg(f["cut"], rng)
    huge_png(f["huge"])
    Image.fromarray(np.full((16, 16), DEEP, np.uint16)).save(f["deep"])
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = ALPHA_RGB  # fully transparent, grey underneath
    Image.fromarray(rgba, "RGBA").save(f["alpha"])
    os.symlink(outside / "secret.png", f["link"])
    return f


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(0)
    outside = root / "outside"  # valid images that a folder's symlinks point at
    (outside / "dir").mkdir(parents=True)
    noise_png(outside / "secret.png", rng)
    for i in range(4):
        noise_png(outside / "dir" / f"{i}.png", rng)

    t0 = time.perf_counter()
    f = {"outside": outside}
    f["oe"] = hostile(root / "oe", rng, outside)
    os.symlink(outside / "dir", root / "oe" / "linkdir")  # a whole folder outside
    os.symlink(root / "oe" / "good0.png", root / "oe" / "inside-link.png")  # inside: used
    f["nominal"] = hostile(root / "nominal" / "a", rng, outside)
    (root / "nominal" / "b").mkdir()
    for i in range(GOOD):
        noise_png(root / "nominal" / "b" / f"{i}.png", rng)
    os.symlink(outside / "dir", root / "nominal" / "evil")  # a class folder outside
    (root / "allbad").mkdir()
    truncated_jpeg(root / "allbad" / "cut.jpg", rng)
    huge_png(root / "allbad" / "huge.png")
    os.symlink(outside / "secret.png", root / "allbad" / "link.png")
    for c in ("a", "b"):
        (root / "allbad-nominal" / c).mkdir(parents=True)
        truncated_jpeg(root / "allbad-nominal" / c / "cut.jpg", rng)
        huge_png(root / "allbad-nominal" / c / "huge.png")
    assert time.perf_counter() - t0 < 20
    assert f["oe"]["huge"].stat().st_size < 200_000  # the bomb is small on disk
    for name in ("oe", "nominal", "allbad", "allbad-nominal"):
        f[f"{name}-dir"] = root / name
    return f


def assert_no_runs(cache: Path) -> None:
    """Nothing in the store: no run folder, no index row, nothing half-written in tmp/."""
    if not cache.exists():
        return
    assert not list(cache.glob("runs/*")), "a run was written to the store"
    assert not list(cache.glob("tmp/*")), "something was left half-written"
    db = cache / "index.sqlite"
    if db.exists():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            if con.execute("SELECT name FROM sqlite_master WHERE name='runs'").fetchone():
                assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
        finally:
            con.close()


def uniform_values(images) -> set:
    """The values of the images that are one flat colour (the 16-bit and RGBA ones here)."""
    x = np.asarray(images).reshape(len(images), -1)
    return {int(r[0]) for r in x if (r == r[0]).all()}


def assert_skips_reported(err: str, f: dict) -> None:
    assert "skipped 2 unreadable file(s)" in err, err
    assert f"{f['cut']}: " in err and "truncated" in err
    assert f"{f['huge']}: " in err and "too large" in err
    for ok in ("deep", "alpha", "link"):
        assert str(f[ok]) not in err  # used (16-bit, RGBA) or never read (the link)


def test_oe_folder_with_hostile_files_trains_on_the_readable_ones(folders, capsys):
    f = folders["oe"]
    rc = main(["run", "--method", "hsc", "--oe", f"folder:{folders['oe-dir']}", "--epochs", "1",
               "--json", "--device", "cpu"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert_skips_reported(cap.err, f)
    out = json.loads(cap.out)
    run = RunStore().get(out["run_key"])
    # 8 plain + 16-bit + RGBA + a symlink inside the folder; not the truncated JPEG, not the bomb,
    # not the file or the folder that symlinks lead to outside
    assert run.metrics["n_oe"] == GOOD + 3
    pool = sources.get(f"folder:{folders['oe-dir']}").pool((1, 8, 8))
    assert len(pool) == GOOD + 3
    assert uniform_values(pool.images) == {round(DEEP / 65535 * 255), ALPHA_RGB}  # converted, used


def test_nominal_folder_with_hostile_files_and_a_class_folder_outside(folders, capsys):
    d = folders["nominal-dir"]
    rc = main(["run", "--dataset", f"folder:{d}", "--method", "deep-svdd", "--epochs", "1",
               "--json", "--device", "cpu"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert_skips_reported(cap.err, folders["nominal"])
    run = RunStore().get(json.loads(cap.out)["run_key"])
    src = sources.get(f"folder:{d}")
    assert src.classes() == ["a", "b"]  # the symlinked class folder 'evil' is not a class
    train, test = src.load("train"), src.load("test")
    assert len(train) + len(test) == (GOOD + 2) + GOOD  # a: plain + 16-bit + RGBA; b: plain
    assert run.metrics["n_test"] == len(test)
    assert run.metrics["n_train"] == int((train.labels == 0).sum())
    both = np.concatenate([train.images.numpy(), test.images.numpy()])
    assert both.shape[1] == 3  # an RGBA image among them: the folder is read as colour
    assert uniform_values(both) == {round(DEEP / 65535 * 255), ALPHA_RGB}


def test_folder_without_a_readable_image_in_process(folders, capsys):
    cache = Path(os.environ["DEEPAD_CACHE"])
    d = folders["allbad-nominal-dir"]
    rc = main(["run", "--dataset", f"folder:{d}", "--method", "deep-svdd", "--epochs", "1"])
    err = capsys.readouterr().err
    assert rc == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: none of the 4 files in ") and str(d) in last, last
    assert "Traceback" not in err
    assert_no_runs(cache)


def test_folder_without_a_readable_image_subprocess(folders, tmp_path):
    """Only a truncated JPEG, a bomb and a link outside: exit 2, one error line, empty stdout."""
    cache = tmp_path / "cache"
    d = folders["allbad-dir"]
    p = subprocess.run([sys.executable, "-m", "deepad", "run", "--method", "hsc", "--oe",
                        f"folder:{d}", "--epochs", "1", "--json"], cwd=REPO, env=sub_env(cache),
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 2, p.stderr
    assert p.stdout == ""
    assert "Traceback" not in p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("error: none of the 2 files in ") and str(d) in last, p.stderr
    assert str(folders["outside"]) not in p.stderr  # the link was never listed nor read
    assert_no_runs(cache)


def test_dashboard_folder_without_a_readable_image_is_an_error(folders):
    cache = Path(os.environ["DEEPAD_CACHE"])
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in dict(dataset="folder:", folder=str(folders["allbad-nominal-dir"]),
                     methods="deep-svdd", budget="epochs", epochs="1", device="cpu").items():
        at.query_params[k] = v
    at.run()
    next(b for b in at.button if b.label == "Train").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("none of the 4 files" in e.value.lower() for e in at.error), [e.value for e in at.error]
    assert_no_runs(cache)
