"""What the two curve pages (OE samples, Blur) share: opening on a link or a stored view, the
grid of runs, the curve (kept on screen and growing while missing runs train), the points behind
it and the downloads. Each page says only what it varies and what it claims."""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from deepad import analysis, plots
from deepad.report import html_report
from ui import pickers, stored
from ui.messages import GLOSSARY, shown_errors
from ui.state import link_notes, url_state
from ui.training import Grid


def open_page(page: str, prefix: str, defaults: dict, options: dict, ranges: dict | None = None):
    """Seed the page's widgets (a link, else its largest stored view, else `defaults`); returns
    (Results, all stored rows)."""
    res = stored.results()
    rows = res.rows()
    options = {f"{prefix}_dataset": pickers.dataset_choices(rows),
               f"{prefix}_oe": pickers.oe_choices(rows), f"{prefix}_budget": pickers.BUDGETS,
               **options}
    url_state({**defaults, **(stored.default_view(page, prefix, rows) or {})}, options=options,
              ranges={f"{prefix}_epochs": (1, 1000), **(ranges or {})},
              extra={f"{prefix}_oe": pickers.is_path})
    return res, rows


def intro(page: str, prefix: str, rows: list, what: str) -> None:
    """What a newcomer sees first under the title: what the link could not restore, and the
    stored results the page can show without training."""
    link_notes()
    stored.views_panel(page, prefix, rows, what)


@dataclass
class Curve:
    """One curve page's grid: configs along `axis` ('oe_size', 'blur_sigma')."""

    prefix: str
    axis: str
    x_name: str            # e.g. 'OE images' (the table's column)
    x_title: str           # the figure's x axis
    title: str             # the figure's title
    configs: list
    rows: list
    label: object          # cfg -> a run's name on its progress bar
    report_title: str
    file_stem: str
    settings: dict = field(default_factory=dict)

    def show(self, res, side=None, explain: str = "") -> list:
        """The compute controls, the curve, its caption, the points and downloads. `side(rows)`
        draws the claim box beside the curve. Returns the stored rows of the grid."""
        grid = Grid(self.configs, key=self.prefix, label=self.label, rows=self.rows)
        left, right = st.columns([3, 1])
        chart, note = left.empty(), left.container()
        right_box = right.empty()

        def draw(rows):
            series = analysis.grid_curves(self.configs, rows, by=self.axis)
            placed, ticks = analysis.log_axis(series)
            fig = plots.curve_figure(placed, x_title=self.x_title, log_x=True, x_labels=ticks,
                                     title=self.title)
            stored_n = len({r["key"] for r in rows})
            if stored_n:
                chart.plotly_chart(fig, key=f"{self.prefix}_figure_{stored_n}")
            else:
                chart.info(f"None of the {len(self.configs)} runs of this grid is stored or "
                           f"opened yet" + ("." if stored.viewer() else
                                            ": compute them above, or pick a stored view at the "
                                            "top of the page."))
            if side:
                with right_box.container():
                    side(rows)
            return series, fig

        series, fig = draw(grid.rows)
        with note:
            if grid.rows and grid.missing:
                st.caption(f"{len(grid.missing)} of {len(self.configs)} runs are not stored yet: "
                           f"points marked 'n/m runs' show the mean of the n stored runs.")
            if grid.rows:
                st.caption(GLOSSARY["AUROC"].capitalize() + ". Error bars: the " + analysis.CI_HELP
                           + " (each seed's value: its mean over the classes); a point with one "
                           "seed has none, and says '1 seed' in its hover. Runs from "
                           + stored.source_note([r["key"] for r in grid.rows], res) + ".")
        grid.train_pending(draw)
        if not grid.rows:
            return grid.rows
        table = analysis.points_table(series, self.x_name)
        with st.expander("The points behind the figure"):
            st.dataframe(table, hide_index=True)
        keys = {r["key"] for r in grid.rows}
        settings = dict(self.settings)  # read now: a download runs outside the script
        report = lambda: html_report(  # noqa: E731 - built only when the button is pressed
            self.report_title, [(self.title, fig)] + ([("What it shows", explain)] if explain else [])
            + [("Points", table)],
            config={"settings": settings,
                    "runs": {c.key: c.to_dict() for c in self.configs if c.key in keys}},
            intro=GLOSSARY["AUROC"].capitalize() + ".")
        d1, d2 = st.columns(2)
        d1.download_button("Download report (HTML)", report, file_name=f"{self.file_stem}.html",
                           mime="text/html", on_click="ignore")
        d2.download_button("Points (CSV, with run keys)", table.to_csv(index=False),
                           file_name=f"{self.file_stem}.csv", mime="text/csv", on_click="ignore")
        return grid.rows


def seeds(text: str) -> list[int]:
    from deepad.parsing import parse_ints
    return parse_ints(text, name="seeds", flag=False, sort=True)


def configs_of(prefix: str, x_axis: str, xs: list, *, classes, seed_text, **axes) -> list:
    """The curve page's runs (x_axis: the Grid field on the x axis, e.g. oe_size), inside an
    error box; [] on bad settings."""
    from ui.pickers import page_configs
    out = []
    with shown_errors("settings"):
        out = page_configs(prefix, **{x_axis: list(xs)}, normal_class=list(classes),
                           seed=seeds(seed_text), **axes)
    return out
