"""Helpers shared by the reliability tests (imported as a plain module: pytest puts this folder on
sys.path)."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from deepad import make_config

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "app.py")


def sub_env(cache: Path, **extra) -> dict:
    """The environment of a deepad subprocess: this checkout, one store, offline, one thread."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               DEEPAD_CACHE=str(cache), DEEPAD_OFFLINE="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    env.update(extra)
    return env


def spawn(code: str, args: list, cache: Path, log: Path, **popen) -> subprocess.Popen:
    """`python -c code args...` with stdout and stderr in `log` (a file: a full pipe would block)."""
    with open(log, "w") as f:
        return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=REPO,
                                env=sub_env(cache), stdout=f, stderr=subprocess.STDOUT, **popen)


def wait_for(condition, what: str, timeout: float = 180, procs=(), logs=()) -> None:
    """Poll `condition()` until it holds; fail with the logs if a process died or time ran out."""
    deadline = time.monotonic() + timeout
    while not condition():
        for p, log in zip(procs, logs):
            if p.poll() is not None:
                raise AssertionError(f"process exited ({p.returncode}) before {what}:\n"
                                     f"{Path(log).read_text()[-3000:]}")
        if time.monotonic() > deadline:
            tails = "\n".join(Path(log).read_text()[-2000:] for log in logs)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.02)


def tiny(method: str = "deep-svdd", seed: int = 1, epochs: int = 2, **kw):
    """A run that trains in well under a second on the bundled 8x8 digits."""
    oe = "photos" if method in ("hsc", "bce", "focal", "deep-sad") else "none"
    return make_config(dataset="digits", normal_class=kw.pop("normal_class", 0), oe=oe,
                       oe_size=64 if oe != "none" else None, method=method, seed=seed,
                       epochs=epochs, **kw)


def snapshot(store, key) -> tuple:
    run = store.get(key)
    assert run is not None, f"run {key} is not served"
    return key, dict(run.metrics), run.scores.copy()


def assert_intact(store, snap) -> None:
    """The run is served, verified, with its original numbers, and listed in the index."""
    key, metrics, scores = snap
    run = store.get(key)
    assert run is not None, f"run {key} was lost"
    assert run.metrics == metrics
    np.testing.assert_array_equal(run.scores, scores)
    assert key in {r["key"] for r in store.query()}


def assert_only_complete_runs(store) -> set:
    """Every run folder is complete (manifest, checksums) and every listed run is served; returns
    the listed keys."""
    listed = {r["key"] for r in store.query()}
    folders = {p.name for p in store.runs.iterdir()} if store.runs.exists() else set()
    assert listed == folders, f"index {sorted(listed)} != run folders {sorted(folders)}"
    for key in listed:
        assert store.get(key) is not None, f"listed run {key} does not verify"
    return listed


def huge_png(path: Path, side: int = 20000) -> None:
    """A valid 1-bit PNG of side x side black pixels, ~50 KB on disk, written without ever
    holding the image in memory (a decompression bomb: 400 megapixels)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    row = b"\0" * (1 + (side + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def truncated_jpeg(path: Path, rng) -> None:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, format="JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
