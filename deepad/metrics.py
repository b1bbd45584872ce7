"""Detection metrics. Labels: 1 = anomaly; scores: higher = more anomalous."""

from __future__ import annotations

import numpy as np

from .heavy import sklearn_metrics


def _check(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError("labels and scores must be 1-D arrays of the same length")
    if len(np.unique(labels)) != 2:
        raise ValueError("need both nominal (0) and anomalous (1) test samples")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")
    return labels, scores


def auroc(labels, scores) -> float:
    """Area under the ROC curve: the chance that a random anomaly scores above a random nominal."""
    return float(sklearn_metrics().roc_auc_score(*_check(labels, scores)))


def auprc(labels, scores) -> float:
    """Average precision with anomalies as the positive class."""
    return float(sklearn_metrics().average_precision_score(*_check(labels, scores)))


def fpr_at_tpr(labels, scores, tpr: float = 0.95) -> float:
    """False-positive rate at the first threshold that detects `tpr` of the anomalies."""
    fpr, tprs, _ = sklearn_metrics().roc_curve(*_check(labels, scores))
    return float(fpr[np.searchsorted(tprs, tpr, side="left")])


def threshold_at_tpr(labels, scores, tpr: float = 0.95) -> float:
    """The score threshold (score >= threshold flags an anomaly) that reaches `tpr`."""
    _, tprs, thr = sklearn_metrics().roc_curve(*_check(labels, scores))
    return float(thr[np.searchsorted(tprs, tpr, side="left")])


def roc_points(labels, scores, max_points: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) of the ROC curve, thinned to at most `max_points` for plotting."""
    fpr, tpr, _ = sklearn_metrics().roc_curve(*_check(labels, scores))
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return fpr, tpr


def summary(labels, scores) -> dict:
    return {"auroc": auroc(labels, scores), "auprc": auprc(labels, scores),
            "fpr_at_95_tpr": fpr_at_tpr(labels, scores, 0.95),
            "threshold_at_95_tpr": threshold_at_tpr(labels, scores, 0.95)}
