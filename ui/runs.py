"""The Runs page's parts: open a result bundle, the table of runs, one run opened, two runs
compared, export and deletion of a selection, the failed runs."""

from __future__ import annotations

import json
from functools import partial

import streamlit as st

from deepad import analysis, plots
from ui import browser
from ui import common as ui

NUM = st.column_config.NumberColumn


def keep_offered(key: str, options: list) -> None:
    """Drop choices a widget no longer offers (a deleted run, a stale link) before it is drawn."""
    if key in st.session_state and any(v not in options for v in st.session_state[key]):
        st.session_state[key] = [v for v in st.session_state[key] if v in options]


def _picked(table_key: str, visible: list[str]) -> None:
    """Table row selection -> the selected keys (keeping selected runs the filters hide)."""
    rows = st.session_state[table_key]["selection"]["rows"]
    hidden = [k for k in st.session_state["runs_selected"] if k not in visible]
    st.session_state["runs_selected"] = hidden + [visible[i] for i in rows]


def _delete(keys: list[str]) -> None:
    with ui.shown_errors("delete"):
        for k in keys:
            ui.store().delete(k)  # runs from bundles are not offered for deletion
        ui._run_data.clear()  # (keyed by run versions: only to free the memory at once)
        ui._detector.clear()
        st.session_state["runs_selected"] = [k for k in st.session_state["runs_selected"] if k not in keys]
        st.session_state["runs_confirm"] = False
        st.session_state["runs_version"] = st.session_state.get("runs_version", 0) + 1  # fresh table
        st.toast(f"deleted {len(keys)} run(s)")


def open_results() -> None:
    """The expander that opens an uploaded result bundle for this session."""
    with st.expander("Open results (a result bundle)", expanded=False):
        st.caption("A .zip made with `python -m deepad bundle export` (or the **Result bundle** "
                   "button below): its runs appear on every page of this session, read-only, beside "
                   "the local ones. Nothing is written to the local store; `python -m deepad bundle "
                   "import FILE` does that.")
        up = st.file_uploader("Result bundle", type=["zip"], key="runs_bundle_upload")
        if up is not None and st.session_state.get("_runs_opened") != (up.name, up.size):
            with ui.shown_errors("result bundle"):
                st.session_state["_runs_opened"] = (up.name, up.size)
                st.success(ui.stored.open_upload(up.name, up.getvalue()))
        for err in ui.stored.bundle_errors():
            st.warning(f"not opened: {err}")


def runs_table(rows: list[dict], keys: list[str], keep=None) -> None:
    """The filtered table of runs (ticking rows selects them; `keep`: the keys the browser's
    filters keep, None: all), in the sidebar's order, and the multiselect of the selection."""
    s = st.session_state
    shown = analysis.runs_frame(rows, s["runs_datasets"], s["runs_methods"], s["runs_text"])
    if keep is not None:
        shown = shown[shown["key"].isin(keep)]
    shown = browser.sort(shown)
    table_key = f"runs_table_{s.get('runs_version', 0)}"
    st.caption(f"{len(shown)} of {len(rows)} runs; click a column header to sort.")
    TEXT = st.column_config.TextColumn
    st.dataframe(analysis.readable_runs(shown), hide_index=True, width="stretch", key=table_key,
                 on_select=partial(_picked, table_key, list(shown["key"])), selection_mode="multi-row",
                 column_config={"key": TEXT("run key"), "dataset": TEXT("data set"),
                                "normal_class": NUM("class"), "oe": TEXT("OE"),
                                "oe_size": TEXT("OE images", help="all: every image of the OE set"),
                                "oe_classes": TEXT("OE classes", help="all: every class of the OE set"),
                                "blur_sigma": NUM("blur σ"),
                                "auroc": NUM("AUROC", format="%.4f", help=ui.GLOSSARY["AUROC"]),
                                "auprc": NUM("AUPRC", format="%.4f", help=ui.GLOSSARY["AUPRC"]),
                                "fpr_at_95_tpr": NUM("FPR at 95% TPR", format="%.4f",
                                                     help=ui.GLOSSARY["FPR at 95% TPR"]),
                                "train_seconds": NUM("training time (s)", format="%.1f"),
                                "created": st.column_config.DatetimeColumn("stored (UTC)")})
    label = {r["key"]: f"{r['key']} · {r['method']} · {r['dataset']} class {r['normal_class']}"
                       + ("" if r["source"] == "local store" else f" · {r['source']}")
             for r in rows}
    st.multiselect("Selected runs", keys, key="runs_selected", format_func=label.get)


