"""The Explore page's sections: its sidebar's data picker, training (with an estimate first), the
charts and metrics, scoring an image of your own, the images behind the numbers, downloads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from deepad import analysis, plots
from deepad.preview import decode_upload, extremes, oe_images
from deepad.report import html_report
from ui import common as ui
from ui import operating as opui

AUTO_S = 15  # runs that train in less than this (estimated) train by themselves on Explore


def nominal(rows) -> tuple[str | None, list]:
    """Data set (an image folder typed in, or one of a link) and nominal class; (name, classes)."""
    choices = ui.dataset_choices(rows)
    if ui.is_path(st.session_state.get("dataset")) and st.session_state["dataset"] not in choices:
        choices.append(st.session_state["dataset"])
    ds = st.selectbox("Data set (nominal data)", choices + ["folder:"], key="dataset",
                      format_func=lambda n: "an image folder…" if n == "folder:" else ui.dataset_label(n))
    if ds == "folder:":
        path = st.text_input("Image folder (PATH/<class>/ or PATH/train|test/<class>/)", key="folder")
        if not path.strip():
            st.caption("Type the path of a folder of images, one sub-folder per class.")
            return None, []
        ds = f"folder:{path.strip()}"
    classes = []
    with ui.shown_errors("data set"):
        classes = ui.classes_of(ds)
    if classes:
        if st.session_state.get("normal_class") not in [str(i) for i in range(len(classes))]:
            st.session_state["normal_class"] = "0"
        st.selectbox("Nominal class", [str(i) for i in range(len(classes))], key="normal_class",
                     format_func=lambda i: f"{i}: {classes[int(i)]}")
    return ds, classes


def configs_for(ds: str, oe: str | None, oe_jpeg) -> list:
    """One config per chosen method, each in its own error box (HSC without OE fails, Deep SVDD
    beside it does not); make_config drops the OE settings of the methods that use none."""
    s, out = st.session_state, []
    for m in s["methods"]:
        with ui.shown_errors(ui.method_label(m)):
            out += ui.page_configs("", dataset=ds, normal_class=[int(s["normal_class"])],
                                   method=[m], oe="none" if oe is None else oe,
                                   oe_size=[s["oe_size"]], blur_sigma=[s["blur_sigma"]],
                                   oe_jpeg=oe_jpeg, seed=[int(s["seed"])])
    return out


def train_or_load(configs: list, ds: str, box) -> dict:
    """The stored runs of the configs, training the missing ones when asked (`box`: the
    sidebar's place for the Train button, its estimate and the confirmation). Runs that train in
    seconds (estimated) train by themselves, and the page says so."""
    s = st.session_state
    have = ui.get_runs(configs, train=False)
    missing = [c for c in configs if c.key not in have]
    blocked = ui.stored.data_missing(missing) if missing else None
    go, note = False, None
    if configs and not missing:
        with box:
            st.caption(f"All {len(configs)} run(s) of this view are stored: shown without training.")
    if missing and not ui.viewer() and blocked is None:
        est = ui.estimate(missing)
        auto = est.seconds <= AUTO_S and est.measured + est.rough and s.get("budget") == "quick" \
            and ds == "digits"
        with box:
            if s.get("explore_confirm"):
                st.warning(f"Training {len(missing)} runs takes {est.text()}.")
                go = st.button(f"Yes, train {len(missing)} runs", key="explore_go", type="primary")
                if st.button("Cancel", key="explore_cancel") or go:
                    s["explore_confirm"] = False
            else:
                clicked = st.button("Train", type="primary", width="stretch",
                                    help="train what is not stored; stored runs load at once")
                note = st.empty()
                note.caption(f"{len(missing)} run(s) to train: {est.text()}"
                             + (". They train by themselves." if auto else "."))
                if clicked and est.seconds > ui.training.CONFIRM_S:
                    s["explore_confirm"] = True
                    st.rerun()
                go = clicked or auto
    if go:
        ui.train_here(missing, [ui.method_label(c.method) for c in missing])
    runs = ui.get_runs(configs, train=False) if go else have
    if go and note is not None:  # the estimate is history now: say what happened instead
        done = sum(c.key in runs for c in missing)
        note.caption(f"Trained and stored {done} of {len(missing)} run(s): they load at once "
                     f"from now on." if done else "Nothing was stored: see the messages on the page.")
    for k, r in runs.items():
        r["trained_here"] = k in s.get("_trained_here", ())
    left = [c for c in configs if c.key not in runs]
    if left:
        how = ("this dashboard only shows results (viewer mode)" if ui.viewer() else
               f"training them needs the data, which are {blocked}" if blocked else
               "press **Train** in the sidebar")
        st.info(f"{len(left)} of {len(configs)} runs are not stored yet "
                f"({', '.join(ui.method_label(c.method) for c in left)}): {how}.")
        if blocked and ui.needs_download(ds) and not ui.viewer():
            ui.offer_download(ds)
    return runs


def charts_and_metrics(runs: dict, names: dict, marks: dict, res, points: dict) -> pd.DataFrame:
    """ROC and precision-recall curves, score histograms (images, or Plotly with the toggle)
    with each run's operating point (`points`: ui.operating.points) and its control, then the
    metrics."""
    s = st.session_state
    curves = [{"name": names[k], "labels": r["labels"], "scores": r["scores"]} for k, r in runs.items()]
    thr, hist_marks = opui.thresholds(names, points), opui.with_thresholds(marks, names, points)
    st.toggle("Interactive charts", key="interactive",
              help="Zoom and hover (Plotly). Off: the same charts as images, which appear at once; "
                   "interactive charts load a large chart library first (a few seconds on a slow "
                   "machine).")
    left, right = st.columns(2)
    below, beside = st.columns(2)
    if s["interactive"]:
        left.plotly_chart(plots.roc_figure(curves, thr), width="stretch")
        right.plotly_chart(plots.pr_figure(curves, thr), width="stretch")
        below.plotly_chart(plots.histogram_figure(curves, marks=hist_marks), width="stretch")
    else:
        roc_png, pr_png, hist_png = ui.chart_pngs(
            tuple(ui.run_version(k) for k in runs),
            tuple((n, tuple(v)) for n, v in hist_marks.items()), curves, tuple(sorted(thr.items())))
        left.image(roc_png, width="stretch")
        right.image(pr_png, width="stretch")
        below.image(hist_png, width="stretch")
    left.caption(ui.GLOSSARY["AUROC"].capitalize() + " — the area under each curve.")
    right.caption("Precision: the share of the flagged images that are anomalies; recall: the share "
                  "of the anomalies flagged. AP (average precision) is the area under each curve; "
                  "the dotted line is a detector that flags at random (precision = the share of "
                  "anomalies in the test set).")
    below.caption("Where the normal (blue) and anomalous (red) test images fall on each method's "
                  "score scale, each class scaled to its own height (normal images are often a "
                  "tenth of the test set); less overlap is better.")
    with beside:
        opui.panel(names, points)
    table = pd.DataFrame([{
        "method": names[k], "AUROC": r["metrics"]["auroc"], "AUPRC": r["metrics"]["auprc"],
        "FPR at 95% TPR": r["metrics"]["fpr_at_95_tpr"],
        "training time (s)": r["metrics"]["train_seconds"], "epochs": r["config"]["epochs"],
        "stored": "no, trained now" if r["trained_here"] else "yes", "source": r["source"],
        "run key": k} for k, r in runs.items()])
    st.subheader("Metrics")
    small = [r["metrics"] for r in runs.values() if r["metrics"].get("n_test", 10 ** 9) < 200]
    if small:
        n = small[0]["n_test"]
        st.warning(f"These AUROCs come from only {n} test images: with so few, one image moves "
                   f"them by several points, so compare them with care (give every class more "
                   f"images, or a PATH/train and PATH/test split).")
    # st.table, not st.dataframe: a static table appears at once, the grid loads a library
    st.table(table.style.format({"AUROC": "{:.4f}", "AUPRC": "{:.4f}", "FPR at 95% TPR": "{:.4f}",
                                 "training time (s)": "{:.1f}"}).hide(axis="index"))
    fresh = [names[k] for k, r in runs.items() if r["trained_here"]]
    st.caption(" · ".join(f"**{m}**: {ui.GLOSSARY[m]}" for m in ("AUROC", "AUPRC", "FPR at 95% TPR")))
    loaded = [k for k, r in runs.items() if not r["trained_here"]]
    st.caption(f"Trained in this session: {', '.join(fresh) or 'none'} · loaded from "
               f"{ui.stored.source_note(loaded, res) or 'nowhere'}: "
               f"{', '.join(names[k] for k in loaded) or 'none'}.")
    return table


def downloads(runs: dict, names: dict, marks: dict, table: pd.DataFrame, settings: dict,
              points: dict) -> None:
    """The report (with the view's settings, read now: a download runs outside the script),
    the metrics and the per-sample scores."""
    curves = [{"name": names[k], "labels": r["labels"], "scores": r["scores"]} for k, r in runs.items()]
    configs = {k: r["config"] for k, r in runs.items()}

    thr, hist_marks = opui.thresholds(names, points), opui.with_thresholds(marks, names, points)

    def report():  # built only when the button is pressed (plotly.js makes it ~5 MB)
        return html_report(
            "deepad: explore",
            [("ROC and precision-recall curves", [plots.roc_figure(curves, thr),
                                                  plots.pr_figure(curves, thr)]),
             ("Score histograms", plots.histogram_figure(curves, marks=hist_marks)),
             ("Metrics", table),
             (f"Operating point: {opui.target().text} ({opui.target().describe()})",
              opui.frame(names, points)),
             ("How it is chosen and counted", opui.caption(points).replace("**", ""))],
            config={"settings": settings, "runs": configs},
            intro=ui.GLOSSARY["AUROC"].capitalize() + ".")
    d1, d2, d3 = st.columns(3)
    d1.download_button("Download report (HTML)", report, file_name="deepad-explore.html",
                       mime="text/html", on_click="ignore")
    d2.download_button("Metrics (CSV)", table.to_csv(index=False), file_name="deepad-metrics.csv",
                       mime="text/csv", on_click="ignore")
    d3.download_button("Per-sample scores (CSV)", lambda: analysis.scores_frame(runs).to_csv(index=False),
                       file_name="deepad-scores.csv", mime="text/csv", on_click="ignore")


def score_your_image(runs: dict, names: dict, ds: str) -> dict:
    """Upload an image (or pick a test image): each model's verdict at its run's threshold (95%
    of the test anomalies caught), its score as a percentile of the test scores (the methods'
    scores live on different scales), and where it looks. Returns histogram marks
    {method title: [(label, score)]}."""
    marks, rows = {}, []
    box = st.expander("Score your own image", key="score_open", on_change="rerun")
    if box.open is False:  # drawn on demand (closing it drops the image from the histograms)
        return marks
    with box:
        up = st.file_uploader("An image (PNG, JPEG, ...)", type=None)
        n_test = len(next(iter(runs.values()))["labels"])
        pick = st.selectbox("… or a test image", [None] + list(range(n_test)), key="explore_pick",
                            format_func=lambda i: "none" if i is None else f"test image {i}")
        picked = None
        with ui.shown_errors("your image"):
            shape = ui.test_images(ds).shape[1:]
            if up is not None:
                picked = ("your image", decode_upload(up.getvalue(), shape))
            elif pick is not None:
                picked = (f"test image {pick}", ui.test_images(ds)[[int(pick)]])
        if picked is None:
            return marks
        st.image(plots.image_grid(picked[1], cols=1), caption=picked[0], width=128)
        for k, r in runs.items():
            with ui.shown_errors(names[k]):
                score = float(ui.detector(k).score_samples(picked[1])[0])
                thr = r["metrics"].get("threshold_at_95_tpr")
                marks[names[k]] = [(picked[0], score)]
                rows.append({"method": names[k],
                             "verdict": "—" if thr is None else ("anomalous" if score >= thr else "normal"),
                             "more anomalous than": f"{100 * np.mean(r['scores'] < score):.0f}% of the test images",
                             "score": score, "threshold": thr})
        if rows:
            st.dataframe(pd.DataFrame(rows), hide_index=True,
                         column_config={"score": st.column_config.NumberColumn(format="%.4g"),
                                        "threshold": st.column_config.NumberColumn(format="%.4g")})
            st.caption("The verdict: anomalous when the score reaches the run's threshold, the score "
                       "at which it catches 95% of the test anomalies. Each method scores on its "
                       "own scale; the percentile compares the image with that method's test scores.")
        with ui.shown_errors("heatmaps"):
            st.image([ui.heatmaps(k, picked[1])[0] for k in runs if runs[k].get("has_weights", True)],
                     width=150, caption=[f"where {names[k]} looks" for k in runs
                                         if runs[k].get("has_weights", True)])
    return marks


def _kept_images(res, key: str):
    """(false alarms, misses) as uint8 arrays from the images a run carries (bundle/import)."""
    kept = res.extremes(key)
    if kept is None:
        return None
    pics = kept["images"]
    fa = [pics[t] for t in kept["false_alarms"] if t in pics]
    mi = [pics[t] for t in kept["misses"] if t in pics]
    return (np.stack(fa) if fa else None), (np.stack(mi) if mi else None)


def _strip(pictures: list[np.ndarray], gap: int = 6) -> np.ndarray:
    """Pictures of one height side by side with white gaps: one image for the browser to fetch
    instead of one per picture (a new tab draws the page sooner)."""
    white = np.full((pictures[0].shape[0], gap, pictures[0].shape[2]), 255, dtype=pictures[0].dtype)
    parts = [p for pic in pictures for p in (pic, white)][:-1]
    return np.concatenate(parts, axis=1)


def images_behind(runs: dict, names: dict, configs: list, ds: str, res=None,
                  points: dict | None = None) -> None:
    """Per method, in a tab of its own, inside an expander that is drawn only when opened (its
    state is kept in the link) and of whose tabs only the open one is drawn: false alarms,
    misses, the images that change flag at the operating point (`points`), heatmaps, and the OE
    images it trained against. Where the data set is not on this machine, the images a result
    bundle carries."""
    box = st.expander("**The images behind the numbers**: false alarms, misses, where each model "
                      "looks, the OE images it trained against", key="behind", on_change="rerun")
    if box.open is False:  # drawn on demand: a new tab shows the first result sooner without them
        return
    with box:
        _images_behind(runs, names, configs, ds, res if res is not None else ui.results(), points)


def _images_behind(runs, names, configs, ds, res, points) -> None:
    here = ui.data_here(ds)
    images = ui.test_images(ds) if here else None
    # lazy tabs: only the open one is computed and sent (a new tab draws a smaller page)
    tabs = st.tabs(list(names.values()), on_change="rerun", key="behind_tab")
    for tab, (k, r) in zip(tabs, runs.items()):
        if tab.open is False:
            continue
        with tab:
            a, b, c = st.columns(3)
            if images is None:
                kept = _kept_images(res, k)
                if kept is None or kept[0] is None:
                    st.caption("The test images are not on this machine and this run carries none.")
                    continue
                a.image(plots.image_grid(kept[0], cols=4),
                        caption="normal images it finds most anomalous (false alarms)")
                if kept[1] is not None:
                    b.image(plots.image_grid(kept[1], cols=4),
                            caption="anomalies it finds most normal (misses)")
                c.caption(f"From the result bundle ({r['source']}): the data set is not on this "
                          f"machine, so heatmaps and the OE images are not shown.")
                opui.flipped(None, r, (points or {}).get(k))
                continue
            ex = extremes(r["scores"], r["labels"], k=8)
            a.image(plots.image_grid(images[ex["false_alarms"]], cols=4),
                    caption="normal images it finds most anomalous (false alarms)")
            b.image(plots.image_grid(images[ex["misses"]], cols=4),
                    caption="anomalies it finds most normal (misses)")
            opui.flipped(images, r, (points or {}).get(k))
            if not r.get("has_weights", True):
                c.caption("This run came without its model (a result bundle made without "
                          "--weights): no heatmaps.")
                continue
            with ui.shown_errors("heatmaps"):
                both = np.concatenate([images[ex["false_alarms"][:3]], images[ex["misses"][:3]]])
                st.image(_strip(ui.heatmaps(k, both)), width=150 * len(both),
                         caption="three false alarms, then three misses")
                st.caption("Where the model looks: each image beside a heatmap of the pixels that move "
                           "its anomaly score most (SmoothGrad: input gradients averaged over noise).")
            with ui.shown_errors("OE images"):
                cfg = next(cfg for cfg in configs if cfg.key == k)
                if ui.stored.data_missing([cfg]):
                    c.caption("The OE images are " + ui.stored.data_missing([cfg]) + ".")
                    continue
                oe = oe_images(cfg, k=16)
                if len(oe):
                    c.image(plots.image_grid(oe, cols=4), caption=f"OE images it trained against "
                            f"(first 16 of {r['metrics'].get('n_oe')}, after blur)")
                else:
                    c.caption("this method trains without OE")
