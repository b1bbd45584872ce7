"""The Runs page's browser: filters on any setting, sorting, groups with the mean and 95% CI over
seeds of a metric, parallel coordinates of settings against a metric, and the link that opens a
selection on Explore. The data work is deepad.browse's."""

from __future__ import annotations

import streamlit as st

from deepad import analysis, browse, plots
from ui import stored

DEFAULTS = {"runs_where": [], "runs_sort": "created", "runs_desc": True, "runs_group": [],
            "runs_metric": "auroc", "runs_parcoords": False}
SORTS = [c for c in analysis.RUN_COLUMNS if c != "source"]
OWN_FILTERS = ("dataset", "method")  # the sidebar's own pickers
NOT_PLOTTED = ("dataset_id", "oe_id")  # content hashes: the data sets' names say it


def options(frame) -> dict:
    """The URL's choices for the browser's widgets (url_state)."""
    return {"runs_where": browse.where_options(frame, exclude=OWN_FILTERS), "runs_sort": SORTS,
            "runs_group": browse.FIELDS, "runs_metric": list(browse.METRICS)}


def _where_label(item: str) -> str:
    f, _, lab = item.partition("=")
    return f"{browse.title(f)} = {lab}"


def sidebar(frame) -> None:
    """The filter on any other setting, and the sort order (in the sidebar's 'Filter runs')."""
    st.multiselect("Other settings", browse.where_options(frame, exclude=OWN_FILTERS),
                   key="runs_where", format_func=_where_label, placeholder="any",
                   help="keep runs with these values: values of one setting are alternatives, "
                        "different settings all apply (e.g. seed = 1, seed = 2, OE images = all)")
    st.selectbox("Sort by", SORTS, key="runs_sort", format_func=lambda c: browse.title(c)
                 if c != "created" else "when stored")
    st.checkbox("Descending", key="runs_desc")


def kept(frame):
    """The browse frame's runs that pass every filter of the sidebar."""
    s = st.session_state
    out = browse.filter_frame(frame, browse.parse_where(s["runs_where"]))
    if s.get("runs_datasets"):
        out = out[out["dataset"].isin(s["runs_datasets"])]
    if s.get("runs_methods"):
        out = out[out["method"].isin(s["runs_methods"])]
    if s.get("runs_text", "").strip():
        out = out[out["key"].str.contains(s["runs_text"].strip(), case=False, regex=False)]
    return out


def sort(shown):
    """The runs table (analysis.runs_frame) in the sidebar's order."""
    s = st.session_state
    return browse.sort_frame(shown, s["runs_sort"], s["runs_desc"]).reset_index(drop=True)


def groups_and_plot(frame, selected: list[str]) -> None:
    """Group the filtered runs by one or two settings (mean, 95% CI over seeds, count of a metric)
    and, on request, draw them (or the selected runs, when two or more) in parallel coordinates."""
    s = st.session_state
    st.subheader("Group and plot the filtered runs")
    c1, c2, c3 = st.columns([3, 2, 2])
    c1.multiselect("Group by (one or two settings)", browse.FIELDS, key="runs_group",
                   max_selections=2, format_func=browse.title, placeholder="no grouping")
    c2.selectbox("Metric", list(browse.METRICS), key="runs_metric", format_func=browse.title)
    c3.toggle("Parallel coordinates", key="runs_parcoords",
              help="one line per run across the settings that vary, coloured by the metric")
    metric = s["runs_metric"]
    if s["runs_group"]:
        table = browse.group_frame(frame, s["runs_group"], metric)
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.4f")
                                    for c in table.columns[len(s["runs_group"]):-2]})
        st.caption(f"{len(table)} groups of {len(frame)} runs. Mean: over seeds, each seed's runs "
                   f"averaged first; {analysis.CI_HELP} ('1 seed': no interval).")
    if s["runs_parcoords"]:
        chosen = frame[frame["key"].isin(selected)] if len(selected) >= 2 else frame
        axes = [f for f in browse.varying(chosen) if f not in NOT_PLOTTED]
        have = chosen[~chosen[metric].isna()]
        if have.empty:
            st.info("No run to draw: the filters keep none with this metric.")
            return
        st.plotly_chart(plots.parcoords_figure(browse.parcoords_dimensions(have, axes, metric),
                                               have[metric], browse.title(metric)),
                        key=f"runs_parcoords_{len(have)}")
        st.caption(f"{len(have)} {'selected' if len(selected) >= 2 else 'filtered'} runs; axes: "
                   f"the settings that vary among them ({', '.join(map(browse.title, axes)) or 'none'})"
                   f" and {browse.title(metric)}. Select two or more runs to draw only those.")


def explore_link(rows: list[dict]) -> None:
    """A link that opens the selected runs side by side on Explore, or why it cannot."""
    view, why = browse.explore_view(rows)
    if view is None:
        st.caption(why)
        return
    page, params = stored.view_link(view)
    st.page_link(page, icon="🔎", query_params=params,
                 label=f"Compare {'the ' + str(len(rows)) + ' selected runs' if len(rows) > 1 else 'it'}"
                       f" on Explore")
