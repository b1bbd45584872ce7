"""The paper's claims, checked against the runs there are.

Each claim of Ruff et al. (2020) (paper-protocol.md section 9.0) is evaluated from index rows of
stored or opened runs (Results.rows(), RunStore.query()): the runs that test it are found by
their settings, aggregated as the paper does (per class the mean over seeds, then the mean over
classes; comparisons paired over the (class, seed) pairs stored on both sides), and a verdict is
computed: "holds", "does not hold", or "not enough runs". The thresholds are stated in every
verdict's criterion. `benchmarks/reproduce.py`, the dashboard's pages and its claims page use
these functions, so they always agree.

Nothing here trains or imports torch.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

HOLDS, FAILS, UNKNOWN = "holds", "does not hold", "not enough runs"

# Thresholds, in AUROC points (percent).
SAME_POINTS = 2.0      # 'about equal' (the seed-to-seed spread of a mean here is 0.3-1.4)
FAR_POINTS = 10.0      # '>>': Deep SVDD at least this far below Deep SAD
ENOUGH_POINTS = 3.0    # 'k OE samples are enough': AUROC(k) within this of AUROC(all)
TARGET_POINTS = 3.0    # the published means reproduced within this
DESTROY_POINTS = 10.0  # blur 'destroys the benefit': AUROC falls at least this much
ABSENT_POINTS = 1.0    # 'no advantage on MNIST': BCE - HSC at most this

OE_TRIO = ("bce", "hsc", "focal")
UNSUPERVISED = ("deep-svdd", "ocsvm", "geo", "itae", "geo-plus", "ae")
RESOLUTION = {"mnist": 28, "cifar": 32, "imagenet": 224}
TITLES = {"bce": "BCE", "hsc": "HSC", "focal": "focal", "deep-sad": "Deep SAD",
          "deep-svdd": "Deep SVDD", "ocsvm": "kernel SVDD", "geo": "Geo", "itae": "ITAE",
          "geo-plus": "Geo+", "ae": "AE"}

# paper-protocol.md section 9.0
PAPER_MEANS = {"deep-sad": 94.5, "hsc": 95.9, "focal": 95.8, "bce": 96.1, "deep-svdd": 64.8,
               "ocsvm": 58.8, "geo": 86.0, "itae": 86.6, "geo-plus": 90.1}


@dataclass
class Verdict:
    """One claim with this lab's evidence."""

    id: str
    claim: str
    paper: str
    criterion: str
    verdict: str = UNKNOWN
    evidence: str = ""
    details: list = field(default_factory=list)
    budget: str = ""
    runs: int = 0
    provisional: bool = False
    view: dict | None = None     # {'page': ..., choices}: where the dashboard shows the evidence
    command: str = ""            # what reproduces it
    numbers: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(vars(self))


# --------------------------------------------------------------------------- helpers on rows

def _cfg(row: dict) -> dict:
    c = row.get("config")
    return json.loads(c) if isinstance(c, str) else (c or {})


def profile_of(dataset: str) -> str | None:
    """'mnist' | 'cifar' | 'imagenet' for a data set name, without opening data (registry
    names; folders by what is known of them), None when unknown."""
    known = {"mnist": "mnist", "fashion-mnist": "mnist", "emnist-letters": "mnist",
             "cifar10": "cifar", "cifar100": "cifar", "svhn": "cifar", "digits": "tiny"}
    if dataset in known:
        return known[dataset]
    from .data import identity
    meta = identity.learned(dataset) or {}
    if meta.get("profile"):
        return meta["profile"]
    try:
        from .config import profile
        return profile(dataset)
    except Exception:  # noqa: BLE001 - not here, nothing known
        return None


def _pool(row) -> str:
    return row.get("oe_id") or row.get("oe")


def setting_of(row: dict) -> tuple:
    """What a run's setting is apart from the axes the claims vary (class, seed, method and its
    parameters, OE size, blur): data set, OE pool and its JPEG treatment, budget."""
    c = _cfg(row)
    return (row["dataset"], row.get("dataset_id"), _pool(row) if row["oe"] != "none" else "none",
            row.get("oe_jpeg"), row.get("oe_classes"), row["epochs"], tuple(c.get("milestones", ())),
            row.get("lr"), row.get("batch_size"), row.get("weight_decay"))


def _pct(v) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.1f}"


