"""Streamlit glue shared by the pages: URL state, cached loads, training with progress, errors.

Pages read widgets and call these helpers and `deepad`; all computation lives in `deepad`.
"""
