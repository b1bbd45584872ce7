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

import math

import numpy as np

from ..views import (  # noqa: F401
    _cfg,
    _label,
    _seeds,
    _span,
    _view,
    budget_text,
    portable,
    setting_of,
    sweep_command,
)
from .checks import (  # noqa: F401
    Verdict,
    ABSENT_POINTS,
    DESTROY_POINTS,
    ENOUGH_POINTS,
    FAILS,
    FAR_POINTS,
    HOLDS,
    OE_TRIO,
    PAPER_MEANS,
    RESOLUTION,
    SAME_POINTS,
    TARGET_POINTS,
    TITLES,
    UNKNOWN,
    UNSUPERVISED,
    _best,
    _complete,
    _groups,
    _pct,
    add_seed_note,
    blur_check,
    cifar_table,
    class_means,
    enough_check,
    method_by_seed,
    method_diffs,
    ordering_check,
    paired,
    profile_of,
    published_check,
    resolution_check,
    same_check,
    seed_diffs,
    seed_stats,
)


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
        add_seed_note(v, {TITLES.get(m, m): seed_stats(method_by_seed(used, m)) for m in means},
                      "the mean over classes", signed=False)
    if used:
        v.budget = budget_text(used)
        v.view = _view("table", used, oe_sizes=[None])
        v.command = sweep_command({**v.view, "oe_sizes": [None]})
    return v


def hsc_bce_setting(rows) -> list[dict]:
    """The CIFAR-10 rows of HSC and BCE (all OE images, no blur, the paper's OE batches) in the
    setting that covers the most (method, class) pairs; ties go to the larger budget, then to
    the larger OE pool: the paper's numbers are compared with the closest this store comes."""
    groups = _groups([r for r in rows if r["dataset"] == "cifar10"],
                     lambda r: r["oe"] != "none" and r["oe_size"] is None and not r["blur_sigma"]
                     and r["method"] in ("hsc", "bce"))
    best = _best(groups, lambda g: len({(r["method"], r["normal_class"]) for r in g}),
                 then=lambda g: max(r.get("n_oe") or 0 for r in g))
    return best[1] if best else []


def claim_published(rows) -> Verdict:
    v = Verdict("published", "The OE methods reach the paper's CIFAR-10 numbers (HSC 95.9, BCE "
                "96.1 mean AUROC).", "HSC 95.9 and BCE 96.1 mean AUROC over the 10 classes, 200 "
                "epochs, 10 seeds, 80 Million Tiny Images as OE.",
                f"HSC and BCE means within {TARGET_POINTS:g} points of 95.9 and 96.1, on all 10 "
                f"classes.")
    sel = hsc_bce_setting(rows)
    means = {m: (float(np.mean(list(cm.values()))), len(cm))
             for m in ("hsc", "bce") if (cm := class_means(sel, m))}
    v.runs = len(sel)
    if not _complete(means, ("hsc", "bce")):
        v.evidence = "HSC and BCE need runs on all 10 CIFAR-10 classes."
    else:
        ok, gaps = published_check({m: means[m][0] for m in ("hsc", "bce")})
        v.verdict = HOLDS if ok else FAILS
        v.evidence = "; ".join(f"{m.upper()} {_pct(means[m][0])} vs {PAPER_MEANS[m]} ({g:+.1f})"
                               for m, g in gaps.items()) + "."
        v.numbers = {m: means[m][0] for m in ("hsc", "bce")}
        add_seed_note(v, {TITLES[m]: seed_stats(method_by_seed(sel, m)) for m in ("hsc", "bce")},
                      "the mean over classes", signed=False)
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
    add_seed_note(v, {m.upper(): seed_stats(method_diffs(g, m, lambda r: r["oe_size"] is None,
                                                         lambda r, x=x: r["oe_size"] == x))
                      for m, (_, _, _, x) in res.items()}, f"AUROC with {at} (or near) minus all")
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
    add_seed_note(v, {m.upper(): seed_stats(method_diffs(g, m, lambda r: not r["blur_sigma"],
                                                         lambda r: r["blur_sigma"] == top))
                      for m in v.numbers}, f"AUROC at sigma {top:g} minus without blur")
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


def _gap_by_seed(g) -> dict:
    """{seed: BCE - HSC (points)} over the classes paired in that seed."""
    return seed_diffs(g, lambda r: r["method"] == "hsc", lambda r: r["method"] == "bce")


def claim_resolution(rows) -> Verdict:
    v = Verdict("resolution", "The advantage of supervised OE (BCE) over unsupervised OE (HSC) "
                "grows with image resolution, and there is none on MNIST.",
                "BCE - HSC: none on MNIST (28 px, EMNIST OE), +0.2 on CIFAR-10 (32 px), largest "
                "on ImageNet-30 (224 px).",
                f"BCE - HSC at most {ABSENT_POINTS:g} point on MNIST, and not smaller on each "
                f"higher resolution that was run (paired over classes and seeds, all OE images).")
    gaps, used, by_seed = {}, [], {}
    for prof in ("mnist", "cifar", "imagenet"):
        d, n, g = _gap(rows, prof)
        if n:
            gaps[prof] = (d, n)
            used += g
            by_seed[prof] = seed_stats(_gap_by_seed(g))
    v.runs = len(used)
    v.numbers = {p: d for p, (d, n) in gaps.items()}
    names = {"mnist": "MNIST-like (28 px)", "cifar": "CIFAR-10-like (32 px)",
             "imagenet": "ImageNet-like (224 px)"}
    v.details = [f"{names[p]}: BCE - HSC {d:+.1f} ({n} class-seed pairs)" for p, (d, n) in gaps.items()]
    v.evidence = ("; ".join(v.details) + ".") if gaps else "No HSC and BCE runs with all OE images."
    add_seed_note(v, {names[p].split(" (")[0]: st for p, st in by_seed.items()}, "BCE - HSC")
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
    add_seed_note(v, {"BCE - HSC": seed_stats(_gap_by_seed(g))}, "the difference")
    v.budget = budget_text(g)
    v.view = _view("table", g, oe_sizes=[None])
    v.command = sweep_command(v.view)
    return v


from .conditions import claim_conditions, claim_pool  # noqa: E402 - they use the checks above

CLAIMS = (claim_ordering, claim_published, claim_enough_cifar, claim_enough_imagenet, claim_blur,
          claim_resolution, claim_many_oe, claim_pool, claim_conditions)


def evaluate(rows: list[dict]) -> list[Verdict]:
    """Every claim's verdict from these index rows (stored and opened runs)."""
    rows = [r for r in rows if r.get("status", "done") == "done" and r.get("auroc") is not None]
    return [c(rows) for c in CLAIMS]
