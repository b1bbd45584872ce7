"""The Explore page's operating point: a target (how many false alarms to allow, how many
anomalies to catch, or the best F1) applied to every shown run; the counts it gives on held-out
test images; the images that change flag as it moves. The maths is deepad.operating."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from deepad import operating, plots
from deepad.errors import DeepadError

KINDS = {"tpr": "anomalies to catch (TPR)", "fpr": "false alarms allowed (FPR)", "f1": "best F1"}
RATES = [0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99]
DEFAULTS = {"op_kind": "tpr", "op_rate": 0.95}  # the runs' own threshold: 95% of anomalies caught
OPTIONS = {"op_kind": list(KINDS), "op_rate": RATES}
REFERENCE = operating.Target("tpr", 0.95)
_RATE_OF = {"tpr": 0.95, "fpr": 0.05}
_SLIDER = {"tpr": "Share of the anomalies to catch (true-positive rate)",
           "fpr": "Share of the normal images that may be flagged (false-positive rate)",
           "f1": "Rate (best F1 needs none)"}


def target() -> operating.Target:
    """The target the page's widgets (or its link) ask for."""
    s = st.session_state
    kind = s.get("op_kind", DEFAULTS["op_kind"])
    return operating.Target("f1") if kind == "f1" else operating.Target(
        kind, float(s.get("op_rate", DEFAULTS["op_rate"])))


def _kind_changed():
    s = st.session_state
    if s.get("op_kind") in _RATE_OF:
        s["op_rate"] = _RATE_OF[s["op_kind"]]


def points(runs: dict) -> dict:
    """{run key: (the operating point at target(), the default point at 95% TPR)}, each chosen
    on the run's validation split (its seed) and counted on its other test images; None for a
    run whose scores allow none."""
    tgt, out = target(), {}
    for k, r in runs.items():
        seed = int(r["config"].get("seed", 0))
        try:
            out[k] = tuple(operating.operating_point(r["labels"], r["scores"], t, seed=seed)
                           for t in (tgt, REFERENCE))
        except DeepadError:
            out[k] = None
    return out


def thresholds(names: dict, pts: dict) -> dict:
    """{run title: threshold} for the charts."""
    return {names[k]: p[0].threshold for k, p in pts.items() if p}


def with_thresholds(marks: dict, names: dict, pts: dict) -> dict:
    """The histogram marks plus a dashed line at each run's threshold."""
    out = {n: list(v) for n, v in marks.items()}
    for n, t in thresholds(names, pts).items():
        out.setdefault(n, []).append(("threshold", t))
    return out


def frame(names: dict, pts: dict) -> pd.DataFrame:
    """One row per run: threshold, counts and rates on the held-out test images."""
    rows = []
    for k, p in pts.items():
        if not p:
            continue
        op, c = p[0], p[0].evaluated
        rows.append({"method": names[k], "threshold": op.threshold, "TP": c.tp, "FP": c.fp,
                     "TN": c.tn, "FN": c.fn, "precision": c.precision, "recall (TPR)": c.recall,
                     "FPR": c.fpr, "F1": c.f1, "chosen on": op.n_chosen,
                     "counted on": op.n_evaluated})
    return pd.DataFrame(rows)


# the page's table, one row per measure (one column per run fits half the page's width)
ROWS = {"threshold": "threshold (score)", "TP": "anomalies caught (TP)",
        "FN": "anomalies missed (FN)", "FP": "false alarms (FP)", "TN": "normal images passed (TN)",
        "precision": "precision", "recall (TPR)": "recall (TPR)", "FPR": "false-positive rate",
        "F1": "F1", "chosen on": "images it was chosen on", "counted on": "images counted"}