def class_means(rows: list[dict], method: str, classes=None) -> dict:
    """{class: mean AUROC % over seeds} of a method's rows."""
    per: dict = {}
    for r in rows:
        if r["method"] == method and r.get("auroc") is not None and \
                (classes is None or r["normal_class"] in classes):
            per.setdefault(r["normal_class"], []).append(100 * r["auroc"])
    return {k: float(np.mean(v)) for k, v in per.items()}


def paired(rows: list[dict], method: str, key_a, key_b) -> tuple[float, float, int]:
    """Mean AUROC (%) of `method` among the rows selected by key_a(row) and key_b(row), over the
    (class, seed) pairs present on both sides, and the number of pairs."""
    a, b = {}, {}
    for r in rows:
        if r["method"] != method or r.get("auroc") is None:
            continue
        pair = (r["normal_class"], r["seed"])
        if key_a(r):
            a[pair] = 100 * r["auroc"]
        if key_b(r):
            b[pair] = 100 * r["auroc"]
    both = sorted(set(a) & set(b))
    if not both:
        return float("nan"), float("nan"), 0
    return float(np.mean([a[p] for p in both])), float(np.mean([b[p] for p in both])), len(both)


def _groups(rows, keep) -> dict:
    out: dict = {}
    for r in rows:
        if r.get("auroc") is not None and keep(r):
            out.setdefault(setting_of(r), []).append(r)
    return out


def _best(groups: dict, score) -> tuple | None:
    """The group with the highest score (ties: more epochs)."""
    if not groups:
        return None
    return max(groups.items(), key=lambda kv: (score(kv[1]), kv[0][5]))


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


# --------------------------------------------------------------------------- the checks

def ordering_check(means: dict) -> tuple[str, list[str], list[str]]:
    """'BCE ≈ HSC ≈ focal > Deep SAD >> Deep SVDD and the unsupervised baselines' on method
    means (AUROC %): the trio within SAME_POINTS of each other, Deep SAD below all three, Deep
    SVDD at least FAR_POINTS below Deep SAD, every other unsupervised method below Deep SAD.
    Parts whose methods have no mean are not evaluated. Returns (verdict, parts, the methods
    whose parts were not evaluated); the verdict is HOLDS only when every part was evaluated."""
    have = {m: v for m, v in means.items() if v is not None and math.isfinite(v)}
    parts, ok, missing = [], True, []
    trio = {m: have[m] for m in OE_TRIO if m in have}
    if len(trio) >= 2:
        spread = max(trio.values()) - min(trio.values())
        same = spread <= SAME_POINTS
        ok &= same
        parts.append(" ≈ ".join(f"{TITLES[m]} {_pct(v)}" for m, v in trio.items())
                     + f" (within {SAME_POINTS:g} points): {'yes' if same else 'no'}, spread "
                       f"{spread:.1f}")
    missing += [TITLES[m] for m in OE_TRIO if m not in trio]
    if "deep-sad" in have and trio:
        below = have["deep-sad"] < min(trio.values())
        ok &= below
        parts.append(f"Deep SAD {_pct(have['deep-sad'])} below "
                     f"{'all three' if len(trio) == 3 else ', '.join(TITLES[m] for m in trio)}: "
                     f"{'yes' if below else 'no'}")
    elif "deep-sad" not in have:
        missing.append("Deep SAD")
        parts.append("Deep SAD below the others: not evaluated (no Deep SAD runs)")
    ref = have.get("deep-sad", min(trio.values()) if trio else None)
    if "deep-svdd" in have and ref is not None:
        gap = ref - have["deep-svdd"]
        far = gap >= FAR_POINTS
        ok &= far
        parts.append(f"Deep SVDD {_pct(have['deep-svdd'])} far below (at least {FAR_POINTS:g} "
                     f"points under {'Deep SAD' if 'deep-sad' in have else 'the OE methods'}): "
                     f"{'yes' if far else 'no'} ({gap:.1f})")
    elif "deep-svdd" not in have:
        missing.append("Deep SVDD")
        parts.append("Deep SVDD far below: not evaluated (no Deep SVDD runs)")
    for m in UNSUPERVISED:
        if m != "deep-svdd" and m in have and ref is not None:
            low = have[m] < ref
            ok &= low
            parts.append(f"{TITLES.get(m, m)} {_pct(have[m])} below "
                         f"{'Deep SAD' if 'deep-sad' in have else 'the OE methods'}: "
                         f"{'yes' if low else 'no'}")
    verdict = FAILS if not ok else (HOLDS if not missing else UNKNOWN)
    return verdict, parts, missing


