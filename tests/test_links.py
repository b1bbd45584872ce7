"""Hand-edited links (AppTest): every URL value is checked against its widget's type and range; a
bad one falls back to the widget's default with a visible note naming what was not restored and
what was used instead, never an exception; a good one is restored exactly."""

from __future__ import annotations

import pytest
from conftest import APP, open_page


def _open(page, query):
    """Explore is the first page: its link is read in the first run (nothing trains: no method);
    other pages are switched to after it."""
    if page != "views/explore.py":
        return open_page(page, query)
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["methods"] = []
    for k, v in query.items():
        at.query_params[k] = v
    return at


def _notes(at) -> str:
    return " ".join(i.value for i in at.info if "could not be restored" in i.value)


@pytest.mark.parametrize("page, query, key, used", [
    ("views/explore.py", {"seed": "x"}, "seed", 1),
    ("views/explore.py", {"oe_size": "7"}, "oe_size", 64),
    ("views/explore.py", {"blur_sigma": "nan"}, "blur_sigma", 0),
    ("views/ideas.py", {"toy_seed": "x"}, "toy_seed", 0),
    ("views/ideas.py", {"toy_spread": "9"}, "toy_spread", 2.0),
    ("views/ideas.py", {"toy_shape": "cube"}, "toy_shape", "moons"),
    ("views/oe_samples.py", {"oes_sizes": "1,7,all"}, "oes_sizes", None),
])
def test_a_bad_link_value_falls_back_with_a_note(page, query, key, used):
    at = _open(page, query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    bad = next(iter(v for k, v in query.items() if k == key))
    note = _notes(at)
    assert f"{key}=" in note and ("7" in note if key == "oes_sizes" else bad in note), note
    if used is not None:
        assert at.session_state[key] == used
    else:  # a list keeps what it could read and drops the rest
        assert 7 not in at.session_state[key] and 1 in at.session_state[key]


def test_a_good_link_is_restored_exactly_without_a_note():
    at = _open("views/explore.py", {"seed": "3", "oe_size": "128", "blur_sigma": "2"})
    at.run()
    assert not at.exception
    assert _notes(at) == ""
    assert (at.session_state["seed"], at.session_state["oe_size"],
            at.session_state["blur_sigma"]) == (3, 128, 2)
