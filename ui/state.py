"""URL state: every view lives in the URL, so a copied link reopens it.

A page seeds its widgets from the URL once per session (url_state) and writes them back after
drawing its sidebar (write_url). A link whose value a widget cannot take (an unknown choice, text
where a number belongs, a number out of range) never breaks the page: the widget falls back to its
default and the page says which part of the link it could not restore and what it used instead
(link_notes).
"""

from __future__ import annotations

import math

import streamlit as st

_NOTES = "_link_notes"


def url_state(defaults: dict, options: dict | None = None, ranges: dict | None = None,
              extra: dict | None = None) -> None:
    """Seed widget values (session_state[name]) from the URL once per session.

    defaults: {widget key: default value}; lists are comma-separated in the URL.
    options: {widget key: the widget's choices}: a URL value is matched to a choice by its text
    (so '64' finds 64 among [..., 64, 'all']).
    ranges: {widget key: (low, high)} for number inputs.
    extra: {widget key: predicate}: values outside `options` that the widget offers anyway (e.g.
    an image folder as the OE)."""
    q = st.query_params
    notes = st.session_state.setdefault(_NOTES, [])
    for k, default in defaults.items():
        if k in st.session_state:
            continue
        if k not in q:
            st.session_state[k] = default
            continue
        raw = q.get_all(k) if isinstance(default, list) else q.get(k)
        value, bad = _cast(raw, default)
        if options and k in options and value is not None:
            ok = (extra or {}).get(k, lambda v: False)
            value, dropped = _match(value, default, options[k], ok)
            bad += dropped
        if ranges and k in ranges and value is not None and not isinstance(default, list):
            lo, hi = ranges[k]
            if not lo <= value <= hi:
                bad.append(str(value))
                value = None
        if value is None:
            value = default
        if bad:
            shown = default if not isinstance(default, list) else ", ".join(map(str, value)) or "none"
            notes.append(f"{k}={', '.join(bad)} (not a value this page offers; using {shown})")
        st.session_state[k] = value


def _match(value, default, choices, ok):
    by_text = {str(c): c for c in choices}
    if isinstance(default, list):
        kept = [by_text[str(v)] for v in value if str(v) in by_text]
        return kept, [str(v) for v in value if str(v) not in by_text]
    if str(value) in by_text:
        return by_text[str(value)], []
    if ok(value):
        return value, []
    return None, [str(value)]


def _cast(raw, default):
    """(value, [unreadable parts]); value None when the whole value is unreadable."""
    if isinstance(default, list):
        items = [v for r in raw for v in str(r).split(",") if v != ""]
        if default and isinstance(default[0], int) and not isinstance(default[0], bool):
            return [int(v) if v.lstrip("-").isdigit() else v for v in items], []
        return items, []
    if isinstance(default, bool):
        text = str(raw).lower()
        if text in ("1", "true", "yes", "on"):
            return True, []
        if text in ("0", "false", "no", "off"):
            return False, []
        return None, [str(raw)]
    if isinstance(default, int):
        return (int(raw), []) if str(raw).strip().lstrip("-").isdigit() else (None, [str(raw)])
    if isinstance(default, float):
        try:
            v = float(raw)
        except (TypeError, ValueError):
            return None, [str(raw)]
        return (v, []) if math.isfinite(v) else (None, [str(raw)])
    return raw, []


def write_url(keys: list[str]) -> None:
    """Put the current widget values into the URL so a copied link reopens this view."""
    out = {}
    for k in keys:
        v = st.session_state.get(k)
        if v is None:
            continue
        out[k] = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    if dict(st.query_params) != out:
        st.query_params.from_dict(out)


def link_notes() -> None:
    """Say, once, which parts of the link this page could not restore."""
    notes = st.session_state.pop(_NOTES, [])
    if notes:
        st.info("This link could not be restored exactly: " + "; ".join(notes) + ".")
