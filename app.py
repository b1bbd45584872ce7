"""deepad dashboard: `streamlit run app.py`."""

import streamlit as st

st.set_page_config(page_title="deepad: anomaly detection with outlier exposure", page_icon="🔎",
                   layout="wide")

pages = [
    st.Page("views/explore.py", title="Explore", icon="🔎", default=True, url_path="explore"),
    st.Page("views/ideas.py", title="The idea in 2-D", icon="💡", url_path="ideas"),
    st.Page("views/oe_samples.py", title="OE samples", icon="📈", url_path="oe-samples"),
    st.Page("views/blur.py", title="Blur", icon="🌫️", url_path="blur"),
    st.Page("views/table.py", title="One-vs-rest table", icon="📋", url_path="table"),
    st.Page("views/claims.py", title="Claims", icon="⚖️", url_path="claims"),
    st.Page("views/runs.py", title="Runs", icon="🗂️", url_path="runs"),
]
nav = st.navigation(pages)

with st.sidebar:
    st.caption("**deepad** reproduces *Rethinking Assumptions in Deep Anomaly Detection* "
               "(Ruff et al., 2020): a few example anomalies (outlier exposure, OE) beat "
               "unsupervised anomaly detection on images.")
    from ui import stored
    if stored.viewer():
        st.caption("Viewer mode: this dashboard shows stored results only; nothing is trained.")
    for err in stored.bundle_errors():
        st.warning(f"A result bundle was not opened: {err}")
nav.run()
