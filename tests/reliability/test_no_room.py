"""No room: a read-only cache folder and a full disk. A clear error (exit 2, one `error:` line
naming the folder and the fix), nothing half-written, the earlier runs intact. A cache path that is
a file is tests/test_store.py::test_unwritable_cache_fails_fast_and_writes_nothing and
tests/test_cli_errors.py::test_unwritable_store.

Read-only is real file permissions: the command runs in a subprocess that, when the tests run as
root, first gives up root's permission override (CAP_DAC_OVERRIDE). A full disk is a per-file size
limit (RLIMIT_FSIZE) in the subprocess: a write past it fails with EFBIG, as one on a full disk
fails with ENOSPC."""

from __future__ import annotations

import ctypes
import os
import resource
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from rel_helpers import REPO, assert_intact, snapshot, sub_env, tiny

import deepad.store
from deepad import RunStore, get_or_train

PR_CAPBSET_DROP, CAP_DAC_OVERRIDE = 24, 1


def _no_override():
    """In the child before exec: drop root's permission override, so file modes apply."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def cli(args, cache: Path, preexec=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deepad", *args], cwd=REPO, env=sub_env(cache),
                          capture_output=True, text=True, timeout=180, preexec_fn=preexec)


def tree(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def set_writable(root: Path, writable: bool) -> None:
    for p in [root, *root.rglob("*")]:
        mode = p.stat().st_mode
        w = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        p.chmod(mode | stat.S_IWUSR if writable else mode & ~w)


def assert_clear_error(p: subprocess.CompletedProcess, *needles) -> str:
    assert p.returncode == 2, p.stderr[-3000:]
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    assert p.stdout == ""
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), p.stderr[-3000:]
    for n in needles:
        assert n in last, (n, last)
    return last


@pytest.fixture
def earlier(tmp_path, monkeypatch):
    """A store holding one run."""
    root = tmp_path / "cache"
    monkeypatch.setenv("DEEPAD_CACHE", str(root))
    store = RunStore(root)
    cfg = tiny(seed=1, epochs=1)
    get_or_train(cfg, store=store, device="cpu")
    return store, cfg, snapshot(store, cfg.key)


def _probe_read_only(tmp_path):
    d = tmp_path / "probe"
    d.mkdir()
    set_writable(d, False)
    try:
        p = subprocess.run([sys.executable, "-c", f"open({str(d / 'x')!r}, 'w')"],
                           capture_output=True, preexec_fn=_no_override)
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"cannot drop the permission override here ({e})")
    finally:
        set_writable(d, True)
    if p.returncode == 0:
        pytest.skip("file permissions are not enforced for this user here")


def test_read_only_cache(earlier, tmp_path):
    _probe_read_only(tmp_path)
    store, cfg, snap = earlier
    root = store.root
    set_writable(root, False)
    try:
        before = tree(root)
        # the stored run is still served from a read-only store
        p = cli(["run", "--method", "deep-svdd", "--epochs", "1", "--seed", "1", "--json"], root,
                _no_override)
        assert p.returncode == 0, p.stderr[-3000:]
        assert '"cached": true' in p.stdout
        # a new run: refused before training, with the folder and the fix
        p = cli(["run", "--method", "deep-svdd", "--epochs", "1", "--seed", "2", "--json"], root,
                _no_override)
        assert_clear_error(p, f"cannot write to the run store {root}", "DEEPAD_CACHE")
        assert len(p.stderr.strip().splitlines()) == 1  # that line alone: no training began
        p = cli(["table"], root, _no_override)  # the index cannot be opened for writing
        assert_clear_error(p, str(root), "writable")
        assert tree(root) == before  # nothing written, nothing half-written
    finally:
        set_writable(root, True)
    assert_intact(store, snap)

    empty = tmp_path / "empty-cache"
    empty.mkdir()
    set_writable(empty, False)
    try:
        p = cli(["run", "--method", "deep-svdd", "--epochs", "1", "--json"], empty, _no_override)
        assert_clear_error(p, f"cannot write to the run store {empty}", "DEEPAD_CACHE")
        assert list(empty.iterdir()) == []
    finally:
        set_writable(empty, True)


def test_full_disk_during_the_artifact_write(earlier):
    store, _, snap = earlier
    root = store.root
    limit = 64 * 1024  # the small files fit; the HSC weights (~160 KB) do not

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    new = tiny(method="hsc", seed=1, epochs=1)
    p = cli(["run", "--method", "hsc", "--oe", "photos", "--oe-size", "64", "--epochs", "1",
             "--json"], root, small_files)
    assert_clear_error(p, f"could not write run {new.key} to {root}", "free some space")
    assert list((root / "tmp").iterdir()) == []  # the half-written run was removed
    assert not (root / "runs" / new.key).exists()
    assert {r["key"] for r in store.query(status=None)} == {snap[0]}
    assert_intact(store, snap)

    # with room again, asking again trains and stores it
    res = get_or_train(new, store=store, device="cpu")
    assert res.cached is False and get_or_train(new, store=store).cached is True


def test_full_disk_during_the_index_update(earlier, monkeypatch):
    """The artifacts are written and renamed into place, then the index write fails: the run is
    stored and served, and the index lists it as soon as it can be written."""
    store, _, snap = earlier
    real = deepad.store.RunStore._upsert
    new = tiny(seed=2, epochs=1)

    def full(self, con, cfg, status, metrics=None, error=None):
        if cfg.key == new.key:
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, con, cfg, status, metrics, error)

    monkeypatch.setattr(deepad.store.RunStore, "_upsert", full)
    res = get_or_train(new, store=store, device="cpu")
    assert res.cached is False and res.run.metrics["auroc"] > 0
    monkeypatch.setattr(deepad.store.RunStore, "_upsert", real)
    assert {r["key"] for r in store.query()} == {snap[0], new.key}
    assert get_or_train(new, store=store).cached is True
    assert_intact(store, snap)


def test_full_disk_while_caching_decoded_images(tmp_path, monkeypatch):
    """The decoded-images cache (DEEPAD_DATASET_CACHE) on a full disk: the decode is not cached
    (it costs a decode next time) and no half-written file is left behind."""
    import errno

    import numpy as np

    import deepad.data.images as images
    real = np.save

    def full(path, array):
        real(path, array[: len(array) // 2])  # part of it reached the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(images.np, "save", full)
    cache = images.ArrayCache(tmp_path / "decoded")
    cache.save("k", np.zeros((10, 1, 8, 8), np.uint8), {"ok": [True] * 10})
    assert list((tmp_path / "decoded").iterdir()) == []
    monkeypatch.setattr(images.np, "save", real)
    assert cache.load("k") is None
