"""Explore: one nominal class, one OE setting, several methods side by side."""

import pandas as pd
import streamlit as st

from deepad import analysis, make_config, plots
from deepad.report import html_report
from ui import common as ui
from ui.explore_parts import images_behind, score_your_image

DEFAULTS = {"dataset": "digits", "folder": "", "normal_class": "0", "oe": "photos", "oe_size": 64,
            "blur_sigma": 0, "methods": ["hsc", "bce"], "seed": 1, "budget": "quick",
            "epochs": 10, "device": "auto", "interactive": False, "oe_jpeg": True, "params": ""}
res = ui.results()
stored_rows = res.rows()
ui.url_state({**DEFAULTS, **(ui.stored.default_view("explore", "", stored_rows) or {})},
             options={"dataset": ui.dataset_choices(stored_rows) + ["folder:"],
                      "oe": ui.oe_choices(stored_rows), "oe_size": ui.OE_SIZES,
                      "blur_sigma": ui.BLUR_SIGMAS, "budget": ui.BUDGETS})

st.title("Explore: which images does each method call anomalous?")
st.markdown("Pick a **nominal** (normal) class; every other class of the test set is an anomaly. "
            "Methods with **outlier exposure (OE)** also see a few example anomalies in training: "
            "random natural images that are *not* the test anomalies.")
ui.stored.views_panel("explore", "", stored_rows, "a comparison")

with st.sidebar:
    st.header("Experiment")
    ds = st.selectbox("Data set (nominal data)", ui.dataset_choices(stored_rows) + ["folder:"],
                      key="dataset",
                      format_func=lambda n: "image folder…" if n == "folder:" else ui.dataset_label(n))
    if ds == "folder:":
        path = st.text_input("Image folder (PATH/<class>/ or PATH/train|test/<class>/)", key="folder")
        ds = f"folder:{path}" if path.strip() else None
    classes = []
    if ds:
        with ui.shown_errors("data set"):
            classes = ui.classes_of(ds)
    if classes:
        if st.session_state.get("normal_class") not in [str(i) for i in range(len(classes))]:
            st.session_state["normal_class"] = "0"
        st.selectbox("Nominal class", [str(i) for i in range(len(classes))], key="normal_class",
                     format_func=lambda i: f"{i}: {classes[int(i)]}")
    st.selectbox("OE data set", ui.oe_choices(stored_rows), key="oe", format_func=ui.dataset_label,
                 help=ui.GLOSSARY["OE"])
    st.select_slider("Number of OE images", ui.OE_SIZES, key="oe_size")
    st.select_slider("Blur of the OE images (sigma, pixels)", ui.BLUR_SIGMAS, key="blur_sigma",
                     help=ui.GLOSSARY["blur"])
    oe_jpeg = ui.oe_codec(ds if classes else None, st.session_state.get("oe"), "oe_jpeg")
    st.multiselect("Methods", ui.method_choices(), key="methods", format_func=ui.method_label)
    st.number_input("Seed", min_value=0, max_value=2 ** 31, step=1, key="seed")
    st.radio("Training budget", ["quick", "paper", "epochs"], key="budget", horizontal=True,
             help="quick: a CPU-friendly budget; paper: the paper's epochs; epochs: your number")
    if st.session_state["budget"] == "epochs":
        st.number_input("Epochs", min_value=1, max_value=1000, key="epochs")
    st.text_input("Method parameters", key="params", placeholder="e.g. pretrain_epochs=5",
                  help="NAME=VALUE, comma-separated, given to every method that takes it")
    train_clicked = False
    if not ui.viewer():
        st.selectbox("Device", ["auto", "cpu", "cuda", "mps"], key="device")
        train_clicked = st.button("Train", type="primary", width="stretch",
                                  help="train what is not cached; cached runs load at once")
ui.write_url(list(DEFAULTS))

s = st.session_state
configs, errors = [], False
if ds and classes:
    for m in s["methods"]:
        with ui.shown_errors(f"{m} settings"):
            info = ui.methods.info(m)
            uses_oe = info.oe != "never"
            configs.append(make_config(
                dataset=ds, normal_class=int(s["normal_class"]), oe=s["oe"] if uses_oe else "none",
                oe_size=s["oe_size"] if uses_oe else None,
                blur_sigma=s["blur_sigma"] if uses_oe else 0, oe_jpeg=oe_jpeg if uses_oe else None,
                method=m, seed=int(s["seed"]),
                preset="paper" if s["budget"] == "paper" else "quick",
                epochs=int(s["epochs"]) if s["budget"] == "epochs" else None,
                check_data=False, **ui.method_params("", m)))
