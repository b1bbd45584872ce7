"""deepad.metrics computes AUROC, average precision, the ROC curve and the 95%-TPR operating
point with numpy alone; they must equal scikit-learn's definitions (stored runs were scored with
scikit-learn before), on tied and untied scores, small and large test sets."""

import numpy as np
import pytest
from sklearn import metrics as skm

from deepad import metrics as M


def _cases():
    rng = np.random.default_rng(0)
    for n, p in [(2, 0.5), (5, 0.4), (40, 0.5), (300, 0.1), (1000, 0.9), (10_000, 0.1)]:
        y = (rng.random(n) < p).astype(int)
        y[0], y[-1] = 0, 1  # both classes
        yield y, rng.normal(size=n) + y  # untied
        yield y, np.round(rng.normal(size=n) + y, 1)  # many ties
        yield y, rng.integers(0, 3, n).astype(float)  # only three distinct scores
    y = np.array([0, 1, 0, 1])
    yield y, np.array([1.0, 1.0, 1.0, 1.0])  # all tied: chance
    yield y, np.array([0.0, 1.0, 0.0, 1.0])  # perfect
    yield y, np.array([1.0, 0.0, 1.0, 0.0])  # inverted


@pytest.mark.parametrize("case", list(range(len(list(_cases())))))
def test_metrics_equal_scikit_learns(case):
    y, s = list(_cases())[case]
    fpr, tpr, thr = M.roc_curve(y, s)
    want = skm.roc_curve(y, s)
    for got, exp in zip((fpr, tpr, thr), want):
        np.testing.assert_array_equal(got, exp)
    assert M.auroc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert M.auprc(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    i = np.searchsorted(want[1], 0.95, side="left")
    assert M.fpr_at_tpr(y, s) == want[0][i] and M.threshold_at_tpr(y, s) == want[2][i]


def test_bad_inputs_are_refused_as_before():
    with pytest.raises(ValueError, match="both nominal"):
        M.auroc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        M.auroc([0, 1], [0.1, float("nan")])
