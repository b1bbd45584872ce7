"""OE samples: how many example anomalies does outlier exposure need?"""

import streamlit as st

from deepad import analysis, make_config, plots
from deepad.report import html_report
from ui import common as ui

OE_METHODS = ui.method_choices(oe_only=True)
DEFAULTS = {"oes_dataset": "digits", "oes_classes": [0], "oes_oe": "photos",
            "oes_methods": ["hsc", "bce"], "oes_sizes": [1, 4, 16, 64, "all"], "oes_seeds": "1",
            "oes_budget": "quick", "oes_epochs": 10, "oes_oe_jpeg": True}
ui.url_state(DEFAULTS, options={"oes_dataset": ui.dataset_choices(), "oes_oe": ui.oe_choices(),
                                "oes_methods": OE_METHODS, "oes_sizes": ui.OE_SIZES,
                                "oes_budget": ui.BUDGETS})
s = st.session_state

st.title("OE samples: how many example anomalies are enough?")
st.markdown("AUROC against the number of **outlier-exposure (OE)** images a method trains against, "
            "from 1 image up to the whole OE pool ('all'). Each point is the mean over the chosen "
            "nominal classes and seeds; the band is ± one standard deviation.")

with st.sidebar:
    st.header("Experiment")
    ds, classes = ui.nominal_picker("oes")
    st.selectbox("OE data set", ui.oe_choices(), key="oes_oe", format_func=ui.dataset_label,
                 help=ui.GLOSSARY["OE"])
    oe_jpeg = ui.oe_codec(ds if classes else None, s["oes_oe"], "oes_oe_jpeg")
    st.multiselect("Methods (with OE)", OE_METHODS, key="oes_methods", format_func=ui.method_label)
    st.multiselect("Numbers of OE images", ui.OE_SIZES, key="oes_sizes",
                   help="'all' = the whole OE pool")
    st.text_input("Seeds", key="oes_seeds", help="e.g. 1, or 1-3, or 1, 4, 7")
    ui.budget_picker("oes")
ui.write_url(list(DEFAULTS))

configs = []
with ui.shown_errors("settings"):
    budget = ui.budget_args("oes")
    configs = [make_config(dataset=ds, normal_class=k, oe=s["oes_oe"], oe_size=n, method=m,
                           seed=seed, oe_jpeg=oe_jpeg, **budget)
               for m in s["oes_methods"] for n in s["oes_sizes"] for k in s["oes_classes"]
               for seed in analysis.parse_ints(s["oes_seeds"])]
if not (s["oes_methods"] and s["oes_sizes"] and s["oes_classes"]):
    st.info("Choose at least one class, method and number of OE images in the sidebar.")
if not configs:
    st.stop()


rows = ui.grid_rows(configs, key="oes", label=lambda c: (
    f"{ui.methods.info(c.method).title}, class {c.normal_class}, {c.oe_size or 'all'} OE images, "
    f"seed {c.seed}"))
missing = [c for c in configs if c.key not in {r["key"] for r in rows}]

series = analysis.grid_curves(configs, rows, by="oe_size")
placed, ticks = analysis.log_axis(series)
fig = plots.curve_figure(placed, x_title="number of OE images (log scale; 'all' = the whole pool)",
                         log_x=True, x_labels=ticks, title="AUROC against the number of OE images")
table = analysis.points_table(series, "OE images")

left, right = st.columns([3, 1])
claim = ("The paper finds about 32 OE samples are enough on CIFAR-10 (AUROC close to that with all "
         "80 million) and about 64 on ImageNet-30.")
right.markdown(f"**The paper's claim.** {claim}")
here = analysis.compare_at(series, at=32, ref="all")
found = "; ".join(f"{c['name']}: {c['at_mean']:.3f} at {c['x']:g} vs {c['ref_mean']:.3f} with all"
                  for c in here)
if here:
    right.markdown(f"**Here** ({ds}, OE from {s['oes_oe']}): {found}.")
    if any(c["x"] != 32 for c in here):
        right.caption(("32 has no cached runs yet" if 32 in s["oes_sizes"] else "32 is not among the "
                       "chosen sizes") + ": the nearest plotted size is used instead.")
else:
    right.caption("Add 'all' (and 32) to the sizes and compute them to compare with this claim.")

if len(missing) == len(configs):
    left.info(f"None of the {len(configs)} runs of this grid is cached yet: press **Compute the "
              f"missing points** above.")
    st.stop()
left.plotly_chart(fig, key="oes_figure")
if missing:
    left.caption(f"{len(missing)} of {len(configs)} runs are not cached yet: points marked 'n/m "
                 f"runs' show the mean of the n cached runs; press **Compute the missing points**.")
left.caption(ui.GLOSSARY["AUROC"].capitalize() + ".")

with st.expander("The points behind the figure"):
    st.dataframe(table, hide_index=True)
settings = {k: s.get(k) for k in DEFAULTS}
report = lambda: html_report(  # noqa: E731 - built only when the button is pressed
    "deepad: AUROC against the number of OE samples",
    [("AUROC against the number of OE images", fig),
     ("The paper's claim", claim + (f" Here: {found}." if here else "")), ("Points", table)],
    config={"settings": settings, "runs": {c.key: c.to_dict() for c in configs if c.key not in set(m.key for m in missing)}},
    intro=ui.GLOSSARY["AUROC"].capitalize() + ".")
d1, d2 = st.columns(2)
d1.download_button("Download report (HTML)", report, file_name="deepad-oe-samples.html",
                   mime="text/html", on_click="ignore")
d2.download_button("Points (CSV, with run keys)", table.to_csv(index=False),
                   file_name="deepad-oe-samples.csv", mime="text/csv", on_click="ignore")
