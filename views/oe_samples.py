"""OE samples: how many example anomalies does outlier exposure need?"""

import streamlit as st

from deepad import analysis, claims, make_config, plots
from deepad.report import html_report
from ui import common as ui

OE_METHODS = ui.method_choices(oe_only=True)
DEFAULTS = {"oes_dataset": "digits", "oes_classes": [0], "oes_oe": "photos",
            "oes_methods": ["hsc", "bce"], "oes_sizes": [1, 4, 16, 64, "all"], "oes_seeds": "1",
            "oes_budget": "quick", "oes_epochs": 10, "oes_oe_jpeg": True, "oes_params": ""}
res = ui.results()
stored_rows = res.rows()
ui.url_state({**DEFAULTS, **(ui.stored.default_view("oe-samples", "oes", stored_rows) or {})},
             options={"oes_dataset": ui.dataset_choices(stored_rows),
                      "oes_oe": ui.oe_choices(stored_rows), "oes_methods": OE_METHODS,
                      "oes_sizes": ui.OE_SIZES, "oes_budget": ui.BUDGETS})
s = st.session_state

st.title("OE samples: how many example anomalies are enough?")
st.markdown("AUROC against the number of **outlier-exposure (OE)** images a method trains against, "
            "from 1 image up to the whole OE pool ('all'). Each point is the mean over the chosen "
            "nominal classes and seeds; the band is ± one standard deviation.")
ui.stored.views_panel("oe-samples", "oes", stored_rows, "an OE-size curve")

with st.sidebar:
    st.header("Experiment")
    ds, classes = ui.nominal_picker("oes", stored_rows)
    st.selectbox("OE data set", ui.oe_choices(stored_rows), key="oes_oe",
                 format_func=ui.dataset_label, help=ui.GLOSSARY["OE"])
    oe_jpeg = ui.oe_codec(ds if classes else None, s["oes_oe"], "oes_oe_jpeg")
    st.multiselect("Methods (with OE)", OE_METHODS, key="oes_methods", format_func=ui.method_label)
    st.multiselect("Numbers of OE images", ui.OE_SIZES, key="oes_sizes",
                   help="'all' = the whole OE pool")
    st.text_input("Seeds", key="oes_seeds", help="e.g. 1, or 1-3, or 1, 4, 7")
    ui.budget_picker("oes")
ui.write_url(list(DEFAULTS))

configs = []
with ui.shown_errors("settings"):
    configs = [make_config(dataset=ds, normal_class=k, oe=s["oes_oe"], oe_size=n, method=m,
                           seed=seed, oe_jpeg=oe_jpeg, **ui.config_args("oes", m))
               for m in s["oes_methods"] for n in s["oes_sizes"] for k in s["oes_classes"]
               for seed in analysis.parse_ints(s["oes_seeds"])]
if not (s["oes_methods"] and s["oes_sizes"] and s["oes_classes"]):
    st.info("Choose at least one class, method and number of OE images in the sidebar.")
if not configs:
    st.stop()


rows = ui.grid_rows(configs, key="oes", rows=stored_rows, label=lambda c: (
    f"{ui.methods.info(c.method).title}, class {c.normal_class}, {c.oe_size or 'all'} OE images, "
    f"seed {c.seed}"))
missing = [c for c in configs if c.key not in {r["key"] for r in rows}]

series = analysis.grid_curves(configs, rows, by="oe_size")
placed, ticks = analysis.log_axis(series)
fig = plots.curve_figure(placed, x_title="number of OE images (log scale; 'all' = the whole pool)",
                         log_x=True, x_labels=ticks, title="AUROC against the number of OE images")
table = analysis.points_table(series, "OE images")

left, right = st.columns([3, 1])
at = 64 if claims.profile_of(ds) == "imagenet" else 32
claim = ("The paper finds about 32 OE samples are enough on CIFAR-10 (AUROC close to that with all "
         "80 million) and about 64 on ImageNet-30.")
right.markdown(f"**The paper's claim.** {claim}")
verdict = claims.enough_in(rows, ds, at) if rows else None
found = ""
if verdict is not None and verdict.numbers:
    found = verdict.evidence
    right.markdown(f"**Here** ({ui.dataset_label(ds)}, OE {ui.dataset_label(s['oes_oe'])}): "
                   f"{found} With {at} samples within {claims.ENOUGH_POINTS:g} points of all: "
                   f"**{verdict.verdict}**.")
    if any(n["at"] != at for n in verdict.numbers.values()):
        right.caption(f"{at} has no stored runs in this grid: the nearest size is used instead.")
else:
    right.caption(f"Add 'all' (and {at}) to the sizes to compare with this claim.")
right.caption("All the paper's claims, checked against the stored runs: the **Claims** page.")

if len(missing) == len(configs):
    left.info(f"None of the {len(configs)} runs of this grid is stored or opened yet"
              + ("." if ui.viewer() else ": press **Compute the missing points** above, or pick "
                 "a stored view at the top of the page."))
    st.stop()
left.plotly_chart(fig, key="oes_figure")
if missing:
    left.caption(f"{len(missing)} of {len(configs)} runs are not stored yet: points marked 'n/m "
                 f"runs' show the mean of the n stored runs.")
left.caption(ui.GLOSSARY["AUROC"].capitalize() + f". Runs from {ui.stored.source_note([r['key'] for r in rows], res)}.")

with st.expander("The points behind the figure"):
    st.dataframe(table, hide_index=True)
settings = {k: s.get(k) for k in DEFAULTS}
report = lambda: html_report(  # noqa: E731 - built only when the button is pressed
    "deepad: AUROC against the number of OE samples",
    [("AUROC against the number of OE images", fig),
     ("The paper's claim", claim + (f" Here: {found}" if found else "")), ("Points", table)],
    config={"settings": settings, "runs": {c.key: c.to_dict() for c in configs if c.key not in set(m.key for m in missing)}},
    intro=ui.GLOSSARY["AUROC"].capitalize() + ".")
d1, d2 = st.columns(2)
d1.download_button("Download report (HTML)", report, file_name="deepad-oe-samples.html",
                   mime="text/html", on_click="ignore")
d2.download_button("Points (CSV, with run keys)", table.to_csv(index=False),
                   file_name="deepad-oe-samples.csv", mime="text/csv", on_click="ignore")
