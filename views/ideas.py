"""Ideas: the paper's decision-boundary picture, live, on 2-D points."""

import streamlit as st

from deepad import plots
from deepad.report import html_report
from deepad.toy import SHAPES, ToySetup, fit_toy
from ui import common as ui

OE_COUNTS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256]
DEFAULTS = {"toy_shape": "moons", "toy_oe": 16, "toy_spread": 2.0, "toy_fpr": 5, "toy_seed": 0,
            "toy_added": ""}
ui.url_state(DEFAULTS, options={"toy_shape": list(SHAPES), "toy_oe": OE_COUNTS,
                                "toy_fpr": [1, 5, 10, 20]},
             ranges={"toy_spread": (0.5, 4.0), "toy_seed": (0, 10_000)})
s = st.session_state
s["toy_spread"] = round(float(s["toy_spread"]) * 4) / 4  # the slider's steps

st.title("The idea: a few example anomalies change the boundary")
ui.link_notes()
st.markdown(
    "Blue points are **normal** data. An **unsupervised** detector (Deep SVDD) only sees them and "
    "draws a tight region around them. Add a few **example anomalies** (outlier exposure, red "
    "crosses): a **binary classifier** (BCE, *supervised with OE*) learns to separate the two, and "
    "the **hypersphere classifier** (HSC, *unsupervised with OE*) sits in between: a classifier whose "
    "boundary is a sphere in the network's output space. Black diamonds are anomalies of a kind "
    "no method saw in training: they show how each boundary generalises.")

with st.sidebar:
    st.header("Toy data")
    st.selectbox("Shape of the normal data", list(SHAPES), key="toy_shape")
    st.select_slider("Number of example anomalies (OE points)", OE_COUNTS, key="toy_oe")
    st.slider("How far the OE points spread", 0.5, 4.0, step=0.25, key="toy_spread")
    st.select_slider("False alarms allowed (% of normal points outside the boundary)", [1, 5, 10, 20],
                     key="toy_fpr")
    st.number_input("Seed", min_value=0, max_value=10_000, step=1, key="toy_seed")
    st.caption("Add an anomaly at a point of your choice:")
    cx, cy = st.columns(2)
    ax = cx.number_input("x", -4.0, 4.0, 2.0, 0.25, key="toy_ax")
    ay = cy.number_input("y", -4.0, 4.0, 2.0, 0.25, key="toy_ay")
    b1, b2 = st.columns(2)
    if b1.button("Add anomaly", key="toy_add"):
        s["toy_added"] = ";".join(filter(None, [s["toy_added"], f"{ax:g},{ay:g}"]))
    if b2.button("Clear added", key="toy_clear"):
        s["toy_added"] = ""
ui.write_url(list(DEFAULTS))

added = ()
with ui.shown_errors("added anomalies"):
    added = tuple(tuple(float(v) for v in p.split(",")) for p in s["toy_added"].split(";") if p)
setup = ToySetup(shape=s["toy_shape"], n_oe=int(s["toy_oe"]), oe_spread=float(s["toy_spread"]),
                 seed=int(s["toy_seed"]), fpr=int(s["toy_fpr"]) / 100, extra_oe=added)


@st.cache_data(max_entries=32, show_spinner="training Deep SVDD, HSC and BCE on the points …")
def result_for(setup: ToySetup):
    return fit_toy(setup)


result = None
with ui.shown_errors("training"):
    result = result_for(setup)
if result is None:
    st.stop()

boundaries = plots.toy_figure(result)
st.subheader("Decision boundaries")
st.caption("Click anywhere in a panel to add an example anomaly there.")
event = st.plotly_chart(plots.toy_figure(result, clickable=True), width="stretch",
                        on_select="rerun", selection_mode="points", key="toy_chart")
clicked = [(round(p["x"], 2), round(p["y"], 2)) for p in (event.selection.points if event else [])
           if p.get("curve_number") is not None and "x" in p]
if clicked and clicked != s.get("_toy_clicked"):
    s["_toy_clicked"] = clicked
    s["toy_added"] = ";".join(filter(None, [s["toy_added"]] + [f"{x:g},{y:g}" for x, y in clicked]))
    st.rerun()
st.caption("Shading: each method's anomaly score (darker = more normal); orange line: its boundary at "
           f"{s['toy_fpr']}% false alarms. With no OE, only Deep SVDD can train; with OE, watch BCE's "
           "boundary bend toward the red crosses while HSC keeps a closed region.")
if result.fits.get("hsc") is not None:
    left, right = st.columns([3, 2])
    output_space = plots.hsc_output_figure(result)
    left.plotly_chart(output_space, width="stretch")
    right.markdown("**Inside HSC.** The network maps each point x to z = φ(x). HSC is trained so "
                   "normal points land near the centre and example anomalies far out; the anomaly "
                   "score grows with ‖z‖, so the boundary is a circle here, whatever its shape in "
                   "the plane.")
    right.markdown("**The three families** (the paper's terms): *unsupervised* (no anomalies seen), "
                   "*unsupervised with OE* (HSC, Deep SAD: anomalies push the normal region tight) "
                   "and *supervised with OE* (BCE, focal: a plain classifier).")

st.download_button("Download report (HTML)", lambda: html_report(
    "deepad: the idea in 2-D", [("Decision boundaries", boundaries)] + (
        [("HSC output space", plots.hsc_output_figure(result))] if result.fits.get("hsc") else []),
    config={"setup": setup.__dict__}), file_name="deepad-ideas.html", mime="text/html")
