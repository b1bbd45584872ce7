"""The dashboard headless (Streamlit AppTest): every page loads; Explore trains and matches the store."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from deepad.errors import DeepadError
from deepad.preview import decode_upload
from deepad.store import RunStore

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = re.findall(r'st\.Page\("(views/[a-z_]+\.py)"', Path(APP).read_text())


def _app():
    return AppTest.from_file(APP, default_timeout=180)


def _figures(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_app_declares_all_page_files():
    files = sorted(p.name for p in (Path(APP).parent / "views").glob("*.py"))
    assert sorted(Path(p).name for p in PAGES) == files


@pytest.mark.parametrize("page", PAGES)
def test_every_page_loads_without_exception(page, monkeypatch):
    at = _app()
    at.query_params["methods"] = "deep-svdd"  # explore: one fast unsupervised run
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]


def test_explore_default_shows_hsc_vs_bce_matching_the_store():
    at = _app().run()
    assert not at.exception
    # by default the ROC curves and histograms are PNG images (they appear at once) ...
    charts = at.get("image")[:2]
    assert not _figures(at)
    assert [len(c.proto.imgs) for c in charts] == [1, 1]
    assert all(c.proto.imgs[0].url.endswith(".png") for c in charts)
    # ... and the same charts in Plotly with the toggle, kept in the URL
    at.toggle(key="interactive").set_value(True).run()
    assert not at.exception and at.query_params["interactive"] == "True"
    roc = _figures(at)[0]
    names = [t["name"] for t in roc["data"]]
    assert names[0].startswith("chance")
    curves = [n for n in names[1:] if not n.endswith("operating point")]
    assert [n.split(" (")[0] for n in curves] == ["HSC", "BCE"]  # one curve per method ...
    assert [n for n in names if n.endswith("operating point")] == [  # ... and its operating point
        "HSC: operating point", "BCE: operating point"]
    table = at.table[0].value
    rows = {r["method"]: r for r in table.to_dict("records")}
    store = RunStore()
    for method in ("HSC", "BCE"):
        run = store.get(rows[method]["run key"])
        assert run is not None
        assert rows[method]["AUROC"] == pytest.approx(run.metrics["auroc"])
        assert f"AUROC {run.metrics['auroc']:.3f}" in " ".join(names)
    # the sidebar says what happened, not the estimate made before it: trained now, or stored
    said = " ".join(c.value for c in at.sidebar.caption)
    assert "Trained and stored 2 of 2 run(s)" in said or "All 2 run(s) of this view are stored" in said
    assert "to train:" not in said
    # a rerun is served from the cache: no new runs
    n = len(store.query())
    at.run()
    assert len(RunStore().query()) == n and not at.exception
    assert any("All 2 run(s) of this view are stored" in c.value for c in at.sidebar.caption)


def test_explore_reads_its_state_from_the_url():
    at = _app()
    at.query_params["methods"] = "deep-svdd,ae"
    at.query_params["seed"] = "3"
    at.query_params["normal_class"] = "2"
    at.run()
    assert not at.exception
    assert at.session_state["methods"] == ["deep-svdd", "ae"]
    rows = at.table[0].value.to_dict("records")
    assert [r["method"] for r in rows] == ["Deep SVDD", "Autoencoder"]
    cfg = RunStore().get(rows[0]["run key"]).config
    assert (cfg.seed, cfg.normal_class, cfg.oe) == (3, 2, "none")


def test_explore_bad_folder_is_an_error_not_a_traceback(tmp_path):
    at = _app()
    at.query_params["dataset"] = "folder:"
    at.query_params["folder"] = str(tmp_path / "nope")
    at.run()
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error)


def test_a_data_set_to_download_is_offered_not_failed(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPAD_DATA", str(tmp_path))  # nothing on disk
    at = _app()
    at.query_params["dataset"] = "fashion-mnist"
    at.run()
    assert not at.exception
    assert any("not on this machine" in w.value for w in at.warning)
    at.button(key="download_fashion-mnist").click().run()  # offline: a clear error
    assert not at.exception
    assert any("could not be downloaded" in e.value for e in at.error)


def test_uploads_are_checked():
    with pytest.raises(DeepadError, match="not a readable image"):
        decode_upload(b"hello, not an image", (1, 8, 8))
    with pytest.raises(DeepadError, match="MB"):
        decode_upload(b"0" * (21 * 2 ** 20), (1, 8, 8))
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(buf, format="PNG")
    x = decode_upload(buf.getvalue(), (1, 8, 8))
    assert x.shape == (1, 1, 8, 8) and x.dtype == np.uint8 and int(x[0, 0, 4, 4]) == 200


def test_a_run_stored_again_under_its_key_is_not_served_from_a_stale_cache():
    """The dashboard's caches are keyed by what is stored (ui.run_version), not by the run key
    alone: after a run is deleted and stored again (e.g. retrained by the CLI with other numbers)
    every session sees the new one."""
    import ui.common as ui
    from deepad import get_or_train, make_config
    cfg = make_config(dataset="digits", normal_class=0, method="hsc", oe="photos", oe_size=8,
                      epochs=1, seed=1)
    store = RunStore()
    get_or_train(cfg, store=store)
    run = store.get(cfg.key)
    old = ui.run_data(cfg.key)
    det = ui.detector(cfg.key)
    assert old["metrics"]["auroc"] == run.metrics["auroc"] and ui.detector(cfg.key) is det
    arrays = {"scores": run.scores, "labels": run.labels, "indices": run.indices,
              "classes": run.test_classes}
    weights = run.weights()
    assert store.delete(cfg.key) and ui.run_data(cfg.key) is None
    store.put(cfg, metrics=dict(run.metrics, auroc=0.123), history=run.history, scores=arrays,
              weights=weights)
    assert ui.run_data(cfg.key)["metrics"]["auroc"] == 0.123
    assert ui.detector(cfg.key) is not det


def test_jpeg_data_get_the_oe_codec_checkbox_on_by_default(shared_data):
    """CIFAR-10 here is a JPEG copy (quality 75): the OE settings offer, switched on, to give the
    OE the same codec (RunConfig.oe_jpeg); the choice lives in the URL. Lossless data (the bundled
    digits) and noise OE get no such checkbox."""
    at = _app()
    at.query_params["dataset"] = "cifar10"
    at.query_params["methods"] = "hsc"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    box = at.checkbox(key="oe_jpeg")
    assert box.value is True and "quality 75" in box.label
    box.uncheck().run()
    assert not at.exception and at.query_params["oe_jpeg"] == "False"
    at.selectbox(key="oe").set_value("noise-uniform").run()
    assert not at.exception and not [c for c in at.checkbox if c.key == "oe_jpeg"]

    digits = _app().run()
    assert not digits.exception and not [c for c in digits.checkbox if c.key == "oe_jpeg"]


def _captions(at) -> list[str]:
    return [i.caption for c in at.get("image") for i in c.proto.imgs]


def test_the_views_panel_and_the_images_behind_are_drawn_only_when_opened():
    """A new tab draws a smaller page: the stored-views panel builds its rows only when opened,
    the images behind the numbers too, and of those only the open method's tab is computed and
    sent."""
    at = _app().run()
    assert not at.exception
    false_alarms = "normal images it finds most anomalous (false alarms)"
    assert _captions(at).count(false_alarms) == 0  # the images behind the numbers: closed
    at.session_state["behind"] = True
    at.run()
    assert _captions(at).count(false_alarms) == 1  # opened: HSC's tab only, not BCE's
    assert at.query_params["behind"] == "True"  # kept in the link ...
    linked = _app()
    linked.query_params["behind"] = "True"
    assert _captions(linked.run()).count(false_alarms) == 1  # ... and a link reopens it
    assert not [b for b in at.button if b.key and b.key.startswith("_view_")]  # panel closed
    at.session_state["_views_open"] = True
    at.run()
    show = [b for b in at.button if b.key and b.key.startswith("_view_")]
    assert show and not at.exception  # opened: a Show button per stored view
    at.session_state["behind_tab"] = "BCE"
    at.run()
    assert not at.exception and _captions(at).count(false_alarms) == 1
    show[0].click().run()  # a stored view is applied without an exception
    assert not at.exception
