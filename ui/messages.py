"""Words for people who do not code: the glossary, and errors in plain words with the technical
detail one click away."""

from __future__ import annotations

import re
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


_TECHNICAL = re.compile(r"\s*\((?=[^()]*(?:Error|Errno|errno|Exception|0x[0-9a-f]|urlopen|"
                        r"Traceback|\.py\b))[^()]*\)")


def plain(message: str) -> tuple[str, str]:
    """(the message in plain words: what happened; what to do, the technical detail taken out,
    the technical detail) of an error message."""
    words = _TECHNICAL.sub("", message).strip()
    detail = "; ".join(m.group(0).strip()[1:-1] for m in _TECHNICAL.finditer(message))
    words = words[:1].upper() + words[1:]
    return words.rstrip(".") + ".", detail


def show_error(what: str, message: str, detail: str = "") -> None:
    text, technical = plain(message)
    st.error(f"**{what}**: {text}" if what else text)
    extra = "\n\n".join(x for x in (technical, detail) if x)
    if extra:
        with st.expander("Technical details"):
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
