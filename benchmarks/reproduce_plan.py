"""The reproduction's plans: the stages' grids (constants, `Plan`, `plan_stage`), the rows of their
runs in the run store, the CSV of run keys, and the small helpers the reports and the plots share
(method titles, class names, the budget line). Part of benchmarks/reproduce.py."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from deepad.data import sources
from deepad.errors import DeepadError
from deepad.grids import Grid
from deepad.methods import info as method_info
from deepad.parsing import parse_floats, parse_ints
from deepad.store import RunStore

STAGES = ("table", "oe-sizes", "blur", "mnist", "full", "pools", "oe-enough")
ALL = STAGES[:5]  # `--stage all`: the paper's experiments; pools and oe-enough are named
TABLE_METHODS = ["hsc", "deep-sad", "bce", "focal", "deep-svdd"]
CURVE_METHODS = ["hsc", "bce"]
OE_SIZES = [2 ** i for i in range(11)] + ["all"]  # 1, 2, 4, ..., 1024, all
SIGMAS = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
BLUR_OE_SIZE = 128  # the paper's CIFAR-10 blur runs (paper-protocol.md 7.1)
CURVE_CLASSES = [0, 1, 2]
NOISE_OE = "noise-uniform"

# The checks and their thresholds are deepad.claims' (the dashboard's Claims page uses the same).
TARGET_METHODS = ("hsc", "bce")   # means within claims.TARGET_POINTS of the paper's (95.9 / 96.1)
ENOUGH_AT = 32                    # 'about 32 OE samples are enough' (claims.enough_check)

CURVE_CSV = "reproduce_full_curve.csv"
CSV_COLUMNS = ["run_key", "dataset", "method", "normal_class", "oe", "oe_size", "blur_sigma", "seed",
               "epochs", "auroc", "train_seconds", "status"]


# ------------------------------------------------------------------ plans

@dataclass
class Plan:
    """One stage: its configs, grouped (e.g. by OE pool), and what the report needs to know."""

    stage: str
    dataset: str
    methods: list
    classes: list
    seeds: list
    groups: dict = field(default_factory=dict)  # label -> [RunConfig]
    notes: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def configs(self):
        return list({c.key: c for cs in self.groups.values() for c in cs}.values())


def natural_pool(a) -> str:
    if a.oe:
        return sources.canonical_name(a.oe)
    return sources.canonical_name(f"folder:{sources.data_root() / 'tiny-imagenet-200-val' / 'images'}")


def pool_label(oe: str) -> str:
    if oe == "none":
        return "none"
    if oe.rstrip("/").endswith("tiny-imagenet-200-val/images"):
        return "Tiny-ImageNet-200 val (10,000 photos)"
    return oe


def _methods(a, default):
    if a.methods is None:
        return list(default)
    out = [m.strip() for m in a.methods.split(",") if m.strip()]
    if not out:
        raise DeepadError("--methods is empty; give e.g. hsc,bce")
    return list(dict.fromkeys(out))


def _classes(a, default):
    return default if a.classes is None else parse_ints(a.classes, name="classes", allow_all=True)


def oe_jpeg_for(a, dataset: str, oe: str) -> int | None:
    """The OE JPEG quality of a stage's runs: --oe-jpeg; auto = the quality the nominal data are
    stored at (sources.jpeg_quality: 75 for the cifar10-jpg copy, none for lossless data such as
    MNIST or the CIFAR-10 pickles), for natural (not noise) OE."""
    if oe == "none" or oe.startswith("noise"):
        return None
    return sources.oe_jpeg_setting(a.oe_jpeg, dataset, oe)


def _params(a, methods) -> dict:
    """The --param values that some of these methods take (a stage without such a method, e.g.
    `full` with HSC only, ignores the others; main checks that every name fits some method)."""
    from deepad.methods import REGISTRY
    return {k: v for k, v in a.method_params.items()
            if any(k in REGISTRY[m].params for m in methods if m in REGISTRY)}


def _grid(dataset, oe, a, **kw):
    return Grid(dataset=dataset, oe=oe, epochs=a.epochs_int, method_params=_params(a, kw["method"]),
                oe_jpeg=oe_jpeg_for(a, dataset, oe), **kw)


def plan_stage(stage: str, a) -> Plan:
    cifar = a.dataset or "cifar10"
    seeds = a.seed_list
    oe = natural_pool(a)
    if stage == "table":
        p = Plan(stage, cifar, _methods(a, TABLE_METHODS), _classes(a, ["all"]), seeds)
        p.groups[oe] = _grid(cifar, oe, a, normal_class=p.classes, method=p.methods,
                             seed=seeds).configs(p.notes)
    elif stage in ("oe-sizes", "blur"):
        p = Plan(stage, cifar, _methods(a, CURVE_METHODS), _classes(a, CURVE_CLASSES), seeds)
        if stage == "oe-sizes":
            sizes = OE_SIZES if a.oe_sizes is None else parse_ints(a.oe_sizes, name="oe-sizes",
                                                                    allow_all=True)
            p.groups[oe] = _grid(cifar, oe, a, normal_class=p.classes, method=p.methods,
                                 oe_size=sizes, seed=seeds).configs(p.notes)
        else:
            sigmas = SIGMAS if a.sigmas is None else parse_floats(a.sigmas, name="sigmas")
            p.groups[oe] = _grid(cifar, oe, a, normal_class=p.classes, method=p.methods,
                                 oe_size=[BLUR_OE_SIZE], blur_sigma=sigmas, seed=seeds).configs(p.notes)
    elif stage == "mnist":
        mnist = a.dataset or "mnist"
        p = Plan(stage, mnist, _methods(a, TABLE_METHODS), _classes(a, ["all"]), seeds)
        for pool in (oe, NOISE_OE):
            p.groups[pool] = _grid(mnist, pool, a, normal_class=p.classes, method=p.methods,
                                   seed=seeds).configs(p.notes)
    elif stage == "full":
        k = parse_ints(a.full_class, name="full-class")
        if len(k) != 1:
            raise DeepadError("--full-class takes one class, e.g. 0")
        p = Plan(stage, cifar, _methods(a, ["hsc"]), k, seeds[:1])
        p.groups["paper"] = Grid(dataset=cifar, oe=oe, normal_class=k, method=p.methods,
                                 seed=seeds[:1], preset="paper", method_params=_params(a, p.methods),
                                 oe_jpeg=oe_jpeg_for(a, cifar, oe)).configs(p.notes)
        p.groups["quick"] = _grid(cifar, oe, a, normal_class=k, method=p.methods,
                                  seed=seeds[:1]).configs(p.notes)
    else:  # pragma: no cover - checked in main
        raise DeepadError(f"unknown stage '{stage}'")
    return p


# ------------------------------------------------------------------ rows from the store

def store_rows(store: RunStore, configs) -> dict:
    """{key: {'status': done|failed|missing, 'auroc', 'train_seconds'}} for the configs."""
    index = {}
    if store.db_path.exists() or store.runs.exists():
        index = {r["key"]: r for r in store.query(status=None)}
    out = {}
    for c in configs:
        r = index.get(c.key)
        if c.key in store and r is not None and r["status"] == "done" and r["auroc"] is not None:
            out[c.key] = {"status": "done", "auroc": r["auroc"], "train_seconds": r["train_seconds"]}
        elif c.key in store:  # stored, not (yet) in the index: read the run itself
            run = store.get(c.key, repair=False)
            if run is not None:
                out[c.key] = {"status": "done", "auroc": run.metrics["auroc"],
                              "train_seconds": run.metrics.get("train_seconds")}
            else:
                out[c.key] = {"status": "missing", "auroc": None, "train_seconds": None}
        elif r is not None and r["status"] == "failed":
            out[c.key] = {"status": "failed", "auroc": None, "train_seconds": None,
                          "error": r.get("error")}
        else:
            out[c.key] = {"status": "missing", "auroc": None, "train_seconds": None}
    return out


def index_rows(configs, got: dict) -> list[dict]:
    """Index-row-like dicts (as analysis.* takes them) of the stored runs among the configs."""
    out = []
    for c in configs:
        g = got[c.key]
        if g["status"] == "done":
            out.append({**c.to_dict(), "key": c.key, "auroc": g["auroc"],
                        "train_seconds": g["train_seconds"]})
    return out


def write_csv(path: Path, configs, got: dict) -> None:
    """One row per run; two more columns (oe_batch, oe_augment) where some run departs from the
    paper's OE batches (the oe-enough stage)."""
    knobs = any(c.oe_batch is not None or not c.oe_augment for c in configs)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS + (["oe_batch", "oe_augment"] if knobs else []))
        for c in configs:
            g = got[c.key]
            w.writerow([c.key, c.dataset, c.method, c.normal_class, c.oe,
                        "all" if c.oe_size is None else c.oe_size, f"{c.blur_sigma:g}", c.seed,
                        c.epochs, "" if g["auroc"] is None else f"{g['auroc']:.6f}",
                        "" if g["train_seconds"] is None else f"{g['train_seconds']:.1f}",
                        g["status"]] + ([c.oe_batch or "", int(c.oe_augment)] if knobs else []))


