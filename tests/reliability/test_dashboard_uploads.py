"""Hostile uploads in the dashboard: Explore's "Score your own image" (AppTest sets the file
uploader). Not an image, too large, a truncated JPEG, a 20000x20000 PNG: each one st.error with
the reason, no traceback, nothing written to the store. A real image is scored (the control).
decode_upload itself is tests/test_pages_explore.py::test_uploads_are_checked."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rel_helpers import APP, huge_png, truncated_jpeg
from streamlit.testing.v1 import AppTest

from deepad.store import RunStore


def tree(root: Path) -> dict:
    """Every file of the store with its size and mtime (the index's WAL side files aside)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("uploads")
    rng = np.random.default_rng(0)
    truncated_jpeg(d / "cut.jpg", rng)
    huge_png(d / "huge.png")
    png = io.BytesIO()
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(png, format="PNG")
    return {
        "text": ("notes.txt", b"hello, this is not an image", "text/plain"),
        "too-large": ("big.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (21 * 2 ** 20), "image/png"),
        "truncated-jpeg": ("cut.jpg", (d / "cut.jpg").read_bytes(), "image/jpeg"),
        "20000x20000": ("huge.png", (d / "huge.png").read_bytes(), "image/png"),
        "fine": ("fine.png", png.getvalue(), "image/png"),
    }


BAD = {"text": "not a readable image", "too-large": "upload an image under 20 MB",
       "truncated-jpeg": "truncated", "20000x20000": "too large"}


def test_hostile_uploads_are_errors_and_write_nothing(files):
    cache = Path(os.environ["DEEPAD_CACHE"])
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in dict(methods="deep-svdd", budget="epochs", epochs="1", device="cpu").items():
        at.query_params[k] = v
    at.run()
    next(b for b in at.button if b.label == "Train").click()
    at.run()
    assert not at.exception and len(at.table) == 1 and not at.dataframe  # the metrics table
    key = at.table[0].value.to_dict("records")[0]["run key"]
    assert not at.file_uploader  # "Score your own image" is drawn when opened
    at.session_state["score_open"] = True
    at.run()
    before = tree(cache)

    for name, needle in BAD.items():
        at.file_uploader[0].set_value(files[name])
        at.run()
        assert not at.exception, (name, [e.value for e in at.exception])
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and errors[0].startswith("**your image**") and needle in errors[0], \
            (name, errors)
        assert not at.dataframe  # nothing was scored
        assert tree(cache) == before, name
        assert [r["key"] for r in RunStore().query()] == [key]

    at.file_uploader[0].set_value(files["fine"])  # the control: a real image is scored
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    scored = at.dataframe[0].value.to_dict("records")
    assert [r["method"] for r in scored] == ["Deep SVDD"] and np.isfinite(scored[0]["score"])
    assert tree(cache) == before
