"""Precision-recall curves of anomaly scores (numpy only), and the threshold sweep they share with
deepad.operating. Scores: higher = more anomalous; labels: 1 = anomaly; an image whose score is
>= the threshold is flagged."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DeepadError


def check_arrays(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or labels.shape != scores.shape:
        raise DeepadError(f"test labels {labels.shape} and scores {scores.shape} must be 1-D and "
                          f"of the same length")
    if len(labels) and not np.isin(labels, (0, 1)).all():
        raise DeepadError("test labels must be 0 (normal) or 1 (anomaly)")
    if not np.isfinite(scores).all():
        raise DeepadError("the test scores contain NaN or infinity")
    return labels.astype(np.int64), scores


def sweep(y: np.ndarray, s: np.ndarray):
    """(thresholds, TP, FP) at every candidate threshold, highest first: one just above the
    highest score (nothing flagged), then each distinct score."""
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # the last of each distinct score
    tp, fp = np.cumsum(y)[last], np.cumsum(1 - y)[last]
    return np.r_[np.nextafter(s[0], np.inf), s[last]], np.r_[0, tp], np.r_[0, fp]


@dataclass(frozen=True)
class PRCurve:
    """Precision and recall at each distinct score as threshold (highest first, so recall
    rises), average precision (sum over thresholds of the recall gained times the precision
    there; no interpolation) and the no-skill precision (the anomaly rate)."""

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    average_precision: float
    no_skill: float


def no_skill_precision(labels) -> float:
    """The precision of flagging at random: the share of anomalies among the test images."""
    y = np.asarray(labels)
    return float(y.mean()) if len(y) else float("nan")


def pr_curve(labels, scores) -> PRCurve:
    y, s = check_arrays(labels, scores)
    n1 = int(y.sum())
    if n1 == 0:
        raise DeepadError("a precision-recall curve needs at least one anomaly among the test images")
    thr, tp, fp = sweep(y, s)
    thr, tp, fp = thr[1:], tp[1:], fp[1:]
    precision, recall = tp / (tp + fp), tp / n1
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return PRCurve(precision, recall, thr, ap, no_skill_precision(y))


def pr_points(curve: PRCurve, max_points: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) for drawing as steps (each precision holds from the previous recall
    up to its own), from recall 0, thinned to at most `max_points`."""
    r, p = np.r_[0.0, curve.recall], np.r_[curve.precision[0], curve.precision]
    if len(r) > max_points:
        keep = np.unique(np.linspace(0, len(r) - 1, max_points).round().astype(int))
        r, p = r[keep], p[keep]
    return r, p
