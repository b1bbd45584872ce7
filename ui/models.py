"""A stored model at work: download it, or score new images with it."""

from __future__ import annotations

import streamlit as st

from ui.messages import shown_errors


def use_model(key: str) -> None:
    """Download a run's model (TorchScript, preprocessing folded in) and score a folder with it."""
    import pandas as pd

    from deepad.inference import export_bytes, load_run, score_paths
    st.markdown("**Use this model on new images**")
    c1, c2 = st.columns([1, 2])

    def model_bytes():
        run, det = load_run(key)
        return export_bytes(run, det, "torchscript")
    c1.download_button("Download model (TorchScript)", model_bytes, file_name=f"deepad-{key}.pt",
                       help="scores raw uint8 images (N, C, H, W) with plain torch: "
                            "torch.jit.load(path)(images); higher = more anomalous")
    folder = c2.text_input("Score a folder of images", key=f"score_folder_{key}",
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
