"""Explore: one nominal class, one OE setting, several methods side by side."""

import streamlit as st

from ui import common as ui
from ui import explore_parts as parts
from ui import operating as op

DEFAULTS = {"dataset": "digits", "folder": "", "normal_class": "0", "oe": "photos", "oe_size": 64,
            "blur_sigma": 0, "methods": ["hsc", "bce"], "seed": 1, "budget": "quick",
            "epochs": 10, "device": "auto", "interactive": False, "oe_jpeg": True, "params": "",
            "behind": False,
            **op.DEFAULTS}
res = ui.results()
rows = res.rows()
ui.url_state({**DEFAULTS, **(ui.stored.default_view("explore", "", rows) or {})},
             options={"dataset": ui.dataset_choices(rows) + ["folder:"], "oe": ui.oe_choices(rows),
                      "oe_size": ui.OE_SIZES, "blur_sigma": ui.BLUR_SIGMAS, "budget": ui.BUDGETS,
                      "methods": ui.method_choices(), "device": ["auto", "cpu", "cuda", "mps"],
                      **op.OPTIONS},
             ranges={"seed": (0, 2 ** 31), "epochs": (1, 1000)},
             extra={"dataset": ui.is_path, "oe": ui.is_path})

st.title("Explore: which images does each method call anomalous?")
st.markdown("Pick a **nominal** (normal) class; every other class of the test set is an anomaly. "
            "Methods with **outlier exposure (OE)** also see a few example anomalies in training: "
            "random natural images that are *not* the test anomalies.")
ui.link_notes()
ui.stored.views_panel("explore", "", rows, "a comparison")

with st.sidebar:
    st.header("Experiment")
    ds, classes = parts.nominal(rows)
    oe = ui.oe_picker("oe", rows)
    st.select_slider("Number of OE images", ui.OE_SIZES, key="oe_size")
    st.select_slider("Blur of the OE images (sigma, pixels)", ui.BLUR_SIGMAS, key="blur_sigma",
                     help=ui.GLOSSARY["blur"])
    oe_jpeg = ui.oe_codec(ds if classes else None, oe, "oe_jpeg")
    ui.method_picker("methods", ui.method_choices())
    st.number_input("Seed", min_value=0, max_value=2 ** 31, step=1, key="seed")
    ui.budget_picker("")
    if not ui.viewer():
        st.selectbox("Device", ["auto", "cpu", "cuda", "mps"], key="device")
    train_box = st.container()
ui.write_url(list(DEFAULTS))
settings = {k: st.session_state.get(k) for k in DEFAULTS}  # for the report

if not st.session_state["methods"]:
    st.info("Choose at least one method in the sidebar.")
    st.stop()
configs = parts.configs_for(ds, oe, oe_jpeg) if ds and classes else []
if not configs:
    st.stop()
runs = parts.train_or_load(configs, ds, train_box)
if not runs:
    st.stop()

names = {k: ui.method_label(r["config"]["method"]) for k, r in runs.items()}
marks = parts.score_your_image(runs, names, ds) if ui.data_here(ds) else {}
points = op.points(runs)  # the operating point of the control under the charts, per run
table = parts.charts_and_metrics(runs, names, marks, res, points)
parts.images_behind(runs, names, configs, ds, res, points)
parts.downloads(runs, names, marks, table, settings, points)