if not s["methods"]:
    st.info("Choose at least one method in the sidebar.")
    st.stop()
if not configs:
    st.stop()

# Bundled data trains in seconds: show a finished comparison without a click.
auto = ds == "digits" and s["budget"] == "quick"
blocked = ui.stored.data_missing(configs)
runs = ui.get_runs(configs, train=(train_clicked or auto) and blocked is None,
                   labels=[ui.methods.info(c.method).title for c in configs])
missing = [c for c in configs if c.key not in runs]
if missing:
    how = ("this dashboard only shows results (viewer mode)" if ui.viewer() else
           f"training them needs the data, which are {blocked}" if blocked else
           "press **Train** in the sidebar")
    st.info(f"{len(missing)} of {len(configs)} runs are not stored yet "
            f"({', '.join(c.method for c in missing)}): {how}.")
    if blocked and ui.needs_download(ds) and not ui.viewer():
        ui.offer_download(ds)
if not runs:
    st.stop()

names = {k: ui.methods.info(r["config"]["method"]).title for k, r in runs.items()}
curves = [{"name": names[k], "labels": r["labels"], "scores": r["scores"]} for k, r in runs.items()]

marks = score_your_image(runs, names, ds) if ui.data_here(ds) else {}

# ------------------------------------------------------------------ figures
st.toggle("Interactive charts", key="interactive",
          help="Zoom and hover (Plotly). Off: the same charts as images, which appear at once; "
               "interactive charts load a large chart library first (a few seconds on a slow machine).")
left, right = st.columns(2)
if s["interactive"]:
    left.plotly_chart(plots.roc_figure(curves), width="stretch")
    right.plotly_chart(plots.histogram_figure(curves, marks=marks), width="stretch")
else:
    roc_png, hist_png = ui.chart_pngs(tuple(ui.run_version(k) for k in runs),
                                      tuple((n, tuple(v)) for n, v in marks.items()), curves)
    left.image(roc_png, width="stretch")
    right.image(hist_png, width="stretch")
left.caption(ui.GLOSSARY["AUROC"].capitalize() + " — the area under each curve.")
right.caption("Where the normal (blue) and anomalous (red) test images fall on each method's score "
              "scale; less overlap is better.")

table = pd.DataFrame([{
    "method": names[k], "AUROC": r["metrics"]["auroc"], "AUPRC": r["metrics"]["auprc"],
    "FPR at 95% TPR": r["metrics"]["fpr_at_95_tpr"],
    "training time (s)": r["metrics"]["train_seconds"],
    "epochs": r["config"]["epochs"], "cached": "no, trained now" if r["trained_here"] else "yes",
    "source": r["source"], "run key": k,
} for k, r in runs.items()])
st.subheader("Metrics")
# st.table, not st.dataframe: a static table appears at once, the interactive grid loads a library
st.table(table.style.format({"AUROC": "{:.4f}", "AUPRC": "{:.4f}", "FPR at 95% TPR": "{:.4f}",
                             "training time (s)": "{:.1f}"}).hide(axis="index"))
fresh = [names[k] for k, r in runs.items() if r["trained_here"]]
st.caption(" · ".join(f"**{m}**: {ui.GLOSSARY[m]}" for m in ("AUROC", "AUPRC", "FPR at 95% TPR")))
st.caption(f"Trained in this session: {', '.join(fresh) or 'none'} · loaded from "
           f"{ui.stored.source_note([k for k, r in runs.items() if not r['trained_here']], res) or 'nowhere'}: "
           f"{', '.join(names[k] for k, r in runs.items() if not r['trained_here']) or 'none'}.")

images_behind(runs, names, configs, ds, res)

# ------------------------------------------------------------------ downloads
def report():  # built only when the button is pressed (plotly.js makes it ~5 MB)
    return html_report(
        "deepad: explore", [("ROC curves", plots.roc_figure(curves)),
                            ("Score histograms", plots.histogram_figure(curves, marks=marks)),
                            ("Metrics", table)],
        config={"settings": {k: s.get(k) for k in DEFAULTS},
                "runs": {k: r["config"] for k, r in runs.items()}},
        intro=ui.GLOSSARY["AUROC"].capitalize() + ".")


d1, d2, d3 = st.columns(3)
d1.download_button("Download report (HTML)", report, file_name="deepad-explore.html", mime="text/html")
d2.download_button("Metrics (CSV)", table.to_csv(index=False), file_name="deepad-metrics.csv",
                   mime="text/csv")
d3.download_button("Per-sample scores (CSV)", lambda: analysis.scores_frame(runs).to_csv(index=False),
                   file_name="deepad-scores.csv", mime="text/csv")
