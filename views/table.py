"""One-vs-rest table: AUROC per nominal class and method, as in the paper's CIFAR-10 table."""

import streamlit as st

from deepad import analysis
from deepad.report import html_report
from ui import common as ui

SEEDS = list(range(10))
DEFAULTS = {"tab_dataset": "digits", "tab_methods": ["hsc", "bce", "deep-sad", "focal"],
            "tab_oe": "photos", "tab_oe_size": "all", "tab_seeds": [1], "tab_budget": "quick",
            "tab_epochs": 10, "tab_oe_jpeg": True, "tab_params": ""}
res = ui.results()
rows = res.rows()
ui.url_state({**DEFAULTS, **(ui.stored.default_view("table", "tab", rows) or {})},
             options={"tab_dataset": ui.dataset_choices(rows), "tab_methods": ui.method_choices(),
                      "tab_oe": ui.oe_choices(rows), "tab_oe_size": ui.OE_SIZES,
                      "tab_seeds": SEEDS, "tab_budget": ui.BUDGETS},
             ranges={"tab_epochs": (1, 1000)}, extra={"tab_oe": ui.is_path})
s = st.session_state

st.title("One-vs-rest table: every class as the nominal class")
st.markdown("Each row makes one class **nominal** (normal) and all other classes anomalies; each "
            "cell is the **AUROC in %** of one method, averaged over the seeds. The last row is the "
            "mean over classes, the paper's headline number.")
ui.link_notes()
ui.stored.views_panel("table", "tab", rows, "a one-vs-rest table")

with st.sidebar:
    st.header("Table")
    st.selectbox("Data set (nominal data)", ui.dataset_choices(rows), key="tab_dataset",
                 format_func=ui.dataset_label)
    ui.method_picker("tab_methods", ui.method_choices())
    oe = ui.oe_picker("tab_oe", rows)
    st.select_slider("Number of OE images", ui.OE_SIZES, key="tab_oe_size")
    oe_jpeg = ui.oe_codec(s["tab_dataset"], oe, "tab_oe_jpeg")
    st.multiselect("Seeds", SEEDS, key="tab_seeds", help="each cell is the mean over these seeds")
    ui.budget_picker("tab")
ui.write_url(list(DEFAULTS))
settings = {k[4:]: s.get(k) for k in DEFAULTS}

if not s["tab_methods"] or not s["tab_seeds"] or not oe:
    st.info("Choose at least one method and one seed, and the OE data, in the sidebar.")
    st.stop()
classes, configs = [], []
with ui.shown_errors("settings"):
    classes = ui.classes_of(s["tab_dataset"])
    configs = ui.page_configs("tab", dataset=s["tab_dataset"], normal_class=list(range(len(classes))),
                              method=s["tab_methods"], oe=oe, oe_size=[s["tab_oe_size"]],
                              oe_jpeg=oe_jpeg, seed=[int(x) for x in s["tab_seeds"]])
if not configs:
    st.stop()

grid = ui.Grid(configs, key="tab", rows=rows, noun="cells", label=lambda c: (
    f"{classes[c.normal_class]} · {ui.method_label(c.method)} · seed {c.seed}"))
if grid.missing:
    st.info(f"{len(grid.missing)} of {len(configs)} cells missing (class × method × seed); empty "
            f"cells have no run yet, and the mean row averages the classes that have one.")
    if not ui.viewer() and ui.stored.data_missing(grid.missing[:50]):
        for name in (s["tab_dataset"], oe):
            if ui.needs_download(name):
                ui.offer_download(name)
slot = st.empty()


def draw(grid_rows):
    shown = analysis.titled_table(grid_rows, classes, s["tab_methods"], ci=len(s["tab_seeds"]) > 1,
                                  paper=s["tab_dataset"] == "cifar10", with_oe=oe != "none")
    slot.dataframe(analysis.styled_table(shown), hide_index=True, width="stretch",
                   height=35 * (len(shown) + 1) + 3)
    return shown


shown = draw(grid.rows)
grid.train_pending(draw)
st.caption(ui.GLOSSARY["AUROC"].capitalize() + "; here in %. Runs from "
           + (ui.stored.source_note([r["key"] for r in grid.rows], res) or "nowhere yet") + ". "
           + (f"'± 95% CI': half the {analysis.CI_HELP}; 'seeds': how many (the mean row's are "
              f"over each seed's mean across the classes)." if len(s["tab_seeds"]) > 1 else
              "One seed per cell: no confidence interval (choose more seeds for the mean ± its "
              "95% CI over seeds)."))
if s["tab_dataset"] == "cifar10":
    st.caption("'paper': the published numbers (Ruff et al., 2020), which used **80 Million Tiny "
               "Images** as OE and **200 epochs**; 'Δ' = ours − paper, red where we are below and "
               "blue where we are above. Differences are expected with another OE set and with "
               "a shorter budget.")
keys = [r["key"] for r in grid.rows]
report = lambda: html_report(  # noqa: E731 - built only when the button is pressed
    "deepad: one-vs-rest table", [("AUROC (%) per nominal class", shown)],
    config={"settings": settings, "runs": keys},
    intro=ui.GLOSSARY["AUROC"].capitalize() + "; the table shows it in %.")
d1, d2 = st.columns(2)
d1.download_button("Download report (HTML)", report, file_name="deepad-table.html",
                   mime="text/html", on_click="ignore")
d2.download_button("Table (CSV)", shown.to_csv(index=False), file_name="deepad-table.csv",
                   mime="text/csv", on_click="ignore")
