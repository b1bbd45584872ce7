"""Mean and standard deviation of AUROC over stored runs, grouped (the `table` and `sweep`
commands). Light: no pandas, no torch."""

from __future__ import annotations

import numpy as np


def summarize(rows: list[dict], *, by: list[str]) -> list[dict]:
    """Mean and standard deviation of AUROC over index rows grouped by the `by` fields."""
    groups: dict = {}
    for r in rows:
        if r.get("auroc") is None:
            continue
        groups.setdefault(tuple(r[f] for f in by), []).append(r["auroc"])

    def sort_key(t):
        return tuple((v is None, str(type(v)), v if v is not None else 0) for v in t)
    out = []
    for key in sorted(groups, key=sort_key):
        v = np.asarray(groups[key])
        out.append({**dict(zip(by, key)), "auroc_mean": float(v.mean()),
                    "auroc_std": float(v.std()), "runs": len(v)})
    return out


def varying_fields(rows: list[dict], exclude=("seed",)) -> list[str]:
    """The config fields that take more than one value among the rows (the grid's axes)."""
    fields = ["dataset", "oe", "normal_class", "method", "oe_size", "oe_classes", "blur_sigma",
              "seed", "epochs", "precision"]
    return [f for f in fields if f not in exclude and len({r[f] for r in rows}) > 1] or ["method"]


def format_table(summary: list[dict], fmt: str = "markdown") -> str:
    if not summary:
        return "(no finished runs match)"
    cols = list(summary[0])
    def cell(v):
        if isinstance(v, float):
            return f"{v:.4f}"
        return "all" if v is None else str(v)
    if fmt == "csv":
        import csv
        import io
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        for r in summary:
            w.writerow([cell(r[c]) for c in cols])
        return buf.getvalue().rstrip("\n")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r[c]) for c in cols) + " |" for r in summary]
    return "\n".join(lines)
