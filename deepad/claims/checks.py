"""The claims' arithmetic: thresholds, the paper's means, runs aggregated as the paper does
(per class the mean over seeds; comparisons paired over classes and seeds), and the pure checks
each verdict and `benchmarks/reproduce.py` decide with."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..analysis import per_seed, seed_ci
from ..views import setting_of, variant_of

HOLDS, FAILS, UNKNOWN = "holds", "does not hold", "not enough runs"

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
    seeds: dict = field(default_factory=dict)  # {label: seed_stats}: the 95% CI over seeds

    def to_dict(self) -> dict:
        return dict(vars(self))


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


def method_by_seed(rows: list[dict], method: str) -> dict:
    """{seed: mean AUROC % over the classes} of a method's rows (one setting's)."""
    return per_seed((r["seed"], 100 * r["auroc"]) for r in rows
                    if r["method"] == method and r.get("auroc") is not None)


def seed_diffs(rows: list[dict], sel_a, sel_b) -> dict:
    """{seed: mean over the seed's classes of AUROC % of the row sel_b(row) picks minus that of
    the row sel_a(row) picks}, over the (class, seed) pairs present on both sides."""
    a, b = {}, {}
    for r in rows:
        if r.get("auroc") is None:
            continue
        pair = (r["normal_class"], r["seed"])
        if sel_a(r):
            a[pair] = 100 * r["auroc"]
        if sel_b(r):
            b[pair] = 100 * r["auroc"]
    return per_seed((p[1], b[p] - a[p]) for p in sorted(set(a) & set(b)))


def method_diffs(rows: list[dict], method: str, key_a, key_b) -> dict:
    """seed_diffs of one method between the rows key_a and key_b select (as `paired`): b - a."""
    return seed_diffs(rows, lambda r: r["method"] == method and key_a(r),
                      lambda r: r["method"] == method and key_b(r))


def seed_stats(by_seed: dict) -> dict:
    """{'mean', 'low', 'high', 'seeds'}: analysis.seed_ci of per-seed values (low/high None with
    one seed)."""
    return dict(zip(("mean", "low", "high", "seeds"), seed_ci(by_seed.values())))


def add_seed_note(v: Verdict, stats: dict, what: str, signed: bool = True) -> None:
    """Keep {label: seed_stats} in v.seeds and say them after v.evidence: the 95% CI over seeds
    of `what` (e.g. 'the differences'), or that a label has one seed and so no interval."""
    stats = {k: st for k, st in stats.items() if st["seeds"]}
    if not stats:
        return
    v.seeds.update(stats)
    f = "{:+.1f}" if signed else "{:.1f}"
    parts = [f"{k} {f.format(st['low'])} to {f.format(st['high'])} ({st['seeds']} seeds)"
             if st["low"] is not None else f"{k} {f.format(st['mean'])} (1 seed, no interval)"
             for k, st in stats.items()]
    v.evidence = (v.evidence + " " if v.evidence else "") + (
        f"95% CI over seeds (Student t) of {what}: " + "; ".join(parts) + ".")


def _groups(rows, keep) -> dict:
    """Rows by setting; the claims are the paper's, so only runs with its OE batches count."""
    out: dict = {}
    for r in rows:
        if r.get("auroc") is not None and keep(r) and variant_of(r) == (None, False):
            out.setdefault(setting_of(r), []).append(r)
    return out


def _best(groups: dict, score, then=None) -> tuple | None:
    """The group with the highest score (ties: more epochs, then the highest `then`, if given)."""
    if not groups:
        return None
    return max(groups.items(), key=lambda kv: (score(kv[1]), kv[0][5],
                                               then(kv[1]) if then else 0))


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