def _markdown(df: pd.DataFrame) -> str:
    """A static table, measures down and runs across (markdown: appears at once, and leaves
    st.table to the metrics)."""
    def cell(col, v):
        if isinstance(v, float):
            return "—" if v != v else (f"{v:.4g}" if col == "threshold" else f"{v:.3f}")
        return str(v)
    runs = df["method"].tolist()
    head = "| measure | " + " | ".join(runs) + " |\n|---|" + "---:|" * len(runs) + "\n"
    return head + "".join(f"| {label} | " + " | ".join(cell(col, v) for v in df[col]) + " |\n"
                          for col, label in ROWS.items() if col in df)


def caption(pts: dict) -> str:
    op = next((p[0] for p in pts.values() if p), None)
    where = ("Each run's threshold is chosen on a validation split of its test set "
             f"({operating.VALIDATION_FRACTION:.0%} of each class, drawn with the run's seed) and "
             "counted on the other test images only, never on the images it was chosen on")
    if op is not None and op.chosen_on == "test":
        where = "Chosen and counted on all test images (a class is too small to hold some out)"
    return (f"An image is flagged **anomalous when its score is ≥ the threshold**. {where}. The "
            "circles on the curves and the dashed lines on the histograms mark each threshold "
            "(the curves show all test images).")


def panel(names: dict, pts: dict) -> None:
    """The operating-point control (keys op_kind, op_rate: in the page's URL) and its counts."""
    s = st.session_state
    st.markdown("**Operating point**: where each method draws the line between normal and anomalous")
    st.radio("Choose the threshold by", list(KINDS), key="op_kind", horizontal=True,
             format_func=KINDS.get, on_change=_kind_changed,
             help="TPR: the highest threshold that catches this share of the anomalies; FPR: the "
                  "lowest that flags at most this share of the normal images; F1: the best balance "
                  "of precision and recall.")
    st.select_slider(_SLIDER[s.get("op_kind", "tpr")], RATES, key="op_rate",
                     disabled=s.get("op_kind") == "f1", format_func=lambda r: f"{r:.0%}")
    df = frame(names, pts)
    if df.empty:
        st.caption("No operating point: these runs' stored test labels are of one kind only.")
        return
    st.markdown(_markdown(df))
    st.caption(caption(pts))
    notes = [f"{names[k]}: {p[0].note}" for k, p in pts.items() if p and p[0].note]
    if notes:
        st.caption("Note — " + "; ".join(notes) + ".")


def flipped(images: np.ndarray | None, r: dict, pair, k: int = 8) -> None:
    """The test images whose flag changes between the default point (95% TPR) and the chosen
    one, by kind (new false alarms, anomalies now caught, false alarms cleared, new misses)."""
    if not pair:
        return
    op, ref = pair
    f = operating.flips(r["scores"], r["labels"], ref.threshold, op.threshold)
    if not len(f["flagged"]) + len(f["unflagged"]):
        st.caption("No test image changes flag between this operating point and the default one "
                   "(95% of the anomalies caught): move the operating point above to see which do.")
        return
    lab = np.asarray(r["labels"])
    st.markdown(f"**Images that change flag** from the default point ({ref.target.text}, threshold "
                f"{ref.threshold:.4g}) to {op.target.text} (threshold {op.threshold:.4g}), among "
                f"all {len(lab)} test images: {len(f['flagged'])} newly flagged "
                f"({f['new_false_alarms']} new false alarms, {f['new_catches']} anomalies now "
                f"caught), {len(f['unflagged'])} no longer flagged ({f['cleared_false_alarms']} "
                f"false alarms cleared, {f['new_misses']} new misses).")
    if images is None:
        return
    groups = []
    for idx, kinds in ((f["flagged"], ("new false alarms", "anomalies now caught")),
                       (f["unflagged"], ("false alarms cleared", "new misses"))):
        for y, what in enumerate(kinds):  # label 0: normal images, 1: anomalies
            if len(sel := idx[lab[idx] == y]):
                groups.append((sel, what))
    for col, (idx, what) in zip(st.columns(max(2, len(groups))), groups):
        col.image(plots.image_grid(images[idx[:k]], cols=4),
                  caption=f"{what}: {len(idx)} (the first {min(k, len(idx))}, nearest the default "
                          f"threshold)")
