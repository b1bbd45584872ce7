"""Operating points: the score threshold at which a detector calls an image an anomaly, chosen at
a target, with the confusion counts it gives; and precision-recall curves. numpy only (no torch,
no scikit-learn, no Streamlit).

The rule, everywhere: **an image whose score is >= the threshold is flagged "anomaly"**. Scores:
higher = more anomalous. Labels: 1 = anomaly.

Targets (parse_target reads them as typed: `fpr=0.05 | tpr=0.95 | f1 | VALUE`):

    fpr=R   the smallest threshold whose false-positive rate on the chosen images is <= R
    tpr=R   the largest threshold whose true-positive rate (recall) on the chosen images is >= R
    f1      the threshold with the best F1 on the chosen images (the largest among ties)
    VALUE   a raw score: nothing is chosen, every test image evaluates it

The candidate thresholds are the distinct scores of the chosen images and one just above the
highest (flag nothing). Honest counts: a threshold chosen on a held-out validation split of the
test set (validation_split: seeded, class-stratified) is evaluated on the other test images
only; one chosen on the whole test set is evaluated in-sample, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DeepadError
from .pr import PRCurve, no_skill_precision, pr_curve, pr_points  # noqa: F401 - re-exported
from .pr import check_arrays as _arrays
from .pr import sweep as _sweep

RULE = "score >= threshold means anomaly"
DEFAULT_TARGET = "tpr=0.95"
VALIDATION_FRACTION = 0.2  # of each class, for choosing operating points
RATE_KINDS = ("fpr", "tpr")
FORMS = "fpr=RATE (e.g. fpr=0.05), tpr=RATE (e.g. tpr=0.95), f1, or a score value (e.g. 0.02)"


def validation_split(labels: np.ndarray, seed: int, fraction: float = 0.1) -> np.ndarray:
    """Sorted test-set positions of a class-stratified random `fraction` (at least one nominal
    and one anomaly), drawn from `seed`. (OC-SVM chooses its gamma on the 10% split of the run's
    seed; operating points are chosen on VALIDATION_FRACTION.)"""
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, 10])
    parts = []
    for c in (0, 1):
        pos = np.flatnonzero(labels == c)
        if len(pos):
            k = max(1, round(fraction * len(pos)))
            parts.append(rng.choice(pos, size=min(k, len(pos)), replace=False))
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


# ---------------------------------------------------------------- targets

@dataclass(frozen=True)
class Target:
    """kind: 'fpr', 'tpr', 'f1' or 'value'; value: the rate (fpr, tpr), the score (value), or
    None (f1)."""

    kind: str
    value: float | None = None

    @property
    def text(self) -> str:
        """As parse_target reads it back: 'fpr=0.05', 'f1', '0.0213'."""
        if self.kind == "f1":
            return "f1"
        if self.kind == "value":
            return repr(float(self.value))
        return f"{self.kind}={self.value:g}"

    def describe(self) -> str:
        if self.kind == "fpr":
            return f"the lowest threshold that flags at most {self.value:.0%} of the normal images"
        if self.kind == "tpr":
            return f"the highest threshold that catches at least {self.value:.0%} of the anomalies"
        if self.kind == "f1":
            return "the threshold with the best F1, the highest among ties"
        return f"the score {self.value:g}, as given"


def parse_target(text, *, name: str = "--threshold") -> Target:
    """'fpr=0.05' | 'tpr=95%' | 'f1' | '0.02' -> Target; DeepadError naming `name` and the forms."""
    if isinstance(text, Target):
        return text
    raw = str(text if text is not None else "").strip()
    if not raw:
        raise DeepadError(f"{name}: give a target: {FORMS}")
    kind, sep, rest = raw.partition("=")
    kind = kind.strip().lower()
    if not sep:
        if kind == "f1":
            return Target("f1")
        if kind in RATE_KINDS:
            raise DeepadError(f"{name}: {kind} needs a rate between 0 and 1, e.g. {kind}="
                              f"{0.05 if kind == 'fpr' else 0.95}")
        try:
            v = float(raw)
        except ValueError:
            raise DeepadError(f"{name}: cannot read '{raw}'; write {FORMS}") from None
        if not np.isfinite(v):
            raise DeepadError(f"{name}: the score '{raw}' is not a finite number; write {FORMS}")
        return Target("value", v)
    if kind == "f1":
        raise DeepadError(f"{name}: f1 takes no value (it is the threshold with the best F1); "
                          f"write f1")
    if kind not in RATE_KINDS:
        raise DeepadError(f"{name}: unknown target '{kind}'; write {FORMS}")
    rest = rest.strip()
    pct = rest.endswith("%")
    try:
        v = float(rest[:-1] if pct else rest) / (100 if pct else 1)
    except ValueError:
        raise DeepadError(f"{name}: cannot read the rate '{rest}' in '{raw}'; give a number "
                          f"between 0 and 1, e.g. {kind}=0.05") from None
    if not 0 < v < 1:  # NaN fails too
        raise DeepadError(f"{name}: {kind}={rest} is outside (0, 1); give a rate strictly between "
                          f"0 and 1, e.g. {kind}={0.05 if kind == 'fpr' else 0.95}")
    return Target(kind, v)


# ---------------------------------------------------------------- counts

def _nan_none(v: float):
    return None if v != v else float(v)


@dataclass(frozen=True)
class Counts:
    """The confusion counts at one threshold on some images; rates are NaN where undefined
    (precision when nothing is flagged, recall without anomalies, FPR without normal images)."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        """= the true-positive rate: the share of the anomalies flagged."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    tpr = recall

    @property
    def fpr(self) -> float:
        """The share of the normal images flagged (false alarms)."""
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else float("nan")

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else float("nan")

    def to_dict(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn, "n": self.n,
                **{k: _nan_none(getattr(self, k)) for k in ("precision", "recall", "fpr", "f1")}}


