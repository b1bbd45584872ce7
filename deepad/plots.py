"""Plotly figure builders: arrays in, figures out. No Streamlit here.

All figures use plain SVG traces (never WebGL), bin their histograms and thin their ROC curves, so
many of them fit on one page and in an offline HTML report.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import metrics as M
from . import operating as O

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
AUROC_HELP = "AUROC: the chance that a random anomaly scores higher than a random normal image"


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def point_counts(c: dict, thresholds: dict | None):
    """Counts on all of a curve's test images at its operating threshold (None without one)."""
    thr = (thresholds or {}).get(c["name"])
    return None if thr is None else O.counts_at(c["labels"], c["scores"], thr)


def _point_trace(x, y, i: int, name: str, hover: str) -> go.Scatter:
    return go.Scatter(x=[x], y=[y], mode="markers", name=f"{name}: operating point",
                      showlegend=False, marker=dict(color=color(i), size=12, symbol="circle-open",
                                                     line=dict(width=3)),
                      hovertemplate=hover + "<extra>" + name + "</extra>")


def roc_figure(curves: list[dict], thresholds: dict | None = None) -> go.Figure:
    """One ROC curve per entry: dicts with `name`, `labels` (1 = anomaly) and `scores`.
    thresholds: {name: threshold} marks each run's operating point (score >= threshold flags
    an anomaly) on its curve, at the rates on all its test images."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance (AUROC 0.5)",
                             line=dict(color="#bbbbbb", dash="dot"), hoverinfo="skip"))
    for i, c in enumerate(curves):
        fpr, tpr = M.roc_points(c["labels"], c["scores"])
        auc = M.auroc(c["labels"], c["scores"])
        fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{c['name']} (AUROC {auc:.3f})",
                                 line=dict(color=color(i), width=2),
                                 hovertemplate="false alarms %{x:.1%}<br>anomalies found %{y:.1%}"))
    for i, c in enumerate(curves):
        if (k := point_counts(c, thresholds)) is not None:
            fig.add_trace(_point_trace(k.fpr, k.tpr, i, c["name"], "operating point: false alarms "
                                       "%{x:.1%}, anomalies found %{y:.1%}"))
    fig.update_layout(title="ROC curves", xaxis_title="false-positive rate (normal images flagged)",
                      yaxis_title="true-positive rate (anomalies found)", height=420,
                      legend=dict(x=0.98, y=0.02, xanchor="right", yanchor="bottom"),
                      margin=dict(l=50, r=20, t=50, b=50))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.01])
    return fig


def pr_figure(curves: list[dict], thresholds: dict | None = None) -> go.Figure:
    """One precision-recall curve per entry (dicts as roc_figure's), drawn as steps, average
    precision in the legend; the no-skill line at the anomaly rate (the precision of flagging at
    random); thresholds as in roc_figure."""
    fig = go.Figure()
    rates = {round(r, 6): r for r in (O.no_skill_precision(c["labels"]) for c in curves)}
    for rate in sorted(rates.values()):
        fig.add_trace(go.Scatter(x=[0, 1], y=[rate, rate], mode="lines", hoverinfo="skip",
                                 name=f"no skill (precision {rate:.3f}, the anomaly rate)",
                                 line=dict(color="#bbbbbb", dash="dot")))
    for i, c in enumerate(curves):
        pr = O.pr_curve(c["labels"], c["scores"])
        r, p = O.pr_points(pr)
        fig.add_trace(go.Scatter(x=r, y=p, mode="lines", line_shape="vh",
                                 name=f"{c['name']} (AP {pr.average_precision:.3f})",
                                 line=dict(color=color(i), width=2),
                                 hovertemplate="anomalies found %{x:.1%}<br>precision %{y:.1%}"))
    for i, c in enumerate(curves):
        if (k := point_counts(c, thresholds)) is not None and k.tp + k.fp:
            fig.add_trace(_point_trace(k.recall, k.precision, i, c["name"], "operating point: "
                                       "anomalies found %{x:.1%}, precision %{y:.1%}"))
    fig.update_layout(title="Precision-recall curves", height=420,
                      xaxis_title="recall (anomalies found)",
                      yaxis_title="precision (flagged images that are anomalies)",
                      legend=dict(x=0.02, y=0.02, xanchor="left", yanchor="bottom"),
                      margin=dict(l=50, r=20, t=50, b=50))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[pr_floor(curves), 1.01])
    return fig


def pr_floor(curves: list[dict]) -> float:
    """The precision axis' low end: a step of 0.1 under the lowest precision and no-skill line
    (one-vs-rest test sets are mostly anomalies, so everything can lie above 0.8)."""
    low = min([1.0] + [min(O.no_skill_precision(c["labels"]),
                           float(O.pr_curve(c["labels"], c["scores"]).precision.min()))
                       for c in curves])
    return max(0.0, np.floor(low * 10 - 1e-9) / 10 - 0.05) if low > 0.15 else 0.0


def loss_figure(history: list[float], name: str = "training loss") -> go.Figure:
    """The mean training loss per epoch (history[i] is epoch i + 1) as one line."""
    fig = go.Figure(go.Scatter(x=np.arange(1, len(history) + 1), y=np.asarray(history, dtype=float),
                               mode="lines+markers", name=name, line=dict(color=color(0), width=2),
                               hovertemplate="epoch %{x}: loss %{y:.4g}<extra></extra>"))
    fig.update_layout(title="Training loss", xaxis_title="epoch", yaxis_title="mean loss",
                      height=320, margin=dict(l=50, r=20, t=50, b=50))
    return fig



def percentile_histograms(scores, labels, bins: int = 40):
    """(bin centres, {0: counts of normal images, 1: counts of anomalies}, score -> percentile) on
    the score-percentile axis (0 = most normal, 100 = most anomalous) of these test scores."""
    s = np.asarray(scores)
    order = np.sort(s)
    edges = np.linspace(0, 100, bins + 1)

    def pct_of(score):
        return 100 * np.searchsorted(order, score, side="right") / len(s)

    pct = pct_of(s)
    lab = np.asarray(labels)
    counts = {k: np.histogram(pct[lab == k], bins=edges)[0] for k in (0, 1)}
    return (edges[:-1] + edges[1:]) / 2, counts, pct_of


def histogram_figure(runs: list[dict], marks: dict | None = None, bins: int = 40) -> go.Figure:
    """Score histograms, normal vs anomalous test images, one panel per run.

    runs: dicts with `name`, `labels`, `scores`. Scores of different methods live on different
    scales, so each panel shows the score's percentile among that run's test scores (0 = most
    normal, 100 = most anomalous), a shared axis across panels. marks: {run name: [(label, score)]}
    draws vertical lines (e.g. an uploaded image). Each class is drawn as a share of its own
    images, so the normal images show whatever their proportion of the test set."""
    n = max(1, len(runs))
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[r["name"] for r in runs] or [""])
    for i, r in enumerate(runs, start=1):
        centres, counts, pct_of = percentile_histograms(r["scores"], r["labels"], bins)
        for lab, name, col in ((0, "normal test images", "#1f77b4"), (1, "anomalies", "#d62728")):
            total = max(1, int(counts[lab].sum()))
            fig.add_trace(go.Bar(x=centres, y=100 * np.asarray(counts[lab]) / total, width=100 / bins,
                                 name=f"{name} ({total:,})", marker_color=col, opacity=0.55,
                                 showlegend=(i == 1), legendgroup=name, customdata=counts[lab],
                                 hovertemplate="%{customdata} images (%{y:.1f}%)<extra>" + name
                                               + "</extra>"),
                          row=i, col=1)
        for label, score in (marks or {}).get(r["name"], []):
            fig.add_vline(x=pct_of(score), line=dict(color="black", width=2, dash="dash"), row=i, col=1,
                          annotation_text=label, annotation_position="top left",
                          annotation_bgcolor="rgba(255,255,255,0.8)")
    fig.update_layout(barmode="overlay", height=170 * n + 90, title="Anomaly scores of the test images",
                      margin=dict(l=50, r=20, t=70, b=50), legend=dict(orientation="h", y=1.02,
                                                                        yanchor="bottom", x=0))
    fig.update_xaxes(title_text="score percentile (0 = most normal, 100 = most anomalous)", row=n, col=1)
    fig.update_yaxes(title_text="% of class")
    return fig


def curve_figure(series: list[dict], *, x_title: str, log_x: bool = False, title: str = "",
                 x_labels: dict | None = None, reference: dict | None = None) -> go.Figure:
    """Mean AUROC against a parameter, with the 95% confidence interval over seeds as error bars
    (series with `ci_low`/`ci_high`, e.g. from analysis.grid_curves) or else +- one standard
    deviation as a band.

    series: dicts with `name`, `x` (numbers), `mean`, `std`, and optionally `ci_low`, `ci_high`
    (NaN: no interval, e.g. one seed), `seeds` (seeds per point), `n` (runs per point), `total`
    (runs asked for per point: points with fewer runs are marked "n/total") and `label` (text for
    each x in the hover). Points whose mean is NaN (no runs) are left out."""
    fig = go.Figure()
    with_ci = any("ci_low" in s for s in series)
    for i, s in enumerate(series):
        x, mean, std = (np.asarray(s[k], dtype=float) for k in ("x", "mean", "std"))
        n = np.asarray(s.get("n", np.ones_like(x)), dtype=int)
        total = np.asarray(s.get("total", n), dtype=int)
        labels = np.asarray(s.get("label", [f"{v:g}" for v in x]), dtype=object)
        nan = np.full_like(x, np.nan)
        lo, hi = (np.asarray(s.get(k, nan), dtype=float) for k in ("ci_low", "ci_high"))
        seeds = np.asarray(s.get("seeds", n), dtype=int)
        ok = np.isfinite(mean)
        x, mean, std, n, total, labels, lo, hi, seeds = (
            a[ok] for a in (x, mean, std, n, total, labels, lo, hi, seeds))
        std = np.nan_to_num(std)
        partial = n < total
        c = color(i)
        if "ci_low" in s:
            error = dict(type="data", symmetric=False, color=c, thickness=1.5, width=5,
                         array=[None if not np.isfinite(h) else float(h - m) for h, m in zip(hi, mean)],
                         arrayminus=[None if not np.isfinite(v) else float(m - v) for v, m in zip(lo, mean)])
            spread = [f"95% CI {a:.3f}–{b:.3f} over {k} seeds" if np.isfinite(a) else
                      f"{k} seed{'s' if k != 1 else ''}, no interval" for a, b, k in zip(lo, hi, seeds)]
        else:
            error = None
            fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]).tolist(),
                                     y=np.concatenate([mean + std, (mean - std)[::-1]]).tolist(),
                                     fill="toself", fillcolor=c, opacity=0.15, line=dict(width=0),
                                     hoverinfo="skip", showlegend=False, legendgroup=s["name"]))
            spread = [f"± {d:.3f} (std)" for d in std]
        fig.add_trace(go.Scatter(x=x.tolist(), y=mean.tolist(), name=s["name"], error_y=error,
                                 mode="lines+markers+text" if partial.any() else "lines+markers",
                                 text=[f"{a}/{b} runs" if p else "" for a, b, p in zip(n, total, partial)],
                                 textposition="top center", textfont=dict(color=c, size=10),
                                 line=dict(color=c, width=2), legendgroup=s["name"],
                                 customdata=[[float(d), int(a), int(b), str(lab), sp]
                                             for d, a, b, lab, sp in zip(std, n, total, labels, spread)],
                                 hovertemplate="%{customdata[3]}: AUROC %{y:.3f}, %{customdata[4]} "
                                               "(%{customdata[1]} of %{customdata[2]} runs)"))
    for name, y in (reference or {}).items():
        fig.add_hline(y=y, line=dict(color="#888", dash="dot"), annotation_text=name)
    fig.update_layout(title=title, xaxis_title=x_title, height=420, margin=dict(l=50, r=20, t=50, b=50),
                      yaxis_title="AUROC (mean, 95% CI over seeds)" if with_ci else "AUROC (mean ± std)")
    if log_x:
        fig.update_xaxes(type="log")
    if x_labels:
        fig.update_xaxes(tickvals=list(x_labels), ticktext=list(x_labels.values()))
    return fig


def parcoords_figure(dimensions: list[dict], color_values, color_title: str = "AUROC") -> go.Figure:
    """Parallel coordinates: one line per run across `dimensions` (dicts with `label`, `values`
    (numbers) and optionally `tickvals`/`ticktext` for categories, e.g. from
    browse.parcoords_dimensions), coloured by `color_values` (e.g. each run's AUROC)."""
    dims = [{k: v for k, v in d.items() if k in ("label", "values", "tickvals", "ticktext", "range")}
            for d in dimensions]
    fig = go.Figure(go.Parcoords(
        dimensions=dims, line=dict(color=np.asarray(color_values, dtype=float).tolist(),
                                   colorscale="Viridis", showscale=True,
                                   colorbar=dict(title=color_title))))
    fig.update_layout(height=440, margin=dict(l=60, r=40, t=60, b=30),
                      title="Settings against " + color_title + " (drag along an axis to select)")
    return fig


def image_grid(images: np.ndarray, cols: int = 8, pad: int = 2, scale: int | None = None) -> np.ndarray:
    """uint8 (N, C, H, W) -> one uint8 (H', W', 3) picture of the images in a grid, enlarged so that
    small images (8x8) stay visible."""
    images = np.asarray(images)
    if images.size == 0:
        return np.full((8, 8, 3), 255, np.uint8)
    n, c, h, w = images.shape
    scale = scale or max(1, 64 // h)
    x = images.repeat(3, 1) if c == 1 else images[:, :3]
    x = x.repeat(scale, 2).repeat(scale, 3)
    h, w = h * scale, w * scale
    cols = min(cols, n)
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        out[pad + r * (h + pad):pad + r * (h + pad) + h,
            pad + k * (w + pad):pad + k * (w + pad) + w] = x[i].transpose(1, 2, 0)
    return out


TOY_TITLES = {"deep-svdd": "Deep SVDD (unsupervised)", "hsc": "HSC (unsupervised with OE)",
              "bce": "BCE (supervised with OE)"}


def _toy_points(fig, result, row, col, legend):
    for pts, name, sym, c in ((result.nominal, "nominal (training)", "circle", "#1f77b4"),
                              (result.oe, "OE: example anomalies", "x", "#d62728"),
                              (result.test_anomalies, "test anomalies (unseen kind)", "diamond-open", "#111111")):
        if len(pts):
            fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name=name,
                                     legendgroup=name, showlegend=legend,
                                     marker=dict(symbol=sym, color=c, size=5 if sym == "circle" else 7)),
                          row=row, col=col)


def toy_figure(result, clickable: bool = False) -> go.Figure:
    """One panel per method: the anomaly-score landscape over the plane (darker = more normal),
    its decision boundary at the chosen false-positive rate, and the points. clickable adds
    invisible grid points so a click in the dashboard can place a new anomaly."""
    methods = list(result.fits)
    fig = make_subplots(rows=1, cols=len(methods), horizontal_spacing=0.04,
                        subplot_titles=[TOY_TITLES.get(m, m) for m in methods])
    for j, m in enumerate(methods, start=1):
        f = result.fits[m]
        if f is None:
            fig.add_annotation(text="trains only with OE points:<br>add some in the sidebar",
                               showarrow=False, xref=f"x{j if j > 1 else ''} domain",
                               yref=f"y{j if j > 1 else ''} domain", x=0.5, y=0.97, yanchor="top",
                               bgcolor="rgba(255,255,255,0.85)", font=dict(size=11))
        else:
            # rank-transform so every method's landscape uses the whole colour range
            ranks = np.argsort(np.argsort(f.scores.ravel())).reshape(f.scores.shape) / f.scores.size
            fig.add_trace(go.Contour(x=f.grid_x, y=f.grid_y, z=ranks, colorscale="Blues_r",
                                     showscale=False, ncontours=14, line_width=0, opacity=0.85,
                                     hoverinfo="skip", name=f"{m} score"), row=1, col=j)
            fig.add_trace(go.Contour(x=f.grid_x, y=f.grid_y, z=f.scores, showscale=False,
                                     contours=dict(coloring="none", start=f.threshold,
                                                   end=f.threshold, size=1),
                                     line=dict(color="#ff7f0e", width=3), hoverinfo="skip",
                                     name=f"{m} boundary", showlegend=False), row=1, col=j)
            fig.layout.annotations[j - 1].text += f"<br><sub>test AUROC {f.auroc:.3f}</sub>"
        _toy_points(fig, result, 1, j, legend=(j == 1))
        if clickable:  # invisible targets: a click anywhere selects the nearest one
            g = np.linspace(-3.9, 3.9, 40)
            gx, gy = np.meshgrid(g, g)
            fig.add_trace(go.Scatter(x=gx.ravel(), y=gy.ravel(), mode="markers", name="click to add",
                                     marker=dict(size=12, opacity=0), showlegend=False,
                                     hovertemplate="add an anomaly at (%{x:.1f}, %{y:.1f})<extra></extra>"),
                          row=1, col=j)
    fig.update_xaxes(range=[-4, 4], showgrid=False, zeroline=False)
    fig.update_yaxes(range=[-4, 4], showgrid=False, zeroline=False, scaleanchor="x")
    fig.update_layout(height=470, margin=dict(l=20, r=20, t=50, b=70),
                      legend=dict(orientation="h", y=-0.12, yanchor="top", x=0))
    return fig


def hsc_output_figure(result) -> go.Figure:
    """HSC's output space: z = phi(x) of each point, and the boundary circle ||z|| = r."""
    from .toy import hsc_radius
    f = result.fits.get("hsc")
    fig = go.Figure()
    if f is None:
        return fig
    colours = {"nominal": "#1f77b4", "oe": "#d62728", "test anomalies": "#111111"}
    for name, z in f.outputs.items():
        fig.add_trace(go.Scatter(x=z[:, 0], y=z[:, 1], mode="markers", name=name,
                                 marker=dict(color=colours[name], size=5,
                                             symbol={"oe": "x", "test anomalies": "diamond-open"}.get(name, "circle"))))
    r = hsc_radius(f.threshold)
    t = np.linspace(0, 2 * np.pi, 200)
    fig.add_trace(go.Scatter(x=r * np.cos(t), y=r * np.sin(t), mode="lines", name="boundary",
                             line=dict(color="#ff7f0e", width=3)))
    lim = 3 * r  # OE points far out are clipped at the edge: the circle is the point
    fig.update_xaxes(range=[-lim, lim], title="z₁")
    fig.update_yaxes(range=[-lim, lim], title="z₂", scaleanchor="x")
    fig.update_layout(height=430, title="HSC: the network's output z = φ(x); anomaly score grows with ‖z‖",
                      margin=dict(l=40, r=20, t=60, b=40))
    return fig