def published_check(means: dict) -> tuple[bool, dict]:
    """HSC and BCE means (AUROC %) within TARGET_POINTS of the paper's: (all within, {method:
    mean - paper's}); only the methods given are compared."""
    gaps = {m: means[m] - PAPER_MEANS[m] for m in ("hsc", "bce")
            if m in means and means[m] is not None and math.isfinite(means[m])}
    return bool(gaps) and all(abs(g) <= TARGET_POINTS for g in gaps.values()), gaps


def enough_check(at_mean: float, all_mean: float) -> bool:
    """'k samples are enough': AUROC with k at most ENOUGH_POINTS under AUROC with all."""
    return at_mean >= all_mean - ENOUGH_POINTS


def blur_check(unblurred: float, blurred: float) -> bool:
    """'Blur destroys the benefit': AUROC at the largest blur at least DESTROY_POINTS lower."""
    return unblurred - blurred >= DESTROY_POINTS


def resolution_check(gaps: dict) -> bool:
    """BCE - HSC per profile ('mnist', 'cifar', 'imagenet'): at most ABSENT_POINTS on MNIST and
    not falling with resolution among the profiles given."""
    order = [gaps[p] for p in ("mnist", "cifar", "imagenet") if p in gaps]
    return gaps.get("mnist", 0.0) <= ABSENT_POINTS and all(b >= a for a, b in zip(order, order[1:]))


def same_check(gap: float) -> bool:
    """'Perform equally': |BCE - HSC| at most SAME_POINTS."""
    return abs(gap) <= SAME_POINTS


def cifar_table(rows: list[dict]) -> tuple[dict, list[dict], list[dict]]:
    """The most complete CIFAR-10 one-vs-rest setting among the rows: ({method: (mean %, classes)},
    OE-method rows, unsupervised rows). OE methods at all OE images and no blur; the unsupervised
    methods at the same budget when stored, else at any."""
    cifar = [r for r in rows if r["dataset"] == "cifar10" and r.get("auroc") is not None]
    oe = _groups(cifar, lambda r: r["oe"] != "none" and r["oe_size"] is None and not r["blur_sigma"]
                 and r["method"] in OE_TRIO + ("deep-sad",))
    best = _best(oe, lambda g: len({(r["method"], r["normal_class"]) for r in g}))
    oe_rows = best[1] if best else []
    epochs = oe_rows[0]["epochs"] if oe_rows else None
    un = [r for r in cifar if r["method"] in UNSUPERVISED and r["oe"] == "none"]
    same = [r for r in un if r["epochs"] == epochs]
    un_rows = same if same else un
    means = {}
    for m in dict.fromkeys([r["method"] for r in oe_rows + un_rows]):
        src = oe_rows if m in OE_TRIO + ("deep-sad",) else un_rows
        cm = class_means(src, m)
        means[m] = (float(np.mean(list(cm.values()))) if cm else float("nan"), len(cm))
    return means, oe_rows, un_rows


def _complete(means: dict, methods, n=10) -> bool:
    return all(m in means and means[m][1] >= n for m in methods)


def claim_ordering(rows) -> Verdict:
    v = Verdict("ordering", "On CIFAR-10, BCE ≈ HSC ≈ focal > Deep SAD >> Deep SVDD and the "
                "unsupervised baselines.",
                "Mean AUROC over the 10 classes: BCE 96.1, HSC 95.9, focal 95.8, Deep SAD 94.5, "
                "Geo+ 90.1, ITAE 86.6, Geo 86.0, Deep SVDD 64.8, kernel SVDD 58.8.",
                f"BCE, HSC and focal within {SAME_POINTS:g} points of each other; Deep SAD below "
                f"all three; Deep SVDD at least {FAR_POINTS:g} points below Deep SAD; every other "
                f"unsupervised baseline that was run below Deep SAD. Means over all 10 classes.")
    means, oe_rows, un_rows = cifar_table(rows)
    used = oe_rows + un_rows
    v.runs = len(used)
    v.numbers = {m: mv for m, (mv, _) in means.items()}
    if not oe_rows:
        v.evidence = "No CIFAR-10 runs of BCE, HSC, focal and Deep SAD with all OE images."
    verdict, parts, _ = ordering_check({m: mv for m, (mv, n) in means.items()})
    v.details = parts
    complete = _complete(means, OE_TRIO + ("deep-sad", "deep-svdd"))
    v.verdict = verdict if complete else UNKNOWN
    if means:
        v.evidence = "Mean AUROC: " + ", ".join(
            f"{m} {_pct(mv)}" + (f" ({n}/10 classes)" if n < 10 else "")
            for m, (mv, n) in sorted(means.items(), key=lambda kv: -kv[1][0]
                                     if math.isfinite(kv[1][0]) else 0)) + "."
        if not complete:
            v.evidence += " Not every method has runs on all 10 classes."
    if used:
        v.budget = budget_text(used)
        v.view = _view("table", used, oe_sizes=[None])
        v.command = sweep_command({**v.view, "oe_sizes": [None]})
    return v