def counts_at(labels, scores, threshold: float) -> Counts:
    """Confusion counts when score >= threshold is flagged an anomaly."""
    y, s = _arrays(labels, scores)
    flag = s >= threshold
    tp, fp = int((flag & (y == 1)).sum()), int((flag & (y == 0)).sum())
    return Counts(tp, fp, int((y == 0).sum()) - fp, int((y == 1).sum()) - tp)


def choose_threshold(labels, scores, target) -> float:
    """The threshold at `target` (a Target or its text) on these images; see the module's doc."""
    target = parse_target(target)
    if target.kind == "value":
        return float(target.value)
    y, s = _arrays(labels, scores)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if target.kind == "fpr" and not n0 or target.kind != "fpr" and not n1:
        raise DeepadError(f"{target.text} cannot be chosen on {len(y)} images without "
                          f"{'normal images' if target.kind == 'fpr' else 'anomalies'}")
    thr, tp, fp = _sweep(y, s)
    eps = 1e-9
    if target.kind == "fpr":  # FPR grows as the threshold falls: the last that is low enough
        i = np.flatnonzero(fp <= target.value * n0 + eps)[-1]
    elif target.kind == "tpr":  # TPR grows as the threshold falls: the first that is high enough
        i = np.flatnonzero(tp >= target.value * n1 - eps)[0]
    else:
        i = int(np.argmax(2 * tp / (2 * tp + fp + (n1 - tp))))  # the first best: the highest
    return float(thr[i])


# ---------------------------------------------------------------- operating points

@dataclass(frozen=True)
class OperatingPoint:
    """A threshold at a target, where it was chosen and what it gives on other images.

    chosen_on: 'validation' (a held-out split of the test set: `seed`, `fraction` of each class),
    'test' (all test images; the counts are in-sample) or 'given' (a raw score, nothing chosen).
    chosen_idx / evaluated_idx: positions among the test scores. chosen: the counts on the images
    it was chosen on (None when given); evaluated: the counts on the evaluation images (the rest
    of the test set after a validation split)."""

    target: Target
    threshold: float
    chosen_on: str
    chosen_idx: np.ndarray = field(repr=False)
    evaluated_idx: np.ndarray = field(repr=False)
    chosen: Counts | None
    evaluated: Counts
    seed: int | None = None
    fraction: float | None = None
    note: str = ""

    @property
    def n_chosen(self) -> int:
        return len(self.chosen_idx)

    @property
    def n_evaluated(self) -> int:
        return len(self.evaluated_idx)

    @property
    def held_out(self) -> bool:
        """Whether the evaluation images exclude every image the threshold was chosen on."""
        return self.chosen_on != "test"

    def flags(self, scores) -> np.ndarray:
        """True where a score is flagged an anomaly (score >= threshold)."""
        return np.asarray(scores, dtype=np.float64) >= self.threshold

    def where(self) -> str:
        """Where the threshold was chosen and evaluated, in words."""
        if self.chosen_on == "validation":
            return (f"chosen on a validation split of {self.n_chosen} test images ({self.fraction:.0%} "
                    f"of each class, seed {self.seed}); counts on the other {self.n_evaluated}")
        if self.chosen_on == "test":
            return (f"chosen on all {self.n_chosen} test images; counts on the same images "
                    f"(in-sample, optimistic)")
        return f"a given score; counts on all {self.n_evaluated} test images"

    def describe(self) -> str:
        c = self.evaluated
        return (f"threshold {self.threshold:.6g} ({self.target.text}: {self.target.describe()}); "
                f"{self.where()}: TP {c.tp}, FP {c.fp}, TN {c.tn}, FN {c.fn}, precision "
                f"{c.precision:.3f}, recall {c.recall:.3f}, FPR {c.fpr:.3f}, F1 {c.f1:.3f}; {RULE}"
                + (f". Note: {self.note}" if self.note else ""))

    def to_dict(self, indices: bool = False) -> dict:
        """JSON-safe; `indices` adds the positions of the images it was chosen on."""
        out = {"target": self.target.text, "rule": RULE, "threshold": self.threshold,
               "chosen_on": self.chosen_on, "seed": self.seed, "fraction": self.fraction,
               "n_chosen": self.n_chosen, "n_evaluated": self.n_evaluated,
               "held_out": self.held_out, "counts": self.evaluated.to_dict(),
               "counts_where_chosen": self.chosen.to_dict() if self.chosen else None,
               "description": self.describe(), "note": self.note}
        if indices:
            out["chosen_indices"] = [int(i) for i in self.chosen_idx]
        return out


