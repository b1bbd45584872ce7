"""Mean and standard deviation of AUROC over stored runs, grouped (the `table` and `sweep`
commands), and for `table` the 95% confidence interval over seeds (analysis.seed_ci). Light: no
pandas (analysis imports it only when it builds a table), no torch."""

from __future__ import annotations

import numpy as np

CI_FIELDS = ("auroc_ci95_low", "auroc_ci95_high", "seeds")
CI_NOTE = ("auroc_ci95_low/high: the 95% confidence interval of the mean over seeds (Student t, "
           "n - 1 degrees of freedom, over each seed's mean of the group's runs); none with 1 seed. "
           "seeds: the number of seeds.")


def summarize(rows: list[dict], *, by: list[str], ci: bool = False) -> list[dict]:
    """Mean and standard deviation of AUROC over index rows grouped by the `by` fields (keys: the
    `by` fields, auroc_mean, auroc_std (population), runs). ci: also auroc_ci95_low and
    auroc_ci95_high (analysis.seed_ci over the per-seed means of the group: None with one seed)
    and seeds (how many)."""
    groups: dict = {}
    seeds: dict = {}
    for r in rows:
        if r.get("auroc") is None:
            continue
        groups.setdefault(tuple(r[f] for f in by), []).append(r["auroc"])
        seeds.setdefault(tuple(r[f] for f in by), []).append((r.get("seed"), r["auroc"]))

    def sort_key(t):
        return tuple((v is None, str(type(v)), v if v is not None else 0) for v in t)
    out = []
    for key in sorted(groups, key=sort_key):
        v = np.asarray(groups[key])
        out.append({**dict(zip(by, key)), "auroc_mean": float(v.mean()),
                    "auroc_std": float(v.std()), "runs": len(v)})
        if ci:
            from .analysis import per_seed, seed_ci
            _, low, high, n = seed_ci(per_seed(seeds[key]).values())
            out[-1].update(zip(CI_FIELDS, (low, high, n)))
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

    def cell(v, col=None):
        if isinstance(v, float):
            return f"{v:.4f}"
        if v is None and col in CI_FIELDS:
            return ""  # one seed: no interval
        return "all" if v is None else str(v)
    if fmt == "csv":
        import csv
        import io
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        for r in summary:
            w.writerow([cell(r[c], c) for c in cols])
        return buf.getvalue().rstrip("\n")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r[c], c) for c in cols) + " |" for r in summary]
    if "seeds" in cols:
        lines += ["", CI_NOTE]
    return "\n".join(lines)