def claim_published(rows) -> Verdict:
    v = Verdict("published", "The OE methods reach the paper's CIFAR-10 numbers (HSC 95.9, BCE "
                "96.1 mean AUROC).", "HSC 95.9 and BCE 96.1 mean AUROC over the 10 classes, 200 "
                "epochs, 10 seeds, 80 Million Tiny Images as OE.",
                f"HSC and BCE means within {TARGET_POINTS:g} points of 95.9 and 96.1, on all 10 "
                f"classes.")
    means, oe_rows, _ = cifar_table(rows)
    sel = [r for r in oe_rows if r["method"] in ("hsc", "bce")]
    v.runs = len(sel)
    if not _complete(means, ("hsc", "bce")):
        v.evidence = "HSC and BCE need runs on all 10 CIFAR-10 classes."
    else:
        ok, gaps = published_check({m: means[m][0] for m in ("hsc", "bce")})
        v.verdict = HOLDS if ok else FAILS
        v.evidence = "; ".join(f"{m.upper()} {_pct(means[m][0])} vs {PAPER_MEANS[m]} ({g:+.1f})"
                               for m, g in gaps.items()) + "."
        v.numbers = {m: means[m][0] for m in ("hsc", "bce")}
    if sel:
        v.budget = budget_text(sel)
        v.view = _view("table", sel, oe_sizes=[None])
        v.command = sweep_command(v.view)
    return v


def oe_size_setting(rows, profiles=("cifar",), at=32, min_sizes=3) -> tuple[list, dict]:
    """The OE-size curve that tests 'about `at` OE samples are enough': the setting with the
    most HSC/BCE runs at sizes around `at` and at 'all'. Returns (rows, {method: (mean at x,
    mean at all, pairs, x)})."""
    cand = [r for r in rows if r.get("auroc") is not None and r["oe"] != "none"
            and not r["blur_sigma"] and r["method"] in ("hsc", "bce")
            and profile_of(r["dataset"]) in profiles]
    groups = _groups(cand, lambda r: True)
    scored = {k: g for k, g in groups.items()
              if len({r["oe_size"] for r in g}) >= min_sizes and any(r["oe_size"] is None for r in g)}
    best = _best(scored, lambda g: len(g))
    if not best:
        return [], {}
    g = best[1]
    out = {}
    for m in ("hsc", "bce"):
        sizes = sorted({r["oe_size"] for r in g if r["method"] == m and r["oe_size"]})
        if not sizes:
            continue
        x = min(sizes, key=lambda s: (abs(math.log2(s / at)), -s))
        a, b, n = paired(g, m, lambda r: r["oe_size"] == x, lambda r: r["oe_size"] is None)
        out[m] = (a, b, n, x)
    return g, out


def _claim_enough(rows, vid, dataset_text, at, profiles, paper, min_sizes=3) -> Verdict:
    v = Verdict(vid, f"About {at} OE samples are enough on {dataset_text}.", paper,
                f"For HSC and BCE, AUROC with {at} OE images at most {ENOUGH_POINTS:g} points under "
                f"AUROC with the whole OE pool (paired over the classes and seeds run at both).")
    g, res = oe_size_setting(rows, profiles, at, min_sizes)
    v.runs = len(g)
    if not res:
        v.evidence = (f"No OE-size curve on {dataset_text} with 'all' and sizes near {at} is "
                      f"stored or opened.")
        return v
    parts, oks = [], []
    for m, (a, b, n, x) in res.items():
        if not n:
            parts.append(f"{m.upper()}: no class and seed at both {x} and all")
            continue
        d = a - b
        oks.append(enough_check(a, b))
        parts.append(f"{m.upper()} {_pct(a)} with {x} vs {_pct(b)} with all ({d:+.1f}, {n} "
                     f"class-seed pairs)")
    v.details = parts
    v.evidence = "; ".join(parts) + "."
    v.numbers = {m: {"at": x, "at_mean": a, "all_mean": b, "pairs": n} for m, (a, b, n, x) in res.items()}
    if len(oks) == 2:
        v.verdict = HOLDS if all(oks) else FAILS
    v.budget = budget_text(g)
    v.view = _view("oe-samples", g)
    v.command = sweep_command(v.view)
    return v


