"""The Explore page's larger sections: scoring an uploaded image and the images behind the numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from deepad import plots
from deepad.preview import decode_upload, extremes, oe_images
from ui import common as ui


def score_your_image(runs: dict, names: dict, ds: str) -> dict:
    """Upload an image (or pick a test image), show its score and heatmap under each model.
    Returns histogram marks {method title: [(label, score)]}."""
    marks, rows = {}, []
    with st.expander("Score your own image", expanded=False):
        up = st.file_uploader("An image (PNG, JPEG, ...)", type=None)
        n_test = len(next(iter(runs.values()))["labels"])
        pick = st.number_input("… or a test image by index", min_value=-1, max_value=n_test - 1,
                               value=-1, help="-1: none")
        picked = None
        with ui.shown_errors("upload"):
            shape = ui.test_images(ds).shape[1:]
            if up is not None:
                picked = ("your image", decode_upload(up.getvalue(), shape))
            elif pick >= 0:
                picked = (f"test image {pick}", ui.test_images(ds)[[int(pick)]])
        if picked is None:
            return marks
        st.image(plots.image_grid(picked[1], cols=1), caption=picked[0], width=128)
        with ui.shown_errors("heatmaps"):
            st.image([ui.heatmaps(k, picked[1])[0] for k in runs], width=150,
                     caption=[f"where {names[k]} looks" for k in runs])
        for k, r in runs.items():
            with ui.shown_errors(names[k]):
                score = float(ui.detector(k).score_samples(picked[1])[0])
                marks[names[k]] = [(picked[0], score)]
                rows.append({"method": names[k], "score": score,
                             "more anomalous than (% of test images)": 100 * np.mean(r["scores"] <= score)})
        if rows:
            st.dataframe(pd.DataFrame(rows), hide_index=True)
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


def images_behind(runs: dict, names: dict, configs: list, ds: str, res=None) -> None:
    """Per method: false alarms, misses, their heatmaps, and the OE images it trained against.
    Where the data set is not on this machine, the images a result bundle carries."""
    st.subheader("The images behind the numbers")
    res = res if res is not None else ui.results()
    here = ui.data_here(ds)
    images = ui.test_images(ds) if here else None
    for tab, (k, r) in zip(st.tabs(list(names.values())), runs.items()):
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
                continue
            ex = extremes(r["scores"], r["labels"], k=8)
            a.image(plots.image_grid(images[ex["false_alarms"]], cols=4),
                    caption="normal images it finds most anomalous (false alarms)")
            b.image(plots.image_grid(images[ex["misses"]], cols=4),
                    caption="anomalies it finds most normal (misses)")
            if not r.get("has_weights", True):
                c.caption("This run came without its model (a result bundle made without "
                          "--weights): no heatmaps.")
                continue
            with ui.shown_errors("heatmaps"):
                both = np.concatenate([images[ex["false_alarms"][:3]], images[ex["misses"][:3]]])
                st.image(ui.heatmaps(k, both), width=150, caption=["false alarm"] * 3 + ["miss"] * 3)
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
