"""One-vs-rest table: AUROC per nominal class and method, as in the paper's CIFAR-10 table."""

import streamlit as st

from deepad import analysis, make_config
from deepad.report import html_report
from ui import common as ui

SEEDS = list(range(10))
DEFAULTS = {"tab_dataset": "digits", "tab_methods": ["hsc", "bce", "deep-sad", "focal"],
            "tab_oe": "photos", "tab_oe_size": "all", "tab_seeds": [1], "tab_budget": "quick",
            "tab_epochs": 10, "tab_oe_jpeg": True, "tab_params": ""}
res = ui.results()
stored_rows = res.rows()
ui.url_state({**DEFAULTS, **(ui.stored.default_view("table", "tab", stored_rows) or {})},
             options={"tab_dataset": ui.dataset_choices(stored_rows),
                      "tab_methods": ui.method_choices(), "tab_oe": ui.oe_choices(stored_rows),
                      "tab_oe_size": ui.OE_SIZES, "tab_seeds": SEEDS, "tab_budget": ui.BUDGETS})

st.title("One-vs-rest table: every class as the nominal class")
st.markdown("Each row makes one class **nominal** (normal) and all other classes anomalies; each "
            "cell is the **AUROC in %** of one method, averaged over the seeds. The last row is the "
            "mean over classes, the paper's headline number.")
ui.stored.views_panel("table", "tab", stored_rows, "a one-vs-rest table")

with st.sidebar:
    st.header("Table")
    st.selectbox("Data set (nominal data)", ui.dataset_choices(stored_rows), key="tab_dataset",
                 format_func=ui.dataset_label)
    st.multiselect("Methods", ui.method_choices(), key="tab_methods", format_func=ui.method_label)
    st.selectbox("OE data set", ui.oe_choices(stored_rows), key="tab_oe",
                 format_func=ui.dataset_label, help=ui.GLOSSARY["OE"])
    st.select_slider("Number of OE images", ui.OE_SIZES, key="tab_oe_size")
    oe_jpeg = ui.oe_codec(st.session_state["tab_dataset"], st.session_state["tab_oe"], "tab_oe_jpeg")
    st.multiselect("Seeds", SEEDS, key="tab_seeds", help="each cell is the mean over these seeds")
    ui.budget_picker("tab")
ui.write_url(list(DEFAULTS))

s = st.session_state
if not s["tab_methods"] or not s["tab_seeds"]:
    st.info("Choose at least one method and one seed in the sidebar.")
    st.stop()

classes, configs, ok = [], [], False
with ui.shown_errors("settings"):
    classes = ui.classes_of(s["tab_dataset"])
    for k in range(len(classes)):
        for m in s["tab_methods"]:
            uses_oe = ui.methods.info(m).oe != "never"
            for seed in s["tab_seeds"]:
                configs.append(make_config(
                    dataset=s["tab_dataset"], normal_class=k, oe=s["tab_oe"] if uses_oe else "none",
                    oe_size=s["tab_oe_size"] if uses_oe else None, method=m, seed=int(seed),
                    oe_jpeg=oe_jpeg if uses_oe else None,
                    **ui.config_args("tab", m)))
    ok = True
if not ok:
    st.stop()

labels = [f"class {classes[c.normal_class]} · {c.method} · seed {c.seed}" for c in configs]
status = st.container()
runs = ui.get_runs(configs, train=False, labels=labels)
missing = [(c, lab) for c, lab in zip(configs, labels) if c.key not in runs]
blocked = ui.stored.data_missing([c for c, _ in missing][:50]) if missing else None
if missing and not ui.viewer() and blocked is None and status.button(
        "Compute missing cells", type="primary",
        help="train the missing runs one after another; each is stored as soon as it is done, so "
             "stopping loses nothing"):
    runs.update(ui.get_runs([c for c, _ in missing], train=True, labels=[lab for _, lab in missing]))
    missing = [(c, lab) for c, lab in missing if c.key not in runs]
if blocked is None:
    ui.background_controls([c for c, _ in missing], key="tab_background")
if missing:
    why = (" This dashboard only shows results (viewer mode)." if ui.viewer() else
           f" Their data are {blocked}." if blocked else "")
    status.info(f"{len(missing)} of {len(configs)} cells missing (class × method × seed); empty "
                f"cells have no run yet, and the mean row averages the classes that have one.{why}")
    if blocked and not ui.viewer():
        for name in (s["tab_dataset"], s["tab_oe"]):
            if ui.needs_download(name):
                ui.offer_download(name)

table = analysis.one_vs_rest_table(
    [{"method": r["config"]["method"], "normal_class": r["config"]["normal_class"],
      "auroc": r["metrics"]["auroc"]} for r in runs.values()], classes, s["tab_methods"])
shown = (analysis.paper_comparison(table, with_oe=s["tab_oe"] != "none")
         if s["tab_dataset"] == "cifar10" else table)
st.dataframe(analysis.styled_table(shown), hide_index=True, width="stretch",
             height=min(38 * (len(shown) + 1) + 3, 800))
st.caption(ui.GLOSSARY["AUROC"].capitalize() + "; here in %. Runs from "
           + (ui.stored.source_note(list(runs), res) or "nowhere yet") + ".")
if s["tab_dataset"] == "cifar10":
    st.caption("'paper': the published numbers (Ruff et al., 2020), which used **80 Million Tiny "
               "Images** as OE and **200 epochs**; 'ours − paper' is red where we are below and "
               "blue where we are above. Differences are expected with another OE set and with "
               "the quick budget.")

settings = {k[4:]: s.get(k) for k in DEFAULTS}
report = lambda: html_report(  # noqa: E731 - built only when the button is pressed
    "deepad: one-vs-rest table", [("AUROC (%) per nominal class", shown)],
    config={"settings": settings, "runs": [c.key for c in configs if c.key in runs]},
    intro=ui.GLOSSARY["AUROC"].capitalize() + "; the table shows it in %.")
d1, d2 = st.columns(2)
d1.download_button("Download report (HTML)", report, file_name="deepad-table.html", mime="text/html")
d2.download_button("Table (CSV)", shown.to_csv(index=False), file_name="deepad-table.csv",
                   mime="text/csv")