def enough_in(rows, dataset: str, at: int) -> Verdict:
    """The 'about `at` OE samples are enough' check on the runs of one grid (a page's)."""
    return _claim_enough(rows, "grid", dataset, at, (profile_of(dataset),),
                         "about 32 OE samples are enough on CIFAR-10, 64 on ImageNet-30",
                         min_sizes=2)


def claim_enough_cifar(rows) -> Verdict:
    return _claim_enough(rows, "oe-32", "CIFAR-10", 32, ("cifar",),
                         "Mean AUROC over 10 classes x 10 seeds as the number of 80 Million Tiny "
                         "Images OE samples grows: about 32 are already enough.")


def claim_enough_imagenet(rows) -> Verdict:
    return _claim_enough(rows, "oe-64", "ImageNet-30", 64, ("imagenet",),
                         "30 classes x 5 seeds, ImageNet-22K as OE: about 64 samples are "
                         "enough, and beat the previous state of the art.")


def claim_blur(rows) -> Verdict:
    v = Verdict("blur", "Blurring the OE images destroys the benefit of OE (multiscale structure "
                "is what makes OE informative).",
                "AUROC drops abruptly as the OE images are blurred with a growing Gaussian "
                "(sigma 1 ... 32; 128 OE images on CIFAR-10, 64 on ImageNet-30).",
                f"For HSC and BCE, AUROC at the largest sigma at least {DESTROY_POINTS:g} points "
                f"below AUROC without blur (paired over classes and seeds).")
    cand = [r for r in rows if r.get("auroc") is not None and r["oe"] != "none"
            and r["method"] in ("hsc", "bce")]
    groups = _groups(cand, lambda r: True)
    # the same OE size on both sides: group further by size
    sized: dict = {}
    for k, g in groups.items():
        for r in g:
            sized.setdefault((k, r["oe_size"]), []).append(r)
    scored = {k: g for k, g in sized.items() if len({r["blur_sigma"] for r in g}) >= 2
              and any(not r["blur_sigma"] for r in g)}
    best = _best({k[0] + (str(k[1]),): g for k, g in scored.items()}, len)
    if not best:
        v.evidence = "No runs with blurred OE and the same OE without blur are stored or opened."
        return v
    g = best[1]
    top = max(r["blur_sigma"] for r in g)
    oks, parts = [], []
    for m in ("hsc", "bce"):
        a, b, n = paired(g, m, lambda r: not r["blur_sigma"], lambda r: r["blur_sigma"] == top)
        if not n:
            continue
        one = [r["blur_sigma"] for r in g if r["blur_sigma"]]
        first = min(one) if one else None
        a1, b1, n1 = paired(g, m, lambda r: not r["blur_sigma"], lambda r: r["blur_sigma"] == first)
        oks.append(blur_check(a, b))
        parts.append(f"{m.upper()} {_pct(a)} without blur, {_pct(b1)} at sigma {first:g}, "
                     f"{_pct(b)} at sigma {top:g} ({b - a:+.1f})")
        v.numbers[m] = {"sigma0": a, "first": b1, "first_sigma": first, "last": b, "last_sigma": top}
    v.runs = len(g)
    v.details = parts
    v.evidence = "; ".join(parts) + "."
    if len(oks) == 2:
        v.verdict = HOLDS if all(oks) else FAILS
    v.budget = budget_text(g)
    v.view = _view("blur", g)
    v.command = sweep_command(v.view)
    return v


def _gap(rows, profile) -> tuple[float, int, list]:
    """BCE - HSC (points) at all OE images without blur, paired, in the most complete setting
    on data sets of `profile` (natural-image OE preferred over generated noise)."""
    cand = [r for r in rows if r.get("auroc") is not None and r["oe"] != "none"
            and r["oe_size"] is None and not r["blur_sigma"] and r["method"] in ("hsc", "bce")
            and profile_of(r["dataset"]) == profile]
    groups = _groups(cand, lambda r: True)
    best = _best(groups, lambda g: (not g[0]["oe"].startswith("noise"), len(g)))
    if not best:
        return float("nan"), 0, []
    g = best[1]
    a = {(r["normal_class"], r["seed"]): 100 * r["auroc"] for r in g if r["method"] == "hsc"}
    b = {(r["normal_class"], r["seed"]): 100 * r["auroc"] for r in g if r["method"] == "bce"}
    both = sorted(set(a) & set(b))
    if not both:
        return float("nan"), 0, g
    return float(np.mean([b[p] - a[p] for p in both])), len(both), g