# ------------------------------------------------------------------ helpers the reports share

def title(m: str) -> str:
    try:
        return method_info(m).title
    except Exception:  # noqa: BLE001 - an unknown name is shown as given
        return m


def budget_text(plan: Plan) -> str:
    """The epochs of the stage's runs, per method, as trained."""
    per = {}
    for label, cs in plan.groups.items():
        for c in cs:
            desc = f"{c.epochs} epoch{'s' if c.epochs != 1 else ''}"
            if dict(c.method_params).get("pretrain_epochs") and dict(c.method_params).get("pretrain"):
                pe = dict(c.method_params)["pretrain_epochs"]
                desc += f" + {'the paper' + chr(39) + 's' if pe < 0 else int(pe)} autoencoder pretraining epochs"
            if c.milestones:
                desc += f" (LR x0.1 at {', '.join(map(str, c.milestones))})"
            key = (label if plan.stage == "full" else None, c.method)
            per.setdefault(key, set()).add(desc)
    parts = []
    for (label, m), descs in per.items():
        parts.append(f"{title(m)}{' (' + label + ')' if label else ''}: {'; '.join(sorted(descs))}")
    return "; ".join(parts)


def status_counts(configs, got) -> dict:
    counts = {"done": 0, "missing": 0, "failed": 0}
    for c in configs:
        counts[got[c.key]["status"]] += 1
    return counts


def class_names(dataset: str) -> list[str]:
    return list(sources.get(dataset).classes())
