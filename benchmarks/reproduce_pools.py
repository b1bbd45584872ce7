"""The two stages that test why the reproduction falls short of the paper (issue 18), part of
benchmarks/reproduce.py:

  pools       HSC and BCE on every CIFAR-10 class at the quick budget, seed 1, with the
              10,000-image Tiny-ImageNet validation pool (made like the JPEG copy) and with the
              100,000-image training pool at 32 px (already in the copy's codec): the table
              beside the paper's and the paired difference (100k - 10k) over classes.
  oe-enough   on the 100,000-image pool, classes 0-2, HSC and BCE: AUROC with 32 OE samples
              shown as the paper shows them (each image four times in a 128-image OE batch),
              once per step (32-image OE batches), and without OE augmentation, each against
              'all' under the same treatment; and the curve over 8 ... 512 samples.
"""

from __future__ import annotations

import numpy as np
from reproduce_plan import Plan, _classes, _grid, _methods, class_names, natural_pool, title
from reproduce_report import header, md_table, pct, signed

from deepad import analysis, claims
from deepad.data import sources

POOL_METHODS = ["hsc", "bce"]
ENOUGH_CLASSES = [0, 1, 2]
ENOUGH_AT = 32
CURVE_SIZES = [8, 128, 512]
# group -> (label, OE size, oe_batch, oe_augment), in the order the runs are trained
CONDITIONS = {
    "paper-32": ("32 samples, the paper's batches (each image 4x per OE batch)", 32, None, True),
    "paper-all": ("all samples, the paper's batches", None, None, True),
    "once-32": ("32 samples, once per step (OE batches of 32)", 32, 32, True),
    "plain-32": ("32 samples, OE not augmented", 32, None, False),
    "plain-all": ("all samples, OE not augmented", None, None, False),
}
BASE = {"paper-32": "paper-all", "once-32": "paper-all", "plain-32": "plain-all"}


def train_pool() -> str:
    return sources.canonical_name(
        f"folder:{sources.data_root() / 'tiny-imagenet-200-train-32' / 'images.zip'}")


def _seeds(a) -> list:
    """Seed 1 unless --seeds is given (these stages are one-seed studies)."""
    given = any(x == "--seeds" or x.startswith("--seeds=") for x in getattr(a, "argv", []))
    return a.seed_list if given else [1]


def plan_pools(a, dataset: str) -> Plan:
    seeds = _seeds(a)
    p = Plan("pools", dataset, _methods(a, POOL_METHODS), _classes(a, ["all"]), seeds)
    pools = {"10k": natural_pool(a), "100k": train_pool()}
    for label, oe in pools.items():
        p.groups[label] = _grid(dataset, oe, a, normal_class=p.classes, method=p.methods,
                                seed=seeds).configs(p.notes)
    p.extra["pools"] = pools
    return p


def plan_enough(a, dataset: str) -> Plan:
    seeds = _seeds(a)
    p = Plan("oe-enough", dataset, _methods(a, POOL_METHODS), _classes(a, ENOUGH_CLASSES), seeds)
    oe = train_pool()
    for name, (_, size, batch, augment) in CONDITIONS.items():
        p.groups[name] = _grid(dataset, oe, a, normal_class=p.classes, method=p.methods,
                               oe_size=["all" if size is None else size], seed=seeds,
                               oe_batch=batch, oe_augment=augment).configs(p.notes)
    p.groups["curve"] = _grid(dataset, oe, a, normal_class=p.classes, method=p.methods,
                              oe_size=CURVE_SIZES, seed=seeds).configs(p.notes)
    return p


def _aurocs(plan: Plan, got, group: str, method: str) -> dict:
    """{(class, seed): AUROC %} of one group's stored runs of `method`."""
    return {(c.normal_class, c.seed): 100 * got[c.key]["auroc"] for c in plan.groups.get(group, [])
            if c.method == method and got[c.key]["status"] == "done"}


def _paired(a: dict, b: dict) -> tuple[float, float, float, int]:
    """Means of a and b over their common pairs, the std of the differences, and the count."""
    both = sorted(set(a) & set(b))
    if not both:
        return float("nan"), float("nan"), float("nan"), 0
    d = [a[k] - b[k] for k in both]
    return (float(np.mean([a[k] for k in both])), float(np.mean([b[k] for k in both])),
            float(np.std(d, ddof=1)) if len(d) > 1 else float("nan"), len(both))


