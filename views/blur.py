"""Blur: does outlier exposure still help when the OE images lose their fine detail?"""

import streamlit as st

from deepad import analysis, claims, make_config, plots
from deepad.preview import oe_images
from deepad.report import html_report
from ui import common as ui

OE_METHODS = ui.method_choices(oe_only=True)
DEFAULTS = {"blur_dataset": "digits", "blur_classes": [0], "blur_oe": "photos", "blur_oe_size": 128,
            "blur_methods": ["hsc", "bce"], "blur_sigmas": list(ui.BLUR_SIGMAS), "blur_seeds": "1",
            "blur_budget": "quick", "blur_epochs": 10, "blur_oe_jpeg": True, "blur_params": ""}
res = ui.results()
stored_rows = res.rows()
ui.url_state({**DEFAULTS, **(ui.stored.default_view("blur", "blur", stored_rows) or {})},
             options={"blur_dataset": ui.dataset_choices(stored_rows),
                      "blur_oe": ui.oe_choices(stored_rows), "blur_oe_size": ui.OE_SIZES,
                      "blur_methods": OE_METHODS, "blur_sigmas": ui.BLUR_SIGMAS,
                      "blur_budget": ui.BUDGETS})
s = st.session_state
EXPLAIN = ("Blurring removes the fine detail of the OE images; the paper finds that OE stops helping "
           "once the fine scales are gone, so it is their multiscale structure that makes a few "
           "natural images so informative.")

st.title("Blur: what makes a few natural images such good anomalies?")
st.markdown(EXPLAIN + " Each point is the mean AUROC over the chosen nominal classes and seeds; the "
            "band is ± one standard deviation.")
ui.stored.views_panel("blur", "blur", stored_rows, "a blur curve")

with st.sidebar:
    st.header("Experiment")
    ds, classes = ui.nominal_picker("blur", stored_rows)
    st.selectbox("OE data set", ui.oe_choices(stored_rows), key="blur_oe",
                 format_func=ui.dataset_label, help=ui.GLOSSARY["OE"])
    st.select_slider("Number of OE images", ui.OE_SIZES, key="blur_oe_size",
                     help="the paper's blur runs used 128 on CIFAR-10 and 64 on ImageNet")
    oe_jpeg = ui.oe_codec(ds if classes else None, s["blur_oe"], "blur_oe_jpeg")
    st.multiselect("Methods (with OE)", OE_METHODS, key="blur_methods", format_func=ui.method_label)
    st.multiselect("Blur sigmas (pixels)", ui.BLUR_SIGMAS, key="blur_sigmas", help=ui.GLOSSARY["blur"])
    st.text_input("Seeds", key="blur_seeds", help="e.g. 1, or 1-3, or 1, 4, 7")
    ui.budget_picker("blur")
ui.write_url(list(DEFAULTS))

configs = []
with ui.shown_errors("settings"):
    configs = [make_config(dataset=ds, normal_class=k, oe=s["blur_oe"], oe_size=s["blur_oe_size"],
                           blur_sigma=sigma, oe_jpeg=oe_jpeg, method=m, seed=seed,
                           **ui.config_args("blur", m))
               for m in s["blur_methods"] for sigma in s["blur_sigmas"] for k in s["blur_classes"]
               for seed in analysis.parse_ints(s["blur_seeds"])]
if not (s["blur_methods"] and s["blur_sigmas"] and s["blur_classes"]):
    st.info("Choose at least one class, method and blur sigma in the sidebar.")
if not configs:
    st.stop()


rows = ui.grid_rows(configs, key="blur", rows=stored_rows, label=lambda c: (
    f"{ui.methods.info(c.method).title}, class {c.normal_class}, sigma {c.blur_sigma:g}, seed {c.seed}"))
missing = [c for c in configs if c.key not in {r["key"] for r in rows}]

series = analysis.grid_curves(configs, rows, by="blur_sigma")
placed, ticks = analysis.log_axis(series)
fig = plots.curve_figure(placed, x_title="blur of the OE images, sigma in pixels (log scale)",
                         log_x=True, x_labels=ticks, title="AUROC against the blur of the OE images")
table = analysis.points_table(series, "blur sigma")

if len(missing) == len(configs):
    st.info(f"None of the {len(configs)} runs of this grid is stored or opened yet"
            + ("." if ui.viewer() else ": press **Compute the missing points** above, or pick a "
               "stored view at the top of the page."))
else:
    st.plotly_chart(fig, key="blur_figure")
    if missing:
        st.caption(f"{len(missing)} of {len(configs)} runs are not stored yet: points marked 'n/m "
                   f"runs' show the mean of the n stored runs.")
    st.caption(ui.GLOSSARY["AUROC"].capitalize() + f". Runs from "
               f"{ui.stored.source_note([r['key'] for r in rows], res)}.")
    verdict = claims.claim_blur(rows)
    if verdict.numbers:
        st.markdown(f"**The paper's claim**: {verdict.claim} **Here**: {verdict.evidence} "
                    f"({verdict.criterion}) → **{verdict.verdict}**.")

st.subheader("The same OE images at each blur")
with ui.shown_errors("OE images"):
    sigmas = sorted(s["blur_sigmas"])
    if ui.stored.data_missing([configs[0]]):
        st.caption("The OE images are " + ui.stored.data_missing([configs[0]]) + ".")
    else:
        for col, sigma in zip(st.columns(len(sigmas)), sigmas):
            col.image(plots.image_grid(oe_images(configs[0], k=8, blur_sigma=sigma), cols=4),
                      caption=f"sigma = {sigma:g}", width="stretch")
if len(missing) == len(configs):
    st.stop()

with st.expander("The points behind the figure"):
    st.dataframe(table, hide_index=True)
settings = {k: s.get(k) for k in DEFAULTS}
report = lambda: html_report(  # noqa: E731 - built only when the button is pressed
    "deepad: AUROC against the blur of the OE images",
    [("AUROC against the blur of the OE images", fig), ("What it shows", EXPLAIN), ("Points", table)],
    config={"settings": settings, "runs": {c.key: c.to_dict() for c in configs if c.key not in set(m.key for m in missing)}},
    intro=ui.GLOSSARY["AUROC"].capitalize() + ".")
d1, d2 = st.columns(2)
d1.download_button("Download report (HTML)", report, file_name="deepad-blur.html",
                   mime="text/html", on_click="ignore")
d2.download_button("Points (CSV, with run keys)", table.to_csv(index=False),
                   file_name="deepad-blur.csv", mime="text/csv", on_click="ignore")
