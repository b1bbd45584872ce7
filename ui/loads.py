"""Cached loads: stored and opened runs, models, test images and chart pictures, each cached by
what is stored under the key now (run_version), so nothing is ever served stale."""

from __future__ import annotations

import numpy as np
import streamlit as st

import deepad
from deepad.data import sources
from deepad.errors import DeepadError
from deepad.store import RunStore
from ui.stored import results


def store() -> RunStore:
    return RunStore()


def run_version(key: str, res=None) -> str | None:
    """Identifies what is stored under a run key now: for the local store, the store's folder,
    the key and the run folder's inode and mtime; for a run from a bundle, the bundle's path and
    mtime. The caches below are keyed by it, so a run that is deleted and trained again (another
    session, the CLI), or another store, is never served from a stale cache entry. None when no
    store or opened bundle has the run."""
    s = store()
    try:
        info = (s.runs / key).stat()
        return f"{s.root}|{key}|{info.st_ino}|{info.st_mtime_ns}"
    except OSError:
        pass
    new = s.alias(key)
    if new is not None:
        return run_version(new, res)
    res = res if res is not None else results()
    for b in res.bundles:
        if key in b.runs:
            try:
                return f"bundle|{b.path}|{b.path.stat().st_mtime_ns}|{key}"
            except OSError:
                return None
    return None


def run_data(key: str, res=None) -> dict | None:
    """A stored or opened run's config, metrics, scores and labels (copied per caller), with its
    `source` and whether its model is here (`has_weights`), or None."""
    res = res if res is not None else results()
    version = run_version(key, res)
    if version is None:
        return None
    return _run_data(key, version, res)


@st.cache_data(max_entries=512, show_spinner=False)
def _run_data(key: str, version: str, _res) -> dict | None:
    run = _res.get(key)
    if run is None:  # damaged and set aside: raise so that the miss is not cached
        raise DeepadError(f"run {key} was damaged and has been set aside; train it again")
    return {"key": key, "config": run.config.to_dict(), "metrics": run.metrics,
            "history": run.history, "scores": run.scores, "labels": run.labels,
            "classes": run.test_classes, "source": _res.source(key),
            "has_weights": run.has_weights}


def detector(key: str):
    """The trained detector of a run, shared read-only by all sessions (never trained here)."""
    return _detector(key, run_version(key))


@st.cache_resource(max_entries=8, show_spinner=False)
def _detector(key: str, version: str | None):
    run = results().get(key) if version is not None else None
    if run is None:
        raise DeepadError(f"run {key} is not in the store any more; train it again")
    if not run.has_weights:
        raise DeepadError("this run came without its model (a result bundle made without "
                          "--weights), so nothing can be scored with it here")
    return deepad.load_detector(run, device="cpu")


@st.cache_resource(max_entries=4, show_spinner=False)
def test_images(dataset: str) -> np.ndarray:
    return sources.get(dataset).load("test").images.numpy()


def data_here(name: str) -> bool:
    """Whether a data set's images are on this machine (or generated / bundled)."""
    try:
        return sources.get(name).available()
    except DeepadError:
        return False


@st.cache_data(max_entries=32, show_spinner=False)
def chart_pngs(versions: tuple, marks: tuple, _curves: list,
               thresholds: tuple = ()) -> tuple[bytes, bytes, bytes]:
    """The ROC, precision-recall and histogram charts as PNGs (deepad.plots_static). Cached by
    the runs' versions (run_version: a stored run fixes its scores), the marks and the operating
    thresholds ((name, threshold) per run); `_curves` (name, labels, scores per run) is not
    hashed."""
    from deepad import plots_static
    thr = dict(thresholds)
    return (plots_static.roc_png(_curves, thr), plots_static.pr_png(_curves, thr),
            plots_static.histogram_png(_curves, {name: list(v) for name, v in marks}))


def heatmaps(key: str, images: np.ndarray) -> list[np.ndarray]:
    """Heatmap pictures (image | where the model looks) of uint8 images (n, C, H, W) for a run."""
    return _heatmaps(key, run_version(key), images)


@st.cache_data(max_entries=64, show_spinner=False)
def _heatmaps(key: str, version: str | None, images: np.ndarray) -> list[np.ndarray]:
    from deepad.inference import heatmap, heatmap_picture
    det = detector(key)
    return [heatmap_picture(im, heatmap(det, im), scale=max(1, 64 // im.shape[1])) for im in images]
