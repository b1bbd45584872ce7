"""The Runs page's browser, without Streamlit: stored runs as one frame of every config field
(RunConfig.to_dict()) and metric; filtered by any field's values, sorted, grouped by one or two
fields with the mean, the 95% confidence interval over seeds and the count of a metric; laid out
for parallel coordinates; and the Explore view that compares a selection of runs."""

from __future__ import annotations

import json
import math
from dataclasses import fields

import pandas as pd

from .analysis import CI_NAME, per_seed, seed_ci
from .config import RunConfig
from .views import _view, view_params

FIELDS = [f.name for f in fields(RunConfig)]
METRICS = {"auroc": "AUROC", "auprc": "AUPRC", "fpr_at_95_tpr": "FPR at 95% TPR",
           "train_seconds": "training time (s)"}
TITLES = {"dataset": "data set", "normal_class": "class", "oe": "OE", "oe_size": "OE images",
          "oe_classes": "OE classes", "blur_sigma": "blur σ", "oe_jpeg": "OE JPEG quality",
          "method_params": "method parameters", "batch_size": "batch size", "lr": "learning rate",
          "weight_decay": "weight decay", "dataset_id": "data set identity",
          "oe_id": "OE identity", "oe_batch": "OE images per step", "oe_augment": "OE augmented"}
_ALL = ("oe_size", "oe_classes")  # None means every image / class of the OE set


def title(field: str) -> str:
    """A field as people read it ('oe_size' -> 'OE images'); metrics by their names."""
    return TITLES.get(field) or METRICS.get(field) or field.replace("_", " ")


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def value_label(field: str, v) -> str:
    """A field's value as text: 'all' for an OE size or class count of None, 'none' for other
    None values, numbers by %g, lists and method parameters joined without commas (so that a
    filter 'field=label' survives a link)."""
    if isinstance(v, dict):
        return ";".join(f"{k}={x:g}" if isinstance(x, float) else f"{k}={x}"
                        for k, x in sorted(v.items())) or "none"
    if isinstance(v, (list, tuple)):
        return "/".join(map(str, v)) or "none"
    if _missing(v):
        return "all" if field in _ALL else "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _order(v):
    """A sort key for a column's values: numbers in order, then text, missing values last."""
    if _missing(v):
        return (2, 0, "")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, float(v), "")
    return (1, 0, str(v))


def config_of(row: dict) -> dict:
    """An index row's RunConfig.to_dict() (its `config`, JSON or a dict); fields its config
    predates get their defaults."""
    c = row.get("config")
    c = json.loads(c) if isinstance(c, str) else dict(c or {})
    return RunConfig.from_dict({**RunConfig().to_dict(), **c}).to_dict()


def browse_frame(rows: list[dict]) -> pd.DataFrame:
    """One row per run of index rows (RunStore.query, Results.rows: `key`, `config` as JSON or a
    dict, metrics): key, source, every RunConfig field (None kept; method_params and milestones
    as text, see value_label) and the metrics. Fields a run's config predates get their defaults."""
    out = []
    for r in rows:
        d = config_of(r)
        d["method_params"] = value_label("method_params", d["method_params"])
        d["milestones"] = value_label("milestones", d["milestones"])
        out.append({"key": r["key"], "source": r.get("source") or "local store", **d,
                    **{m: r.get(m) for m in METRICS}})
    cols = {c: pd.Series([o[c] for o in out], dtype=object) for c in ("key", "source", *FIELDS)}
    cols.update({m: pd.Series([o[m] for o in out], dtype=float) for m in METRICS})
    return pd.DataFrame(cols)  # object columns: integers stay integers beside None


def varying(frame: pd.DataFrame, candidates=FIELDS) -> list[str]:
    """The fields among `candidates` that take more than one value in the frame."""
    return [f for f in candidates if f in frame and frame[f].map(lambda v: value_label(f, v)).nunique() > 1]


def where_options(frame: pd.DataFrame, exclude=()) -> list[str]:
    """Every 'field=label' a filter can pick: each field's values in the frame, in order."""
    out = []
    for f in FIELDS:
        if f in exclude:
            continue
        values = sorted(set(frame[f].map(lambda v: (_order(v), value_label(f, v)))))
        out += [f"{f}={lab}" for _, lab in dict.fromkeys(values)]
    return list(dict.fromkeys(out))


def parse_where(items) -> dict:
    """['seed=1', 'seed=2', 'oe_size=all'] -> {'seed': {'1', '2'}, 'oe_size': {'all'}}; items
    without a known field are ignored."""
    out: dict = {}
    for it in items:
        f, sep, lab = str(it).partition("=")
        if sep and f in FIELDS:
            out.setdefault(f, set()).add(lab)
    return out


