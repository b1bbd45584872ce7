"""Aggregations over stored runs for curves and tables, and the paper's published numbers."""

from __future__ import annotations

import numpy as np

from .store import RunStore

# paper-protocol.md section 9.0: CIFAR-10 one-vs-rest AUROC (%), OE = 80M Tiny Images.
PAPER_CIFAR10 = {
    "classes": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    "deep-sad": [94.2, 98.1, 89.8, 87.4, 95.0, 93.0, 96.9, 96.8, 97.1, 96.2],
    "hsc": [96.3, 98.7, 92.7, 89.8, 96.6, 94.2, 97.9, 97.6, 98.2, 97.4],
    "focal": [95.9, 98.7, 92.3, 88.8, 96.6, 94.1, 97.8, 97.6, 98.0, 97.5],
    "bce": [96.4, 98.8, 93.0, 90.0, 97.1, 94.2, 98.0, 97.6, 98.1, 97.7],
    "deep-svdd": [61.7, 65.9, 50.8, 59.1, 60.9, 65.7, 67.7, 67.3, 75.9, 73.1],
    "ocsvm": [65.6, 40.9, 65.3, 50.1, 75.2, 51.2, 71.8, 51.2, 67.9, 48.5],
}
PAPER_CIFAR10_MEAN = {"deep-sad": 94.5, "hsc": 95.9, "focal": 95.8, "bce": 96.1, "deep-svdd": 64.8,
                      "ocsvm": 58.8}


def group_auroc(rows: list[dict], by: str, series: str = "method") -> list[dict]:
    """Mean and standard deviation of AUROC per (series, by) value over all other fields (seeds,
    classes). rows: index rows (dicts) from RunStore.query. Returns one dict per series with
    sorted `x`, `mean`, `std`, `n`, and the run keys behind each point."""
    out: dict = {}
    for r in rows:
        if r.get("auroc") is None:
            continue
        out.setdefault(r[series], {}).setdefault(r[by], []).append((r["auroc"], r["key"]))
    result = []
    for name, pts in out.items():
        xs = sorted(pts, key=lambda v: (v is None, v if v is not None else 0))
        vals = [np.array([a for a, _ in pts[x]]) for x in xs]
        result.append({"name": name, "x": xs, "mean": [float(v.mean()) for v in vals],
                       "std": [float(v.std()) for v in vals], "n": [len(v) for v in vals],
                       "keys": [[k for _, k in pts[x]] for x in xs]})
    return result


def class_table(rows: list[dict]) -> dict:
    """{method: {normal_class: (mean AUROC over seeds, n runs)}} from index rows."""
    t: dict = {}
    for r in rows:
        if r.get("auroc") is None:
            continue
        t.setdefault(r["method"], {}).setdefault(r["normal_class"], []).append(r["auroc"])
    return {m: {k: (float(np.mean(v)), len(v)) for k, v in d.items()} for m, d in t.items()}


def find_runs(store: RunStore, **filters) -> list[dict]:
    """Index rows of finished runs matching the filters (None values are ignored)."""
    return store.query(**{k: v for k, v in filters.items() if v is not None})