def _coarse(target: Target, y: np.ndarray) -> str:
    """A note when the chosen images are too few for the rate asked."""
    if target.kind == "fpr":
        n, what, miss = int((y == 0).sum()), "normal images", "false alarm"
        allowed = target.value * n
    elif target.kind == "tpr":
        n, what, miss = int(y.sum()), "anomalies", "miss"
        allowed = (1 - target.value) * n
    else:
        return ""
    if allowed >= 1:
        return ""
    return (f"the threshold was chosen on {n} {what}, so the rate moves in steps of {1 / n:.1%}: "
            f"{target.text} allows no {miss} on them")


def operating_point(labels, scores, target, *, on: str = "validation", seed: int = 0,
                    fraction: float = VALIDATION_FRACTION) -> OperatingPoint:
    """The operating point at `target` (a Target or its text).

    on='validation': chosen on validation_split(labels, seed, fraction), counted on the other test
    images; when a class is too small to leave images of it on both sides, chosen on all test
    images instead (chosen_on 'test', with a note). on='test': chosen and counted on all test
    images. A raw score target is counted on all test images."""
    target = parse_target(target)
    y, s = _arrays(labels, scores)
    everything = np.arange(len(y))
    if target.kind == "value":
        return OperatingPoint(target, float(target.value), "given", everything[:0], everything,
                              None, counts_at(y, s, target.value))
    n1 = int(y.sum())
    if n1 == 0 or n1 == len(y):
        raise DeepadError(f"the {len(y)} stored test labels hold "
                          f"{'no anomalies' if n1 == 0 else 'no normal images'}; an operating "
                          f"point is chosen on test images of both kinds")
    if on not in ("validation", "test"):
        raise ValueError(f"on must be 'validation' or 'test', not {on!r}")
    note = ""
    if on == "validation":
        idx = validation_split(y, seed, fraction)
        rest = np.setdiff1d(everything, idx)
        if len(np.unique(y[rest])) < 2:
            note = (f"a class has too few test images for a held-out split ({n1} anomalies, "
                    f"{len(y) - n1} normal); chosen on all test images")
            on = "test"
    if on == "test":
        idx = rest = everything
    thr = choose_threshold(y[idx], s[idx], target)
    note = "; ".join(x for x in (note, _coarse(target, y[idx])) if x)
    split = on == "validation"
    return OperatingPoint(target, thr, on, idx, rest, counts_at(y[idx], s[idx], thr),
                          counts_at(y[rest], s[rest], thr), seed if split else None,
                          fraction if split else None, note)


def for_run(run, target, seed: int | None = None, on: str = "validation") -> OperatingPoint:
    """The operating point of a stored run (its stored test scores and labels), on the validation
    split of `seed` (default: the run's seed)."""
    try:
        labels, scores = run.labels, run.scores
    except (KeyError, OSError, ValueError) as e:
        raise DeepadError(f"run {run.key} has no stored test scores and labels to choose a "
                          f"threshold on ({type(e).__name__}); give a score value as the "
                          f"threshold instead, or train the run again") from None
    if len(labels) == 0:
        raise DeepadError(f"run {run.key} has no stored test scores to choose a threshold on; "
                          f"give a score value as the threshold instead")
    seed = run.config.seed if seed is None else seed
    try:
        return operating_point(labels, scores, target, on=on, seed=seed)
    except DeepadError as e:
        raise DeepadError(f"run {run.key}: {e}; give a score value as the threshold instead") from None


def flips(scores, labels, old: float, new: float) -> dict:
    """The images whose flag changes when the threshold moves from `old` to `new`: `flagged`
    (flagged now, not before) and `unflagged` (the other way), nearest the old threshold first;
    with how many of each are normal images and anomalies."""
    y, s = _arrays(labels, scores)
    before, after = s >= old, s >= new
    on, off = np.flatnonzero(after & ~before), np.flatnonzero(before & ~after)
    on = on[np.argsort(-s[on], kind="stable")]
    off = off[np.argsort(s[off], kind="stable")]
    return {"flagged": on, "unflagged": off,
            "new_false_alarms": int((y[on] == 0).sum()), "new_catches": int((y[on] == 1).sum()),
            "cleared_false_alarms": int((y[off] == 0).sum()), "new_misses": int((y[off] == 1).sum())}
