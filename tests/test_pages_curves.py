"""The curve pages headless (Streamlit AppTest): OE samples and Blur load, compute the missing runs
of a small grid on the bundled digits, plot one line per method at the expected x positions, and
leave the runs in the store. Each test has its own store (conftest) and trains 4 tiny runs."""

import json
import re
from pathlib import Path

import pytest
from conftest import open_page

from deepad.store import RunStore

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _lines(at):
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    return [t for t in fig["data"] if "lines" in t.get("mode", "")], fig


@pytest.mark.parametrize("page, prefix, by, choice, x, ticks", [
    ("views/oe_samples.py", "oes", "sizes", [4, "all"], [4.0, 8.0], {4: "4", 8: "all"}),
    ("views/blur.py", "blur", "sigmas", [0, 8], [0.5, 8.0], {0.5: "0", 8: "8"}),
])
def test_page_computes_missing_points_and_plots_them(page, prefix, by, choice, x, ticks):
    at = open_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.get("plotly_chart")  # a fresh store: nothing cached, nothing drawn

    at.selectbox(key=f"{prefix}_dataset").set_value("digits")
    at.multiselect(key=f"{prefix}_classes").set_value([0])
    at.multiselect(key=f"{prefix}_methods").set_value(["hsc", "bce"])
    at.multiselect(key=f"{prefix}_{by}").set_value(choice)
    at.text_input(key=f"{prefix}_seeds").set_value("1")
    at.radio(key=f"{prefix}_budget").set_value("epochs").run()
    at.number_input(key=f"{prefix}_epochs").set_value(5).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.button(key=f"{prefix}_compute").label.startswith("Compute the missing points (4 of 4")

    at.button(key=f"{prefix}_compute").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    lines, fig = _lines(at)
    assert [t["name"] for t in lines] == ["HSC", "BCE"]
    for t in lines:
        assert t["x"] == x
        assert all(0 <= y <= 1 for y in t["y"])
    assert fig["layout"]["xaxis"]["type"] == "log"
    assert dict(zip(fig["layout"]["xaxis"]["tickvals"], fig["layout"]["xaxis"]["ticktext"])) == ticks

    rows = RunStore().query()
    assert len(rows) == 4
    assert {r["method"] for r in rows} == {"hsc", "bce"}
    assert {(r["normal_class"], r["seed"], r["epochs"]) for r in rows} == {(0, 1, 5)}
    if prefix == "oes":
        assert {r["oe_size"] for r in rows} == {4, None}
        text = " ".join(m.value for m in at.markdown)
        assert "about 32 OE samples are enough on CIFAR-10" in text
        assert re.search(r"HSC \d+\.\d with 4 vs \d+\.\d with all \([-+]\d+\.\d, 1 class-seed "
                         r"pairs\); BCE \d+\.\d with 4", text)
        assert re.search(r"at most 3 points under all: \*\*(holds|does not hold)\*\*", text)
    else:
        assert {r["blur_sigma"] for r in rows} == {0.0, 8.0} and {r["oe_size"] for r in rows} == {128}
        assert [i.proto.imgs[0].caption for i in at.get("image")] == ["sigma = 0", "sigma = 8"]
    # the points table (and its CSV) names the run keys behind each point
    table = at.dataframe[0].value
    assert sorted(" ".join(table["run keys"]).split()) == sorted(r["key"] for r in rows)
    assert (table["runs cached"] == table["runs in grid"]).all()
    assert any("CSV" in b.proto.label for b in at.get("download_button"))
    # the URL holds the state: a copied link reopens this view
    assert at.query_params[f"{prefix}_{by}"] == ",".join(map(str, choice))
    # nothing is missing any more: a rerun trains nothing and draws the same lines
    at.run()
    assert not at.exception and len(RunStore().query()) == 4
    assert at.button(key=f"{prefix}_compute").disabled


def test_oe_samples_reads_the_url_and_shows_bad_settings_as_errors():
    at = open_page("views/oe_samples.py", {
        "oes_sizes": "4,zzz,all",  # a stale or edited link: unknown values are dropped
        "oes_methods": "bce,deep-svdd",  # deep-svdd uses no OE: not offered here
        "oes_classes": "3,99", "oes_seeds": "1-x"}).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["oes_sizes"] == [4, "all"]
    assert at.session_state["oes_methods"] == ["bce"]
    assert at.session_state["oes_classes"] == [3]
    assert any("seeds" in e.value for e in at.error)  # shown as a message, not a traceback
    assert not at.get("plotly_chart") and len(RunStore().query()) == 0
