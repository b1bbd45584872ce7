"""Writing a bundle from stored (or opened) runs, and importing one into the run store."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np

from ..config import CODE_VERSION, RunConfig
from ..errors import DeepadError
from .check import (
    ATLAS_COLUMNS,
    ATLAS_TILES,
    EXTREMES_K,
    FORMAT,
    FORMAT_VERSION,
    SCORE_DTYPES,
    THUMBNAIL,
    _npy_bytes,
    _npy_load,
    _sha,
    data_label,
    set_id,
    summarise,
)
from .read import open_bundle

# --------------------------------------------------------------------------- writing

def _thumbnail(images: np.ndarray) -> np.ndarray:
    if images.shape[-1] <= THUMBNAIL:
        return images
    from PIL import Image
    out = []
    for im in images:
        pic = Image.fromarray(im[0] if im.shape[0] == 1 else im.transpose(1, 2, 0))
        pic = pic.resize((THUMBNAIL, THUMBNAIL), Image.BILINEAR)
        a = np.asarray(pic)
        out.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return np.stack(out)


def _atlas_png(images: np.ndarray) -> bytes:
    from PIL import Image
    n, c, h, w = images.shape
    rows = -(-n // ATLAS_COLUMNS)
    sheet = np.zeros((rows * h, ATLAS_COLUMNS * w, c), np.uint8)
    for i, im in enumerate(images):
        r, col = divmod(i, ATLAS_COLUMNS)
        sheet[r * h:(r + 1) * h, col * w:(col + 1) * w] = im.transpose(1, 2, 0)
    pic = Image.fromarray(sheet[:, :, 0] if c == 1 else sheet)
    buf = io.BytesIO()
    pic.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _extreme_indices(scores: np.ndarray, labels: np.ndarray, k: int = EXTREMES_K) -> dict:
    nom, ano = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    return {"false_alarms": nom[np.argsort(-scores[nom], kind="stable")[:k]].tolist(),
            "misses": ano[np.argsort(scores[ano], kind="stable")[:k]].tolist()}


def compact_scores(scores: np.ndarray, labels: np.ndarray, auroc: float,
                   tolerance: float = 1e-5) -> np.ndarray:
    """The smallest float type (float16, float32, float64) whose copy of `scores` is finite and
    gives the stored AUROC within `tolerance` (ties made by rounding are what could move it)."""
    from ..metrics import auroc as auroc_of
    for dtype in (np.float16, np.float32):
        with np.errstate(over="ignore"):
            small = scores.astype(dtype)
        if np.isfinite(small).all() and abs(auroc_of(labels, small.astype(np.float64)) - auroc) <= tolerance:
            return small
    return scores.astype(np.float64)


def _dataset_entry(cfg: RunConfig, classes_arr: np.ndarray) -> dict:
    """What the receiving side needs to show runs on this nominal data set without it."""
    from ..data import identity, sources
    entry = {"dataset": cfg.dataset, "dataset_id": cfg.dataset_id, "n_test": int(len(classes_arr)),
             "label": data_label(cfg.dataset, cfg.dataset_id)}
    try:
        src = sources.get(cfg.dataset)
        entry["classes"] = list(src.classes())
        from ..config import profile
        entry["profile"] = profile(cfg.dataset)
        entry["jpeg_quality"] = sources.jpeg_quality(cfg.dataset)
    except DeepadError:
        meta = identity.learned(cfg.dataset) or {}
        entry.update({k: meta.get(k) for k in ("classes", "profile", "jpeg_quality")})
    return entry


def export(out: str | os.PathLike, runs: list, *, weights: bool = False, scores: str = "float64",
           progress=None) -> dict:
    """Write `runs` (StoredRun or BundleRun objects) to the bundle `out` (atomically). `scores`:
    float64 (exact), float32, float16, or 'compact' (per run the smallest float type that keeps
    the stored AUROC within 1e-5). Returns the bundle's summary with the per-run AUROC change of
    the scores as written ('scores_auroc_change', max absolute)."""
    from ..metrics import auroc as auroc_of
    if scores not in SCORE_DTYPES + ("compact",):
        raise DeepadError(f"--scores takes {', '.join(SCORE_DTYPES)} or compact, got '{scores}'")
    if not runs:
        raise DeepadError("no stored runs match; nothing to export (see `python -m deepad runs`)")
    if weights:
        missing = [r.key for r in runs if not r.has_weights]
        if missing:
            raise DeepadError(f"--weights: {len(missing)} run(s) have no model here (e.g. "
                              f"{missing[0]}, imported without weights); export without --weights")
    out = Path(out)
    members: dict[str, bytes] = {}
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "code_version": CODE_VERSION,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": [],
                "scores_dtype": {}, "datasets": {}, "pools": {}}
    import deepad
    manifest["deepad_version"] = deepad.__version__
    want_images: dict = {}   # set -> {test index}
    have_images: dict = {}   # set -> {test index: image}, from runs that carry them
    changes = []
    for i, r in enumerate(runs):
        cfg = r.config
        sid = set_id(cfg.dataset, cfg.dataset_id)
        classes = np.asarray(r.test_classes, np.int64)
        labels = np.asarray(r.labels)
        if not np.array_equal(labels, (classes != cfg.normal_class).astype(labels.dtype)) \
                or not np.array_equal(r.indices, np.arange(len(classes))):
            raise DeepadError(f"run {r.key}: its labels are not 'class != nominal class' over "
                              f"the whole test split; it cannot be exported")
        cname = f"data/{sid}/test_classes.npy"
        if cname in members:
            if not np.array_equal(_npy_load(members[cname], cname), classes):
                raise DeepadError(f"runs on {cfg.dataset} disagree on its test split (run "
                                  f"{r.key}); export them separately")
        else:
            members[cname] = _npy_bytes(classes.astype(np.int16 if classes.max() < 2 ** 15 else np.int64))
            manifest["datasets"][sid] = _dataset_entry(cfg, classes)
        s = np.asarray(r.scores, np.float64)
        if scores == "compact":
            written = compact_scores(s, labels, float(r.metrics["auroc"]))
        else:
            written = s.astype(scores)
        if not np.isfinite(written).all():
            raise DeepadError(f"run {r.key}: its scores do not fit {scores}; use --scores float32 "
                              f"or float64")
        if written.dtype != np.float64:
            changes.append(abs(auroc_of(labels, written.astype(np.float64)) - float(r.metrics["auroc"])))
        base = f"runs/{r.key}/"
        members[base + "config.json"] = json.dumps(cfg.to_dict(), indent=1, sort_keys=True).encode()
        members[base + "metrics.json"] = json.dumps(r.metrics, indent=1, sort_keys=True).encode()
        members[base + "history.json"] = json.dumps(r.history).encode()
        members[base + "scores.npy"] = _npy_bytes(written)
        ex = _extreme_indices(s, labels)
        members[base + "extremes.json"] = json.dumps(ex).encode()
        want_images.setdefault(sid, set()).update(ex["false_alarms"] + ex["misses"])
        kept = r.extremes() if hasattr(r, "extremes") else None
        if kept is not None:
            imgs = kept["images"] if isinstance(kept.get("images"), dict) else dict(
                zip(kept["indices"].tolist(), kept["images"]))
            have_images.setdefault(sid, {}).update(imgs)
        if weights:
            members[base + "weights.safetensors"] = _weights_bytes(r)
        manifest["runs"].append(r.key)
        manifest["scores_dtype"][r.key] = str(written.dtype)
        if cfg.oe_id is not None:
            manifest["pools"][cfg.oe] = {"oe_id": cfg.oe_id, "label": data_label(cfg.oe)}
        if progress:
            progress(i + 1, len(runs))
    for sid, wanted in want_images.items():
        entry = manifest["datasets"][sid]
        images = _test_images(entry, sorted(wanted), have_images.get(sid, {}))
        if images is None:
            entry["images"] = False
            continue
        idx, arr = images
        arr = _thumbnail(arr)
        atlases = []
        for n, start in enumerate(range(0, len(idx), ATLAS_TILES)):
            members[f"data/{sid}/images-{n}.png"] = _atlas_png(arr[start:start + ATLAS_TILES])
            atlases.append([int(t) for t in idx[start:start + ATLAS_TILES]])
        members[f"data/{sid}/images.json"] = json.dumps(
            {"shape": list(arr.shape[1:]), "atlases": atlases}).encode()
        entry["images"] = True
    manifest["members"] = {n: {"sha256": _sha(b), "size": len(b)} for n, b in sorted(members.items())}
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
            for name in sorted(members):
                data = members[name]
                kind = zipfile.ZIP_STORED if name.endswith((".png", ".safetensors")) else zipfile.ZIP_DEFLATED
                z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data,
                           compress_type=kind)
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise DeepadError(f"cannot write {out} ({e.strerror or e}); choose a writable path") from None
    summary = summarise(runs, size=out.stat().st_size, manifest=manifest)
    summary["with_weights"] = sum(1 for r in runs if r.has_weights) if weights else 0  # as written
    summary["scores_auroc_change"] = max(changes) if changes else 0.0
    return summary


def _weights_bytes(r) -> bytes:
    if hasattr(r, "path") and (Path(r.path) / "weights.safetensors").exists():
        return (Path(r.path) / "weights.safetensors").read_bytes()
    return r.bundle._read(f"runs/{r.key}/weights.safetensors")


def _test_images(entry: dict, wanted: list, have: dict):
    """(indices, uint8 (n, C, H, W)) of the wanted test images: from the data set when it is on
    this machine, else from what the runs carry; None when neither has them."""
    from ..data import sources
    try:
        src = sources.locate(entry["dataset"], entry.get("dataset_id"))
        if src.available():
            test = src.load("test").images
            return np.asarray(wanted), test[np.asarray(wanted)].numpy()
    except DeepadError:
        pass
    got = [t for t in wanted if t in have]
    if not got:
        import sys
        print(f"note: the images of {entry['dataset']} are not on this machine (set DEEPAD_DATA to "
              f"the folder that holds them): the bundle carries no example test images and no "
              f"JPEG quality for its runs", file=sys.stderr)
        return None
    return np.asarray(got), np.stack([have[t] for t in got])


# --------------------------------------------------------------------------- importing

def import_bundle(path, store=None) -> dict:
    """Put a bundle's runs into the run store. Everything is verified first: a bad bundle writes
    nothing (BundleError). A run already stored with the same metrics is skipped; one stored with
    other metrics is reported as a conflict and left as it is. Returns {'imported', 'present',
    'conflicts': [{key, local, bundle}]}."""
    from ..store import RunStore
    store = store or RunStore()
    b = open_bundle(path)
    todo, present, conflicts = [], [], []
    for key, r in b.runs.items():
        local = store.get(key, repair=False)
        if local is None:
            todo.append(r)
            continue
        same = all(local.metrics.get(m) == r.metrics.get(m) for m in ("auroc", "auprc", "fpr_at_95_tpr"))
        (present if same else conflicts).append(key)
    payloads = []
    for r in todo:  # read everything before writing anything
        arrays = {"scores": r.scores, "labels": r.labels, "indices": r.indices,
                  "classes": r.test_classes}
        w = b._read(f"runs/{r.key}/weights.safetensors") if r.has_weights else None
        extras = {}
        ex = r.extremes()
        if ex is not None:
            idx = [t for t in list(ex["false_alarms"]) + list(ex["misses"]) if t in ex["images"]]
            if idx:
                buf = io.BytesIO()
                np.savez_compressed(buf, indices=np.asarray(idx, np.int64),
                                    images=np.stack([ex["images"][t] for t in idx]),
                                    false_alarms=ex["false_alarms"], misses=ex["misses"])
                extras["extremes.npz"] = buf.getvalue()
        payloads.append((r, arrays, w, extras))
    for r, arrays, w, extras in payloads:
        with store.lock(r.key):
            if store.get(r.key, repair=False) is None:
                store.put(r.config, metrics=r.metrics, history=r.history, scores=arrays,
                          weights=w, extras=extras)
    return {"imported": [r.key for r, *_ in payloads], "present": present,
            "conflicts": [{"key": k, "local_auroc": store.get(k, repair=False).metrics.get("auroc"),
                           "bundle_auroc": b.runs[k].metrics.get("auroc")} for k in conflicts],
            "bundle": b}
