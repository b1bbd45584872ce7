"""Views of stored runs: the settings a group of runs shares (setting_of), a view of them for a
page (page, data, OE, classes, methods, seeds, budget, parameters), how to say their budget, and
the `deepad sweep` command that trains or finds every run of a view. The pages (which views they
can show without training) and the claims (where their evidence is) use them. No torch."""

from __future__ import annotations

import json
import os
import re


def _cfg(row: dict) -> dict:
    c = row.get("config")
    return json.loads(c) if isinstance(c, str) else (c or {})


def _pool(row) -> str:
    return row.get("oe_id") or row.get("oe")


def variant_of(row: dict) -> tuple:
    """How a run departs from the paper's OE batches: (OE images per step or None, whether its
    OE images went without augmentation). (None, False) for the paper's protocol."""
    return (row.get("oe_batch"), row.get("oe_augment") in (0, False))


def setting_of(row: dict) -> tuple:
    """What a run's setting is apart from the axes the claims vary (class, seed, method and its
    parameters, OE size, blur): data set, OE pool and its JPEG treatment, budget, OE batches."""
    c = _cfg(row)
    return (row["dataset"], row.get("dataset_id"), _pool(row) if row["oe"] != "none" else "none",
            row.get("oe_jpeg"), row.get("oe_classes"), row["epochs"], tuple(c.get("milestones", ())),
            row.get("lr"), row.get("batch_size"), row.get("weight_decay")) + variant_of(row)


def _seeds(rows) -> list:
    return sorted({r["seed"] for r in rows})


def _label(row) -> str:
    from .bundle import data_label
    if row["oe"] == "none":
        return "no OE"
    out = data_label(row["oe"])
    return out + (f", made like the JPEG copy (q{row['oe_jpeg']})" if row.get("oe_jpeg") else "")


def budget_text(rows: list[dict]) -> str:
    """'5 epochs, seeds 1-2, 3 classes; OE folder: tiny-imagenet-200-val/images (...)'."""
    if not rows:
        return ""
    epochs = sorted({r["epochs"] for r in rows})
    pools = list(dict.fromkeys(_label(r) for r in rows if r["oe"] != "none"))
    seeds = _seeds(rows)
    return (f"{'/'.join(map(str, epochs))} epochs (the paper: 200 on CIFAR-10, 150 on MNIST and "
            f"ImageNet), {len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({_span(seeds)}; the "
            f"paper: 10), {len({r['normal_class'] for r in rows})} nominal classes; OE "
            + ("; ".join(pools) if pools else "none"))


def _span(values) -> str:
    values = sorted(values)
    out, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ",".join(out)


def view_params(rows: list[dict]) -> dict:
    """Method parameters of the rows that differ from each method's quick defaults
    ({name: value}, merged over methods), so a view rebuilds the same configs."""
    from . import methods
    out = {}
    for r in rows:
        defaults = methods.get(r["method"], preset="quick").hp if r["method"] in methods.names() else {}
        for k, v in (_cfg(r).get("method_params") or {}).items():
            if defaults.get(k) != v:
                out[k] = v
    return out


def _view(page: str, rows: list[dict], **extra) -> dict:
    r0 = rows[0]
    return {"page": page, "dataset": r0["dataset"], "oe": r0["oe"],
            "classes": sorted({r["normal_class"] for r in rows}),
            "methods": list(dict.fromkeys(r["method"] for r in rows)),
            "seeds": _seeds(rows), "epochs": r0["epochs"], "oe_jpeg": r0.get("oe_jpeg"),
            "oe_sizes": sorted({r["oe_size"] for r in rows}, key=lambda v: (v is None, v or 0)),
            "blur_sigmas": sorted({r["blur_sigma"] for r in rows}), "params": view_params(rows),
            **extra}


def portable(name: str) -> str:
    """A data-set name as a command should give it: paths under the data root as
    $DEEPAD_DATA/..., and the shared Tiny-ImageNet pools by that form wherever they were."""
    if not name.startswith(("folder:", "tiny-images:")):
        return name
    kind, _, path = name.partition(":")
    from .paths import data_root
    root = os.path.abspath(str(data_root()))
    if path.startswith(root + os.sep):
        return f"{kind}:$DEEPAD_DATA/{os.path.relpath(path, root)}"
    for tail in ("tiny-imagenet-200-val/images", "tiny-imagenet-200-train-32/images.zip"):
        if path.rstrip("/").endswith(tail):
            return f"{kind}:$DEEPAD_DATA/{tail}"
    return name


def _quote(s: str) -> str:
    """Quoted for a shell only when needed, keeping $DEEPAD_DATA expandable."""
    return s if re.fullmatch(r"[\w@%+=:,./$-]+", s) else '"' + s.replace('"', '\\"') + '"'


