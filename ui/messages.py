"""Words for people who do not code: the glossary, and errors in plain words with the technical
detail one click away."""

from __future__ import annotations

import traceback
from contextlib import contextmanager

import streamlit as st

from deepad.errors import DeepadError

GLOSSARY = {
    "AUROC": "the chance that a random anomaly scores higher than a random normal image (1 = perfect, 0.5 = guessing)",
    "AUPRC": "average precision when hunting for anomalies (higher is better)",
    "FPR at 95% TPR": "the share of normal images wrongly flagged when 95% of anomalies are caught (lower is better)",
    "OE": "outlier exposure: a few example 'anomalies' (here, random natural images) shown to the model in training",
    "blur": "Gaussian blur of the OE images; the paper finds OE stops helping once the fine detail is gone",
    "OE JPEG": "these nominal images are stored as JPEG; OE images without the codec's traces (and "
               "sharper) can be told from every such image, anomalies included, by those traces "
               "alone. On: the OE is resized and JPEG-encoded as the data were (--oe-jpeg). On "
               "CIFAR-10 this moves HSC from 72 to 87 AUROC (BENCHMARKS.md)",
}


def plain(message: str) -> tuple[str, str]:
    """(the first sentence, the rest) of an error message: what happened, then the detail (paths,
    environment variables, commands) for whoever wants it."""
    head, sep, rest = message.partition("; ")
    return head[:1].upper() + head[1:], rest if sep else ""


def show_error(what: str, message: str, detail: str = "") -> None:
    head, rest = plain(message)
    st.error(f"**{what}**: {head}." if what else f"{head}.")
    extra = "\n\n".join(x for x in (rest, detail) if x)
    if extra:
        with st.expander("What to do, and the details"):
            st.caption(extra)


@contextmanager
def shown_errors(what: str = ""):
    """Show DeepadError and any unexpected exception in plain words, never a traceback box."""
    try:
        yield
    except DeepadError as e:
        show_error(what, str(e))
    except Exception as e:  # noqa: BLE001 - the UI must never show a traceback
        if type(e).__name__ in ("StopException", "RerunException"):
            raise
        show_error(what, "something went wrong; try other settings, and if it persists report "
                         "it with the details below",
                   f"{type(e).__name__}: {e}\n\n{traceback.format_exc(limit=3)}")