def one_run(key: str, r: dict) -> None:
    """An opened run: its metrics, ROC curve, loss curve, configuration, and its model at work."""
    st.subheader(f"Run {key}: {ui.method_label(r['config']['method'])}")
    m = r["metrics"]
    c = st.columns(4)
    c[0].metric("AUROC", f"{m['auroc']:.4f}", help=ui.GLOSSARY["AUROC"])
    c[1].metric("AUPRC", f"{m['auprc']:.4f}", help=ui.GLOSSARY["AUPRC"])
    c[2].metric("FPR at 95% TPR", f"{m['fpr_at_95_tpr']:.4f}", help=ui.GLOSSARY["FPR at 95% TPR"])
    c[3].metric("training time", f"{m['train_seconds']:.1f} s")
    st.caption(f"From {'the local run store' if r['source'] == 'local store' else r['source']}"
               + ("" if r["has_weights"] else "; without its model (a bundle made without "
                  "--weights): metrics and scores only") + ".")
    left, right = st.columns(2)
    left.plotly_chart(plots.roc_figure([{"name": r["config"]["method"], "labels": r["labels"],
                                         "scores": r["scores"]}]), width="stretch")
    if len(r["history"]) > 1:
        right.plotly_chart(plots.loss_figure(r["history"]), width="stretch")
    else:  # a method fitted in one step (kernel SVDD / OC-SVM): no curve to draw
        right.metric("training objective (fitted in one step)", f"{r['history'][0]:.4g}"
                     if r["history"] else "n/a")
    left.markdown("**Configuration**")
    left.json(r["config"])
    right.markdown("**Metrics**")
    right.json(m, expanded=False)
    if r["has_weights"]:
        ui.use_model(key)


def compare(runs: dict) -> None:
    """Two runs: both ROC curves in one chart, and where their configs and metrics differ."""
    (ka, a), (kb, b) = runs.items()
    st.subheader(f"Compare {ka} and {kb}")
    left, right = st.columns(2)
    left.plotly_chart(plots.roc_figure([{"name": f"{ui.method_label(r['config']['method'])}, class "
                                                 f"{r['config']['normal_class']}, seed {r['config']['seed']}"
                                                 + (f" ({k[:6]})" if a['config']['method'] == b['config']['method'] else ""),
                                         "labels": r["labels"], "scores": r["scores"]}
                                        for k, r in runs.items()]), width="stretch")
    right.markdown("**Where they differ** (config and metrics)")
    right.dataframe(analysis.run_diff(a, b, names=(ka, kb)), hide_index=True,
                    width="stretch")


def _bundle_bytes(res, keys: list[str]) -> bytes:
    import tempfile
    from pathlib import Path

    from deepad.bundle import export
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "runs.zip"
        export(out, [res.get(k) for k in keys], scores="float64")
        return out.read_bytes()


def export_or_delete(runs: dict, res) -> None:
    """Downloads of the selection (bundle, scores CSV, JSON) and, for local runs, deletion."""
    st.subheader(f"Export {'' if ui.viewer() else 'or delete '}the {len(runs)} selected run(s)")
    d1, d2, d3 = st.columns(3)
    d3.download_button("Result bundle (.zip)", lambda: _bundle_bytes(res, list(runs)),
                       file_name="deepad-results.zip", mime="application/zip",
                       help="configs, metrics, histories, per-sample scores and the images shown; "
                            "open it on another machine (Runs → Open results, or DEEPAD_RESULTS)")
    d1.download_button("Per-sample scores (CSV)", analysis.scores_frame(runs).to_csv(index=False),
                       file_name="deepad-scores.csv", mime="text/csv")
    d2.download_button("Config and metrics (JSON)",
                       json.dumps({k: {"config": r["config"], "metrics": r["metrics"]}
                                   for k, r in runs.items()}, indent=1, default=str),
                       file_name="deepad-runs.json", mime="application/json")
    local = [k for k, r in runs.items() if r["source"] == "local store"]
    if local and not ui.viewer():
        confirm = st.checkbox(f"Yes, delete {len(local)} run(s) of the local store for good (they "
                              f"retrain when asked for again)", key="runs_confirm")
        st.button("Delete", disabled=not confirm, on_click=_delete, args=(local,))
    if len(local) < len(runs):
        st.caption(f"{len(runs) - len(local)} selected run(s) come from result bundles: they are "
                   f"read-only here.")


def failed_table(failed: list[dict]) -> None:
    st.subheader(f"Failed runs ({len(failed)})")
    st.caption("Asking for one of these again retries it.")
    st.dataframe(analysis.runs_frame(failed, columns=["key", "dataset", "normal_class", "method",
                                                      "oe", "oe_size", "oe_classes", "seed",
                                                      "epochs", "error", "created"]),
                 hide_index=True, width="stretch")
