"""Detection metrics. Labels: 1 = anomaly; scores: higher = more anomalous.

Computed with numpy alone, as scikit-learn defines them (roc_curve with its dropping of
collinear points, roc_auc_score as the trapezoidal area under that curve, average_precision_score
as the step sum over the precision-recall curve; tests/test_metrics_exact.py checks them against
scikit-learn on tied and untied scores): importing scikit-learn costs 1-2 s, which the
dashboard's first chart and first trained run would otherwise wait for."""

from __future__ import annotations

import numpy as np


def _check(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError("labels and scores must be 1-D arrays of the same length")
    if len(np.unique(labels)) != 2:
        raise ValueError("need both nominal (0) and anomalous (1) test samples")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")
    return labels, scores


def _counts(labels, scores):
    """(false positives, true positives, thresholds) at each distinct score, highest first:
    scikit-learn's binary classification curve (float64 counts, stable sort)."""
    order = np.argsort(scores, kind="mergesort")[::-1]
    s, y = scores[order], (labels[order] == 1)
    last = np.r_[np.where(np.diff(s))[0], y.size - 1]
    tps = np.cumsum(y, dtype=np.float64)[last]
    return 1 + last - tps, tps, s[last]


def roc_curve(labels, scores):
    """(fpr, tpr, thresholds) as sklearn.metrics.roc_curve gives them (drop_intermediate=True):
    collinear points dropped, (0, 0) at threshold +inf prepended."""
    fps, tps, thr = _counts(*_check(labels, scores))
    if len(fps) > 2:
        keep = np.where(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])[0]
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    fps, tps, thr = np.r_[0, fps], np.r_[0, tps], np.r_[np.inf, thr]
    return fps / fps[-1], tps / tps[-1], thr


def auroc(labels, scores) -> float:
    """Area under the ROC curve: the chance that a random anomaly scores above a random nominal."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def auprc(labels, scores) -> float:
    """Average precision with anomalies as the positive class."""
    fps, tps, _ = _counts(*_check(labels, scores))
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    precision, recall = np.r_[precision[::-1], 1], np.r_[recall[::-1], 0]
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def fpr_at_tpr(labels, scores, tpr: float = 0.95) -> float:
    """False-positive rate at the first threshold that detects `tpr` of the anomalies."""
    fpr, tprs, _ = roc_curve(labels, scores)
    return float(fpr[np.searchsorted(tprs, tpr, side="left")])


def threshold_at_tpr(labels, scores, tpr: float = 0.95) -> float:
    """The score threshold (score >= threshold flags an anomaly) that reaches `tpr`."""
    _, tprs, thr = roc_curve(labels, scores)
    return float(thr[np.searchsorted(tprs, tpr, side="left")])


def roc_points(labels, scores, max_points: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) of the ROC curve, thinned to at most `max_points` for plotting."""
    fpr, tpr, _ = roc_curve(labels, scores)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return fpr, tpr


def summary(labels, scores) -> dict:
    return {"auroc": auroc(labels, scores), "auprc": auprc(labels, scores),
            "fpr_at_95_tpr": fpr_at_tpr(labels, scores, 0.95),
            "threshold_at_95_tpr": threshold_at_tpr(labels, scores, 0.95)}