def filter_frame(frame: pd.DataFrame, where: dict) -> pd.DataFrame:
    """The runs whose value of every field in `where` ({field: labels}, see parse_where) has one
    of its labels: values of one field are alternatives, fields all apply."""
    keep = pd.Series(True, index=frame.index)
    for f, labels in where.items():
        keep &= frame[f].map(lambda v, f=f: value_label(f, v) in labels)
    return frame[keep]


def sort_frame(frame: pd.DataFrame, by: str, descending: bool = False) -> pd.DataFrame:
    """The frame sorted by a column (numbers in order, then text; missing values last either way)."""
    present = [i for i in frame.index if not _missing(frame.at[i, by])]
    absent = [i for i in frame.index if _missing(frame.at[i, by])]
    present.sort(key=lambda i: _order(frame.at[i, by]), reverse=descending)
    return frame.loc[present + absent]


def group_frame(frame: pd.DataFrame, by: list[str], metric: str = "auroc") -> pd.DataFrame:
    """One row per combination of the `by` fields' values (as value_label, in order): the mean of
    `metric` over seeds (each seed's runs averaged first), its 95% CI over seeds (seed_ci: empty
    with one seed), the number of seeds and of runs. Runs without the metric are left out."""
    name = METRICS.get(metric, metric)
    cols = [title(f) for f in by] + [f"{name} mean", f"{name} {CI_NAME}: low",
                                     f"{name} {CI_NAME}: high", "seeds", "runs"]
    groups: dict = {}
    for _, r in frame.iterrows():
        if _missing(r[metric]):
            continue
        key = tuple((_order(r[f]), value_label(f, r[f])) for f in by)
        groups.setdefault(key, []).append((r["seed"], float(r[metric])))
    out = []
    for key in sorted(groups):
        mean, low, high, n = seed_ci(per_seed(groups[key]).values())
        out.append([lab for _, lab in key] + [mean, low, high, n, len(groups[key])])
    return pd.DataFrame(out, columns=cols).astype({cols[-4]: float, cols[-3]: float})


def parcoords_dimensions(frame: pd.DataFrame, fields_: list[str], metric: str = "auroc") -> list[dict]:
    """Parallel-coordinates axes (plots.parcoords_figure) for the runs with the metric: one per
    field (numbers as they are; text, and numbers with missing values such as OE images 'all',
    as ordered categories with their labels as ticks), the metric last."""
    frame = frame[~frame[metric].map(_missing)]
    dims = []
    for f in fields_:
        col = list(frame[f])
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) and not _missing(v)
                      for v in col)
        if numeric:
            dims.append({"label": title(f), "values": [float(v) for v in col]})
            continue
        cats = list(dict.fromkeys(lab for _, lab in sorted((_order(v), value_label(f, v)) for v in col)))
        code = {lab: i for i, lab in enumerate(cats)}
        dims.append({"label": title(f), "values": [code[value_label(f, v)] for v in col],
                     "tickvals": list(range(len(cats))), "ticktext": cats,
                     "range": [-0.5, max(len(cats) - 0.5, 0.5)]})
    dims.append({"label": METRICS.get(metric, metric), "values": [float(v) for v in frame[metric]]})
    return dims


# fields an Explore comparison shares: every run, and the OE runs' OE setting
_SHARED = ("dataset", "dataset_id", "normal_class", "seed", "epochs", "batch_size", "lr",
           "weight_decay")
_SHARED_OE = ("oe", "oe_id", "oe_size", "oe_classes", "blur_sigma", "oe_jpeg", "oe_batch",
              "oe_augment")


def explore_view(rows: list[dict]) -> tuple[dict | None, str]:
    """The view (views._view, for ui.stored.view_link) in which Explore shows these runs (index
    rows) side by side: one nominal class, seed, budget and OE setting, one run per method.
    Returns (view, '') or (None, why they cannot be shown together)."""
    if not rows:
        return None, "no run selected"
    cfgs = [config_of(r) for r in rows]
    oe_cfgs = [c for c in cfgs if c["oe"] != "none"]
    differ = [f for f in _SHARED if len({value_label(f, c[f]) for c in cfgs}) > 1]
    differ += [f for f in _SHARED_OE if len({value_label(f, c[f]) for c in oe_cfgs}) > 1]
    if differ:
        return None, ("Explore shows one class, seed, budget and OE setting with several methods; "
                      "the selected runs differ in " + ", ".join(title(f) for f in differ) + ".")
    methods = [r["method"] for r in rows]
    twice = sorted({m for m in methods if methods.count(m) > 1})
    if twice:
        return None, ("Explore shows one run per method; the selection has more than one of "
                      + ", ".join(twice) + " (open or compare them here instead).")
    rows = [{**c, **r} for c, r in zip(cfgs, rows)]  # a bundle's rows may lack index columns
    v = _view("explore", [r for r in rows if r["oe"] != "none"] or rows)
    v["methods"] = list(dict.fromkeys(methods))
    v["params"] = view_params(rows)
    return v, ""