def claim_resolution(rows) -> Verdict:
    v = Verdict("resolution", "The advantage of supervised OE (BCE) over unsupervised OE (HSC) "
                "grows with image resolution, and there is none on MNIST.",
                "BCE - HSC: none on MNIST (28 px, EMNIST OE), +0.2 on CIFAR-10 (32 px), largest "
                "on ImageNet-30 (224 px).",
                f"BCE - HSC at most {ABSENT_POINTS:g} point on MNIST, and not smaller on each "
                f"higher resolution that was run (paired over classes and seeds, all OE images).")
    gaps, used = {}, []
    for prof in ("mnist", "cifar", "imagenet"):
        d, n, g = _gap(rows, prof)
        if n:
            gaps[prof] = (d, n)
            used += g
    v.runs = len(used)
    v.numbers = {p: d for p, (d, n) in gaps.items()}
    names = {"mnist": "MNIST-like (28 px)", "cifar": "CIFAR-10-like (32 px)",
             "imagenet": "ImageNet-like (224 px)"}
    v.details = [f"{names[p]}: BCE - HSC {d:+.1f} ({n} class-seed pairs)" for p, (d, n) in gaps.items()]
    v.evidence = ("; ".join(v.details) + ".") if gaps else "No HSC and BCE runs with all OE images."
    if "mnist" in gaps and len(gaps) >= 2:
        ok = resolution_check({p: d for p, (d, n) in gaps.items()})
        v.verdict = HOLDS if ok else FAILS
        if "imagenet" not in gaps:
            v.provisional = True
            v.evidence += " No ImageNet-like runs: the check covers the resolutions run."
    if used:
        mnist = [r for r in used if profile_of(r["dataset"]) == "mnist"] or used
        v.budget = budget_text(used)
        v.view = _view("table", mnist, oe_sizes=[None])
        v.command = sweep_command(v.view)
    return v


def claim_many_oe(rows) -> Verdict:
    v = Verdict("many-oe", "With very many OE samples, supervised (BCE) and unsupervised (HSC) "
                "OE perform equally.",
                "At the full 80 Million Tiny Images (79 million OE samples) HSC and BCE are "
                "within 0.2 points on CIFAR-10 (95.9 vs 96.1).",
                f"|BCE - HSC| at most {SAME_POINTS:g} points with the whole OE pool, at the "
                f"largest pool run (paired over classes and seeds).")
    cand = [r for r in rows if r.get("auroc") is not None and r["oe"] != "none"
            and r["oe_size"] is None and not r["blur_sigma"] and r["method"] in ("hsc", "bce")]
    groups = _groups(cand, lambda r: True)

    def score(g):
        a = {(r["normal_class"], r["seed"]) for r in g if r["method"] == "hsc"}
        b = {(r["normal_class"], r["seed"]) for r in g if r["method"] == "bce"}
        return (g[0]["dataset"] == "cifar10", len(a & b))
    best = _best(groups, score)
    if not best or not score(best[1])[1]:
        v.evidence = "No HSC and BCE runs with a whole OE pool are stored or opened."
        return v
    g = best[1]
    d, n, _ = _gap(g, profile_of(g[0]["dataset"]))
    v.runs = len(g)
    v.verdict = HOLDS if same_check(d) else FAILS
    v.numbers = {"gap": d, "pairs": n}
    hsc = float(np.mean(list(class_means(g, "hsc").values())))
    bce = float(np.mean(list(class_means(g, "bce").values())))
    v.evidence = (f"On {g[0]['dataset']}: HSC {_pct(hsc)}, BCE {_pct(bce)}; BCE - HSC {d:+.1f} "
                  f"over {n} class-seed pairs.")
    v.budget = budget_text(g)
    v.view = _view("table", g, oe_sizes=[None])
    v.command = sweep_command(v.view)
    return v


CLAIMS = (claim_ordering, claim_published, claim_enough_cifar, claim_enough_imagenet, claim_blur,
          claim_resolution, claim_many_oe)


def evaluate(rows: list[dict]) -> list[Verdict]:
    """Every claim's verdict from these index rows (stored and opened runs)."""
    rows = [r for r in rows if r.get("status", "done") == "done" and r.get("auroc") is not None]
    return [c(rows) for c in CLAIMS]
