"""Every run there is to show: the local run store and the opened result bundles, read-only.

The dashboard, the claims and `reproduce.py --report-only` read runs through `Results`, so a run
from a bundle is found wherever a stored one would be, marked with its source. A key stored
locally wins over the same key in a bundle (the local run is what training would serve).

Bundles to open: `DEEPAD_RESULTS` (comma-separated bundle files or folders of them; `none` for
none); unset, the `results/` folder beside the package (the reproduction shipped with deepad).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .bundle import Bundle, BundleError, data_label, open_bundle, set_id
from .data import identity
from .errors import DeepadError
from .store import _CONFIG_COLUMNS, _METRIC_COLUMNS, RunStore

SHIPPED = Path(__file__).resolve().parents[1] / "results"
LOCAL = "local store"


def bundle_paths(spec: str | None = None) -> list[Path]:
    """The bundle files named by `spec` (default: DEEPAD_RESULTS, else the shipped results/)."""
    spec = os.environ.get("DEEPAD_RESULTS") if spec is None else spec
    if spec is None:
        parts = [str(SHIPPED)] if SHIPPED.is_dir() else []
    elif spec.strip().lower() in ("", "none"):
        parts = []
    else:
        parts = [p.strip() for p in spec.split(",") if p.strip()]
    out = []
    for p in parts:
        path = Path(os.path.expanduser(p))
        out += sorted(path.glob("*.zip")) if path.is_dir() else [path]
    return out


def open_bundles(paths) -> tuple[list[Bundle], list[str]]:
    """Open each bundle; a bad one is reported (one line each), never fatal."""
    bundles, errors = [], []
    for p in paths:
        try:
            bundles.append(open_bundle(p))
        except DeepadError as e:
            errors.append(str(e))
    return bundles, errors


def row_of(key: str, cfg, metrics: dict, source: str) -> dict:
    """An index-row dict (as RunStore.query gives) for a run known by config and metrics."""
    d = cfg.to_dict()
    row = {"key": key, "status": "done", "error": None, "created": metrics.get("created"),
           "config": json.dumps(d, sort_keys=True), "source": source}
    for n, _ in _CONFIG_COLUMNS:
        row[n] = d.get(n)
    for n, _ in _METRIC_COLUMNS:
        row[n] = metrics.get(n)
    return row


class Results:
    """The runs of a store and of bundles, as one read-only collection."""

    def __init__(self, store: RunStore | None = None, bundles=()):
        self.store = store if store is not None else RunStore()
        self.bundles = list(bundles)
        self.learn()

    def learn(self) -> None:
        """Teach data.identity what the bundles know of their data sets and OE pools, so that
        configs naming them can be built where the data are not."""
        for b in self.bundles:
            for entry in b.manifest.get("datasets", {}).values():
                if isinstance(entry, dict) and isinstance(entry.get("dataset"), str):
                    identity.learn(entry["dataset"], entry.get("dataset_id"),
                                   **{k: entry.get(k) for k in ("classes", "profile",
                                                                "jpeg_quality", "label")})
            for name, pool in b.manifest.get("pools", {}).items():
                if isinstance(pool, dict) and isinstance(pool.get("oe_id"), str):
                    identity.learn(name, pool["oe_id"], label=pool.get("label"))
        for r in self._local_rows():
            for f, i in (("dataset", "dataset_id"), ("oe", "oe_id")):
                if r.get(i) and not os.path.exists(r[f].split(":", 1)[1].partition(",exclude=")[0]):
                    identity.learn(r[f], r[i])

    def _local_rows(self) -> list[dict]:
        if not (self.store.db_path.exists() or self.store.runs.exists()):
            return []
        return [{**r, "source": LOCAL} for r in self.store.query()]

    def rows(self) -> list[dict]:
        """Index rows of every finished run, each with `source` (LOCAL or a bundle's name)."""
        out = self._local_rows()
        seen = {r["key"] for r in out}
        for b in self.bundles:
            for key, run in b.runs.items():
                if key not in seen:
                    seen.add(key)
                    out.append(row_of(key, run.config, run.metrics, b.label))
        return out

    def get(self, key: str):
        """The run (StoredRun from the store, else BundleRun) or None."""
        if key in self.store:
            run = self.store.get(key)
            if run is not None:
                return run
        for b in self.bundles:
            if key in b.runs:
                return b.runs[key]
        return None

    def source(self, key: str) -> str | None:
        if key in self.store:
            return LOCAL
        for b in self.bundles:
            if key in b.runs:
                return b.label
        return None

    def extremes(self, key: str) -> dict | None:
        """The test images kept with a run (imported or from a bundle): {'false_alarms',
        'misses', 'images': {index: uint8 (C, H, W)}}; None when the run carries none."""
        run = self.get(key)
        if run is None:
            return None
        ex = run.extremes()
        if ex is None:
            return None
        if isinstance(ex.get("images"), dict):
            return ex
        return {"false_alarms": ex["false_alarms"], "misses": ex["misses"],
                "images": dict(zip(ex["indices"].tolist(), ex["images"]))}


__all__ = ["Results", "bundle_paths", "open_bundles", "row_of", "LOCAL", "SHIPPED", "BundleError",
           "data_label", "set_id"]
