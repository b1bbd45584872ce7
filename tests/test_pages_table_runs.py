"""The one-vs-rest table and the run browser, run headlessly with Streamlit's AppTest against a
store seeded with four tiny digits runs (trained once per module, ~1 s each, copied per test)."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import open_page, store_copy, train_into
from streamlit.testing.v1 import AppTest

import deepad

REPO = Path(__file__).resolve().parents[1]
CELLS = [(k, m) for k in (0, 1) for m in ("hsc", "bce")]


def tiny(k, m):
    return deepad.make_config(dataset="digits", normal_class=k, oe="photos", oe_size=64, method=m,
                              epochs=5, seed=1)


@pytest.fixture(scope="module")
def seeded_cache(tmp_path_factory):
    return train_into(tmp_path_factory.mktemp("seeded") / "cache", [tiny(k, m) for k, m in CELLS])


@pytest.fixture
def store(seeded_cache):
    """This test's own store (DEEPAD_CACHE from conftest), holding the four seeded runs."""
    return store_copy(seeded_cache, len(CELLS))


def app(page: str, **query) -> AppTest:
    at = open_page(page, query)
    return at.run()


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def values(v) -> np.ndarray:
    """A Plotly array from a chart spec: a list, or plotly's base64 typed-array form."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v)


@pytest.mark.parametrize("via", ["widgets", "url"])
def test_table_shows_the_stored_aurocs_and_their_mean(store, via):
    if via == "url":  # a copied link reopens the same table
        at = app("views/table.py", tab_budget="epochs", tab_epochs="5", tab_oe_size="64",
                 tab_methods="hsc,bce")
    else:
        at = app("views/table.py")
        at.radio(key="tab_budget").set_value("epochs").run()
        at.number_input(key="tab_epochs").set_value(5)
        at.select_slider(key="tab_oe_size").set_value(64)
        at.multiselect(key="tab_methods").set_value(["hsc", "bce"])
        at.run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value.set_index("nominal class")
    assert list(table.columns) == ["HSC", "BCE"] and len(table) == 11
    for m, title in (("hsc", "HSC"), ("bce", "BCE")):
        aurocs = [store.get(tiny(k, m).key).metrics["auroc"] for k in (0, 1)]
        assert table.loc[["0", "1"], title].tolist() == [np.round(100 * a, 1) for a in aurocs]
        assert table.loc["mean", title] == np.round(np.mean([100 * a for a in aurocs]), 1)
        assert table.loc[[str(k) for k in range(2, 10)], title].isna().all()
    assert any("16 of 20 cells missing" in i.value for i in at.info)
    labels = [b.label for b in at.button if b.label != "Show"]
    assert labels[0].startswith("Compute the missing cells (16 of 20 runs, about ")
    assert labels[1:] == ["Run the 16 missing runs in the background"]
    assert at.query_params["tab_oe_size"] == "64" and at.query_params["tab_methods"] == "hsc,bce"


def test_table_on_cifar10_sets_the_papers_numbers_beside_ours(store, shared_data):
    if not (shared_data / "cifar10-jpg").is_dir():
        pytest.skip("CIFAR-10 image folders not in the shared data")
    at = app("views/table.py", tab_dataset="cifar10", tab_methods="hsc,ae")
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table.columns) == ["nominal class", "HSC", "HSC paper", "HSC Δ", "Autoencoder"]
    assert table["HSC paper"].tolist() == deepad.analysis.PAPER_CIFAR10["hsc"] + [95.9]
    assert any("80 Million Tiny Images" in c.value for c in at.caption)


def test_runs_lists_filters_and_deletes(store):
    failed = deepad.make_config(dataset="digits", normal_class=2, oe="photos", method="bce", epochs=5)
    store.record_failure(failed, "boom: out of memory")
    at = app("views/runs.py")
    assert not at.exception and not at.error
    keys = {r["key"] for r in store.query()}
    assert set(at.dataframe[0].value["key"]) == keys
    assert at.dataframe[1].value["error"].tolist() == ["boom: out of memory"]

    at.multiselect(key="runs_methods").set_value(["hsc"]).run()
    assert set(at.dataframe[0].value["method"]) == {"hsc"} and len(at.dataframe[0].value) == 2
    victim = tiny(0, "hsc").key
    at.text_input(key="runs_text").set_value(victim[:6].upper()).run()
    assert at.dataframe[0].value["key"].tolist() == [victim]

    at.multiselect(key="runs_selected").set_value([victim]).run()
    delete = next(b for b in at.button if b.label == "Delete")
    assert delete.disabled  # not without the confirmation
    at.checkbox(key="runs_confirm").check().run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert not at.exception and not at.error
    assert {r["key"] for r in store.query()} == keys - {victim}
    assert at.multiselect(key="runs_selected").value == []
    at.text_input(key="runs_text").set_value("").run()
    assert len(at.dataframe[0].value) == 1  # the other hsc run


def test_runs_opens_one_and_compares_two(store):
    a, b = tiny(0, "hsc").key, tiny(1, "bce").key
    at = app("views/runs.py", runs_selected=a)  # the selection travels in the URL too
    assert not at.exception and not at.error
    assert [m.label for m in at.metric][:1] == ["AUROC"]
    roc, loss = charts(at)
    assert len(roc["data"]) == 2  # chance line + the curve
    history = store.get(a).history
    assert values(loss["data"][0]["y"]).tolist() == pytest.approx(history) and len(history) == 5
    assert json.loads(at.json[0].proto.body)["method"] == "hsc"

    at.multiselect(key="runs_selected").set_value([a, b]).run()
    assert not at.exception and not at.error
    (roc,) = charts(at)
    assert len(roc["data"]) == 3  # chance line + both curves
    diff = at.dataframe[-1].value.set_index("field")
    assert diff.loc["config.method"].tolist() == ["hsc", "bce"]
    assert diff.loc["config.normal_class"].tolist() == ["0", "1"]
    assert "config.epochs" not in diff.index  # equal fields are left out
    assert at.query_params["runs_selected"] == f"{a},{b}"
