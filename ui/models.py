"""A stored model at work: download it, or score new images with it."""

from __future__ import annotations

import streamlit as st

from ui.messages import shown_errors


def use_model(key: str) -> None:
    """Download a run's model (TorchScript, preprocessing folded in), and score uploaded images
    (or a .zip of them) or a folder on the server with it."""
    import pandas as pd

    from deepad.inference import export_bytes, load_run, score_paths, score_uploads
    st.markdown("**Use this model on new images**")
    ups = st.file_uploader("Score images: upload them, or a .zip of them", accept_multiple_files=True,
                           key=f"score_upload_{key}",
                           help="each image gets its anomaly score and a verdict at the run's "
                                "threshold (95% of the test anomalies caught)")
    if ups:
        with shown_errors("scoring"), st.spinner("scoring …"):
            run, det = load_run(key)
            res = score_uploads(run, det, [(u.name, u.getvalue()) for u in ups])
            if res.skipped:
                st.warning(f"skipped {len(res.skipped)} file(s) that are not images, e.g. "
                           f"{res.skipped[0][0]}")
            df = pd.DataFrame(res.rows).sort_values("score", ascending=False)
            st.dataframe(df, hide_index=True, width="stretch")
            st.download_button("Scores (CSV)", df.to_csv(index=False),
                               file_name="deepad-upload-scores.csv", mime="text/csv",
                               key=f"upload_csv_{key}", on_click="ignore")
    c1, c2 = st.columns([1, 2])

    def model_bytes():
        run, det = load_run(key)
        return export_bytes(run, det, "torchscript")
    c1.download_button("Download model (TorchScript)", model_bytes, file_name=f"deepad-{key}.pt",
                       help="scores raw uint8 images (N, C, H, W) with plain torch: "
                            "torch.jit.load(path)(images); higher = more anomalous")
    folder = c2.text_input("… or a folder of images on this server", key=f"score_folder_{key}",
                           placeholder="/path/to/images")
    if folder and c2.button("Score", key=f"score_btn_{key}"):
        with shown_errors("scoring"), st.spinner("scoring …"):
            run, det = load_run(key)
            res = score_paths(run, det, [folder])
            if res.skipped:
                st.warning(f"skipped {len(res.skipped)} unreadable file(s), e.g. {res.skipped[0][0]}")
            if res.converted:
                st.caption(f"{res.converted} image(s) were resized or converted to the model's input")
            df = pd.DataFrame(res.rows).sort_values("score", ascending=False)
            st.dataframe(df, hide_index=True, width="stretch")
            st.download_button("Scores (CSV)", df.to_csv(index=False), file_name="deepad-folder-scores.csv",
                               mime="text/csv", key=f"score_csv_{key}")
