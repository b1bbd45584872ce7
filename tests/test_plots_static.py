"""The Explore page's PNG charts (deepad.plots_static) show what the Plotly figures show: one ROC
curve per method with its AUROC in the legend, and the same histogram counts."""

import numpy as np
import pytest

from deepad import metrics as M
from deepad import plots, plots_static


def _runs():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(300, int), np.ones(700, int)]
    good = rng.normal(size=1000) + 2.0 * labels      # separates well
    poor = rng.normal(size=1000) + 0.3 * labels      # barely
    return [{"name": "HSC", "labels": labels, "scores": good},
            {"name": "BCE", "labels": labels, "scores": poor}]


def test_roc_png_has_one_curve_per_method_with_its_auroc():
    runs = _runs()
    fig = plots_static.roc_static(runs)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["chance (AUROC 0.5)"] + [f"{r['name']} (AUROC {M.auroc(r['labels'], r['scores']):.3f})"
                                               for r in runs]
    fpr, tpr = M.roc_points(runs[0]["labels"], runs[0]["scores"])
    x, y = ax.get_lines()[1].get_data()
    assert np.array_equal(x, fpr) and np.array_equal(y, tpr)
    png = plots_static.png(fig)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_histogram_png_counts_match_the_plotly_figure_and_marks_are_drawn():
    runs = _runs()
    marks = {"BCE": [("your image", float(np.median(runs[1]["scores"])))]}
    fig = plots_static.histogram_static(runs, marks)
    ref = plots.histogram_figure(runs, marks)
    bars = [t for t in ref.data]  # normal, anomalies per run, in order
    for i, ax in enumerate(fig.axes):
        assert ax.get_title(loc="left") == runs[i]["name"]
        heights = [[p.get_height() for p in c] for c in ax.containers]
        assert heights == [list(bars[2 * i].y), list(bars[2 * i + 1].y)]
        # each class as a share of its own images: both sum to 100% whatever their sizes
        assert sum(heights[0]) == pytest.approx(100) and sum(heights[1]) == pytest.approx(100)
        assert list(bars[2 * i].customdata).count(0) < 40 and sum(bars[2 * i].customdata) == 300
        assert sum(bars[2 * i + 1].customdata) == 700
    dashed = [ln for ln in fig.axes[1].get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_xdata()[0] == pytest.approx(50.0, abs=0.2)
    assert not [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--"]
    assert plots_static.histogram_png(runs, marks).startswith(b"\x89PNG")