def sweep_command(view: dict) -> str:
    """The `deepad sweep` command that trains (or finds) every run of a view."""
    sizes = view.get("oe_sizes") or [None]
    parts = ["python -m deepad sweep", f"--dataset {portable(view['dataset'])}",
             f"--normal-class {_span(view['classes']) if len(view['classes']) < 10 else 'all'}",
             f"--method {','.join(view['methods'])}"]
    if view.get("oe") and view["oe"] != "none":
        parts.append(f"--oe {_quote(portable(view['oe']))}")
        if sizes != [None]:
            parts.append("--oe-size " + ",".join("all" if s is None else str(s) for s in sizes))
        if view.get("blur_sigmas") and view["blur_sigmas"] != [0.0]:
            parts.append("--blur-sigma " + ",".join(f"{s:g}" for s in view["blur_sigmas"]))
        if view.get("oe_jpeg"):
            parts.append(f"--oe-jpeg {view['oe_jpeg']}")
    parts += [f"--seed {_span(view['seeds'])}", f"--epochs {view['epochs']}"]
    parts += [f"--param {k}={v:g}" for k, v in sorted((view.get("params") or {}).items())]
    return "DEEPAD_DATA=../shared/data " + " ".join(parts)


# --------------------------------------------------------------------------- views a page can show

OE_TRIO = ("bce", "hsc", "focal")

HEADLINE_DATASET = "cifar10"  # the paper's main table


def stored_views(rows: list[dict], page: str, limit: int = 12) -> list[dict]:
    """The views a page can show from stored (or opened) runs alone, the most settings first (seeds
    aside), the paper's CIFAR-10 before another data set with as many.

    page: 'oe-samples' (curves over the OE size: settings with at least two sizes), 'blur' (at
    least two sigmas at one OE size), 'table' (at least two nominal classes at one OE size and
    blur; unsupervised runs on the data set at the same budget join the OE methods) or 'explore'
    (one class and seed: the methods side by side). A view is claims._view's dict plus `runs`
    and `label` (a one-line description)."""
    from .bundle import data_label
    # the pages build the paper's OE batches: runs of the OE-batch studies are not theirs to show
    rows = [r for r in rows if r.get("auroc") is not None and variant_of(r) == (None, False)]
    groups: dict = {}
    for r in rows:
        s = setting_of(r)
        if page == "oe-samples" and r["oe"] != "none":
            key = s + (r["blur_sigma"],)
        elif page == "blur" and r["oe"] != "none":
            key = s + (r["oe_size"],)
        elif page == "table":
            key = s + (r["oe_size"], r["blur_sigma"]) if r["oe"] != "none" else None
        elif page == "explore":
            key = s + (r["oe_size"], r["blur_sigma"], r["normal_class"], r["seed"])
        else:
            key = None
        if key is not None:
            groups.setdefault(key, []).append(r)
    axis = {"oe-samples": "oe_size", "blur": "blur_sigma", "table": "normal_class"}.get(page)
    out = []
    for key, g in groups.items():
        if page in ("oe-samples", "blur"):
            # a curve per method and class needs two points of its own: e.g. the one-vs-rest
            # table's runs with all OE images do not make ten classes of a curve stored at three
            points: dict = {}
            for r in g:
                points.setdefault((r["method"], r["normal_class"]), set()).add(r[axis])
            g = [r for r in g if len(points[(r["method"], r["normal_class"])]) >= 2]
        if axis and len({r[axis] for r in g}) < 2:
            continue
        if page == "table":
            extra = [r for r in rows if r["dataset"] == g[0]["dataset"] and r["oe"] == "none"
                     and r["epochs"] == g[0]["epochs"] and r["method"] not in OE_TRIO]
            g = g + extra
        if page == "explore":
            extra = [r for r in rows if r["oe"] == "none" and r["dataset"] == g[0]["dataset"]
                     and r["normal_class"] == g[0]["normal_class"] and r["seed"] == g[0]["seed"]
                     and r["epochs"] == g[0]["epochs"]]
            g = g + extra
        v = _view(page, g)
        oe = "no OE" if v["oe"] == "none" else data_label(v["oe"]) + (
            f" (JPEG q{v['oe_jpeg']})" if v.get("oe_jpeg") else "")
        sizes = [x for x in v["oe_sizes"]]
        v["runs"] = len(g)
        v["cells"] = len({(r["method"], r["normal_class"], r["oe_size"], r["blur_sigma"]) for r in g})
        v["sources"] = sorted({r.get("source", "") for r in g} - {""})
        v["label"] = (f"{data_label(v['dataset'])}: {', '.join(v['methods'])}; classes "
                      f"{','.join(map(str, v['classes'])) if len(v['classes']) < 6 else str(len(v['classes']))}"
                      f"; OE {oe}"
                      + (f", {len(sizes)} sizes" if page == "oe-samples" else
                         f", {'all' if sizes[0] is None else sizes[0]} images")
                      + (f", blur {','.join(f'{b:g}' for b in v['blur_sigmas'])}" if page == "blur" else "")
                      + f"; {v['epochs']} epochs; seeds {','.join(map(str, v['seeds']))} ({len(g)} runs)")
        out.append(v)
    # most settings first, seeds aside (a second seed of a grid does not make it another
    # experiment), then the paper's headline data set, then most runs
    out.sort(key=lambda v: (-v["cells"], v["dataset"] != HEADLINE_DATASET, -v["runs"]))
    return out[:limit]
