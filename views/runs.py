"""Runs: every trained run in the cache; open one, compare two, export or delete them."""

import streamlit as st

from deepad import analysis, browse
from ui import browser
from ui import common as ui
from ui import runs as parts

DEFAULTS = {"runs_datasets": [], "runs_methods": [], "runs_text": "", "runs_selected": [],
            **browser.DEFAULTS}

st.title("Runs: everything trained so far")
st.markdown("Every run in the local run store (from this dashboard and from the command line) and "
            "in the opened result bundles (the **source** column). Select runs (tick rows in the "
            "table or pick them below) to **open** one, **compare** two, **export** them"
            + ("" if ui.viewer() else " or **delete** them") + ". Filter on any setting, group "
            "runs (mean and 95% CI over seeds) and draw them in parallel coordinates.")
parts.open_results()

rows, failed = [], []
res = ui.results()
with ui.shown_errors("run index"):
    rows, failed = res.rows(), ui.store().query(status="failed")
everything = analysis.runs_frame(rows)
frame = browse.browse_frame(rows)
keys = list(everything["key"])
offered = browser.options(frame)
ui.url_state(DEFAULTS, options={"runs_selected": keys, **offered})
for k, opts in (("runs_datasets", sorted(set(everything["dataset"]))),
                ("runs_methods", sorted(set(everything["method"]))), ("runs_selected", keys),
                ("runs_where", offered["runs_where"])):
    parts.keep_offered(k, opts)

with st.sidebar:
    st.header("Filter runs")
    st.multiselect("Data sets", sorted(set(everything["dataset"])), key="runs_datasets",
                   placeholder="all")
    st.multiselect("Methods", sorted(set(everything["method"])), key="runs_methods",
                   placeholder="all")
    st.text_input("Run key contains", key="runs_text")
    browser.sidebar(frame)
ui.write_url(list(DEFAULTS))

if not rows:
    st.info("No runs yet: train some on the other pages or with `python -m deepad run ...`, or "
            "open a result bundle above.")
else:
    filtered = browser.kept(frame)
    parts.runs_table(rows, keys, keep=set(filtered["key"]))
    browser.groups_and_plot(filtered, st.session_state["runs_selected"])

runs = {}
for k in st.session_state.get("runs_selected", []):
    with ui.shown_errors(f"run {k}"):
        if (data := ui.run_data(k)) is not None:
            runs[k] = data
if runs:
    browser.explore_link([r for r in rows if r["key"] in runs])
if len(runs) == 1:
    parts.one_run(*next(iter(runs.items())))
elif len(runs) == 2:
    parts.compare(runs)
elif len(runs) > 2:
    st.info("Select one run to open it or two to compare them; export and delete work on all.")
if runs:
    parts.export_or_delete(runs, res)
if failed:
    parts.failed_table(failed)
