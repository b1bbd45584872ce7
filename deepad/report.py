"""A self-contained HTML report: figures (interactive, plotly.js inlined, works offline), tables
and the configuration behind them, in one file to pass on."""

from __future__ import annotations

import datetime
import html
import json

import pandas as pd
import plotly.graph_objects as go


def _number(v: float) -> str:
    """At most 4 decimals, without trailing zeros (99.7, not 99.7000; 0.9123)."""
    return f"{v:.4f}".rstrip("0").rstrip(".")


def html_report(title: str, sections: list[tuple[str, object]], config: dict | None = None,
                intro: str = "") -> str:
    """sections: (heading, content) with content a plotly Figure, a list of Figures (drawn side
    by side, e.g. ROC beside precision-recall curves), a pandas DataFrame, or text."""
    parts, first_fig = [], True
    for heading, content in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, (list, tuple)) and content and all(isinstance(f, go.Figure)
                                                                  for f in content):
            row = []
            for fig in content:
                row.append('<div class="cell">' + fig.to_html(
                    full_html=False, include_plotlyjs=first_fig, config={"displaylogo": False})
                    + "</div>")
                first_fig = False
            parts.append('<div class="row">' + "".join(row) + "</div>")
        elif isinstance(content, go.Figure):
            parts.append(content.to_html(full_html=False, include_plotlyjs=first_fig,
                                         config={"displaylogo": False}))
            first_fig = False
        elif isinstance(content, pd.DataFrame):
            parts.append(content.to_html(index=False, float_format=_number, na_rep="",
                                         border=0, classes="table"))
        else:
            parts.append(f"<p>{html.escape(str(content))}</p>")
    cfg = ""
    if config:
        cfg = ("<h2>Configuration</h2><pre>" + html.escape(json.dumps(config, indent=1, default=str))
               + "</pre>")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
table.table {{ border-collapse: collapse; }} table.table td, table.table th {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
.row {{ display: flex; flex-wrap: wrap; gap: 1em; }} .cell {{ flex: 1 1 480px; min-width: 0; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }} .note {{ color: #555; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="note">Made with deepad on {stamp}. {html.escape(intro)}</p>
{''.join(parts)}
{cfg}
</body></html>"""