def report_pools(plan: Plan, a, got) -> tuple[str, dict]:
    out = header(plan, a, got, f"The OE pool: 10,000 vs 100,000 natural photos on {plan.dataset} "
                               f"(`--stage pools`)")
    names = class_names(plan.dataset)
    classes = sorted({c.normal_class for c in plan.configs})
    cells = {(g, m): _aurocs(plan, got, g, m) for g in ("10k", "100k") for m in plan.methods}
    paper = analysis.PAPER_CIFAR10 if plan.dataset == "cifar10" else {}
    idx = {c: i for i, c in enumerate(paper.get("classes", []))}
    head = ["class"]
    for m in plan.methods:
        head += [f"{title(m)} 10k", f"{title(m)} 100k", "Δ"] + (["paper"] if m in paper else [])
    rows = []
    for k in classes:
        row = [names[k]]
        for m in plan.methods:
            va = np.mean([v for (kk, _), v in cells[("10k", m)].items() if kk == k] or [np.nan])
            vb = np.mean([v for (kk, _), v in cells[("100k", m)].items() if kk == k] or [np.nan])
            row += [pct(va), pct(vb), signed(vb - va)]
            if m in paper:
                row.append(paper[m][idx[names[k]]] if names[k] in idx else "")
        rows.append(row)
    checks, mean_row, lines = {}, ["**mean**"], []
    for m in plan.methods:
        big, small, sd, n = _paired(cells[("100k", m)], cells[("10k", m)])
        both = sorted({k for k, _ in set(cells[("100k", m)]) & set(cells[("10k", m)])})
        # the paper's mean over the same classes (all ten once the grid is complete)
        # the paper's mean over the same classes: once all ten are stored, the published mean
        # (not the mean of the table's rounded per-class values)
        whole = len(both) == len(paper.get("classes", []))
        ref = (float(analysis.PAPER_CIFAR10_MEAN[m]) if whole and m in analysis.PAPER_CIFAR10_MEAN
               else float(np.mean([paper[m][idx[names[k]]] for k in both]))
               if m in paper and both and all(names[k] in idx for k in both) else float("nan"))
        mean_row += [f"**{pct(small)}**", f"**{pct(big)}**", f"**{signed(big - small)}**"]
        if m in paper:
            mean_row.append(f"**{pct(ref)}**")
        checks[m] = {"mean_10k": small, "mean_100k": big, "diff": big - small, "diff_sd": sd,
                     "classes": n, "paper_same_classes": ref}
        if n:
            gap = big - ref
            lines.append(f"- {title(m)}: 100k − 10k = {big - small:+.1f} points (std over classes "
                         f"{pct(sd)}, {n} of {len(classes)} classes paired); the 100k mean "
                         f"{big:.1f}" + (f" is {gap:+.1f} from the paper's {pct(ref)} over the same "
                                         f"classes, **{'within' if abs(gap) <= claims.TARGET_POINTS else 'not within'} "
                                         f"{claims.TARGET_POINTS:g} points**" if m in paper else "")
                         + ".")
    rows.append(mean_row)
    out += ["AUROC in %, per class (seed mean) and the mean over the classes stored on both pools "
            "(the paper's mean over those classes too, until all ten are stored); Δ = 100k − 10k. 10k: the Tiny-ImageNet validation photos, re-encoded like the JPEG "
            "copy; 100k: the Tiny-ImageNet training photos at 32 px, already in the copy's codec.",
            "", md_table(head, rows), "", "**The pool hypothesis** (computed from the runs above):",
            ""] + (lines or ["- No class has runs on both pools yet."])
    return "\n".join(out) + "\n", checks


def report_enough(plan: Plan, a, got) -> tuple[str, dict]:
    out = header(plan, a, got, "Why 32 OE samples are not enough here: how they are shown "
                               "(`--stage oe-enough`)")
    names = class_names(plan.dataset)
    classes = sorted({c.normal_class for c in plan.configs})
    head = ["condition"] + [x for m in plan.methods for x in (f"{title(m)}", "vs all")]
    rows, checks = [], {}
    for name, (label, *_rest) in CONDITIONS.items():
        row = [label]
        for m in plan.methods:
            mine = _aurocs(plan, got, name, m)
            base = BASE.get(name)
            if base:
                x, ref, _, n = _paired(mine, _aurocs(plan, got, base, m))
                row += [pct(x) + (f" ({n})" if n < len(mine) else ""), signed(x - ref)]
                checks.setdefault(name, {})[m] = {"mean": x, "all": ref, "gap": x - ref, "pairs": n,
                                                  "enough": bool(n) and claims.enough_check(x, ref)}
            else:
                row += [pct(np.mean(list(mine.values())) if mine else np.nan), ""]
        rows.append(row)
    for size in CURVE_SIZES:
        row = [f"{size} samples, the paper's batches"]
        for m in plan.methods:
            mine = {(c.normal_class, c.seed): 100 * got[c.key]["auroc"] for c in plan.groups["curve"]
                    if c.method == m and c.oe_size == size and got[c.key]["status"] == "done"}
            x, ref, _, n = _paired(mine, _aurocs(plan, got, "paper-all", m))
            row += [pct(x), signed(x - ref)]
        rows.append(row)
    out += [f"Classes {', '.join(names[k] for k in classes)}; 100,000-image pool; AUROC in %, mean "
            f"over the classes and seeds stored on both sides; 'vs all' = the gap to all samples "
            f"under the same treatment (paired). 32 samples are 'enough' when the gap is at most "
            f"{claims.ENOUGH_POINTS:g} points (claims.ENOUGH_POINTS).", "", md_table(head, rows), "",
            "**What makes 32 enough** (computed from the runs above):", ""]
    said = False
    for name in BASE:
        for m, c in checks.get(name, {}).items():
            if c["pairs"]:
                said = True
                out.append(f"- {title(m)}, {CONDITIONS[name][0]}: {c['mean']:.1f} vs {c['all']:.1f} "
                           f"({c['gap']:+.1f}): **{'enough' if c['enough'] else 'not enough'}**.")
    if not said:
        out.append("- No condition has runs at both 32 and all samples yet.")
    return "\n".join(out) + "\n", checks
