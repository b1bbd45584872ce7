"""The Explore page's ROC, precision-recall and histogram charts as PNG images, drawn with
matplotlib.

A browser shows an image at once; a Plotly chart first loads and compiles about 5 MB of JavaScript,
which on a 2-core machine takes longer than everything else on the page. The dashboard therefore
draws these PNGs by default and the Plotly figures (deepad.plots) on request. Both show the same
data: ROC points from deepad.metrics, PR curves from deepad.operating, histogram counts from
deepad.plots.percentile_histograms. No Streamlit here.
"""

from __future__ import annotations

import io

from . import metrics as M
from . import operating as O
from .plots import color, percentile_histograms, point_counts, pr_floor


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _mark(ax, x, y, i: int) -> None:
    ax.plot([x], [y], "o", ms=11, mfc="none", mec=color(i), mew=2.5, label="_operating point",
            clip_on=False, zorder=5)


def roc_static(curves: list[dict], thresholds: dict | None = None):
    """A matplotlib Figure: one ROC curve per entry (dicts with `name`, `labels`, `scores`), the
    AUROC in the legend, the chance diagonal dotted; thresholds {name: threshold} marks each
    run's operating point (rates on all its test images) with an open circle."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=100)
    ax.plot([0, 1], [0, 1], ":", color="#bbbbbb", label="chance (AUROC 0.5)")
    for i, c in enumerate(curves):
        fpr, tpr = M.roc_points(c["labels"], c["scores"])
        ax.plot(fpr, tpr, color=color(i), lw=2,
                label=f"{c['name']} (AUROC {M.auroc(c['labels'], c['scores']):.3f})")
    for i, c in enumerate(curves):
        if (k := point_counts(c, thresholds)) is not None:
            _mark(ax, k.fpr, k.tpr, i)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), title="ROC curves",
           xlabel="false-positive rate (normal images flagged)",
           ylabel="true-positive rate (anomalies found)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    return fig


def pr_static(curves: list[dict], thresholds: dict | None = None):
    """A matplotlib Figure: one precision-recall curve per entry (as deepad.plots.pr_figure),
    steps, average precision in the legend, the no-skill line at the anomaly rate dotted."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=100)
    rates = {round(r, 6): r for r in (O.no_skill_precision(c["labels"]) for c in curves)}
    for rate in sorted(rates.values()):
        ax.axhline(rate, ls=":", color="#bbbbbb",
                   label=f"no skill (precision {rate:.3f}, the anomaly rate)")
    for i, c in enumerate(curves):
        pr = O.pr_curve(c["labels"], c["scores"])
        r, p = O.pr_points(pr)
        ax.plot(r, p, color=color(i), lw=2, drawstyle="steps-pre",
                label=f"{c['name']} (AP {pr.average_precision:.3f})")
    for i, c in enumerate(curves):
        if (k := point_counts(c, thresholds)) is not None and k.tp + k.fp:
            _mark(ax, k.recall, k.precision, i)
    ax.set(xlim=(0, 1), ylim=(pr_floor(curves), 1.01), title="Precision-recall curves",
           xlabel="recall (anomalies found)", ylabel="precision (flagged images that are anomalies)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    fig.tight_layout()
    return fig


def histogram_static(runs: list[dict], marks: dict | None = None, bins: int = 40):
    """A matplotlib Figure: per run, the score-percentile histograms of normal and anomalous test
    images on a shared axis (as deepad.plots.histogram_figure), each class as a share of its own
    images (normal images are often a tenth of the test set), marks as dashed lines labelled
    inside the panel (clear of the legend)."""
    plt = _pyplot()
    n = max(1, len(runs))
    fig, axes = plt.subplots(n, 1, figsize=(6.4, 1.7 * n + 1.1), dpi=100, sharex=True, squeeze=False)
    width = 100 / bins
    for ax, r in zip(axes[:, 0], runs):
        centres, counts, pct_of = percentile_histograms(r["scores"], r["labels"], bins)
        for lab, name, col in ((0, "normal test images", "#1f77b4"), (1, "anomalies", "#d62728")):
            total = max(1, counts[lab].sum())
            ax.bar(centres, 100 * counts[lab] / total, width=width, color=col, alpha=0.55,
                   label=f"{name} ({int(counts[lab].sum()):,})")
        for label, score in (marks or {}).get(r["name"], []):
            x = pct_of(score)
            ax.axvline(x, color="black", ls="--", lw=2)
            ax.annotate(f" {label}", (x, 0.92), xycoords=("data", "axes fraction"),
                        ha="left" if x < 70 else "right", va="top", fontsize=8,
                        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.8))
        ax.set_title(r["name"], fontsize=10, loc="left")
        ax.set_ylabel("% of class")
    axes[-1, 0].set_xlabel("score percentile (0 = most normal, 100 = most anomalous)")
    axes[-1, 0].set_xlim(0, 100)
    axes[0, 0].legend(loc="lower right", bbox_to_anchor=(1, 1), ncol=2, fontsize=8, frameon=False,
                      borderaxespad=0.1)
    fig.suptitle("Anomaly scores of the test images", fontsize=11)
    fig.tight_layout()
    return fig


def png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def roc_png(curves: list[dict], thresholds: dict | None = None) -> bytes:
    return png(roc_static(curves, thresholds))


def pr_png(curves: list[dict], thresholds: dict | None = None) -> bytes:
    return png(pr_static(curves, thresholds))


def histogram_png(runs: list[dict], marks: dict | None = None) -> bytes:
    return png(histogram_static(runs, marks))
