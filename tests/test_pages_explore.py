"""The dashboard headless (Streamlit AppTest): every page loads; Explore trains and matches the store."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from deepad.preview import decode_upload
from deepad.errors import DeepadError
from deepad.store import RunStore

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = re.findall(r'st\.Page\("(pages/[a-z_]+\.py)"', Path(APP).read_text())


def _app():
    return AppTest.from_file(APP, default_timeout=180)


def _figures(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_app_declares_all_page_files():
    files = sorted(p.name for p in (Path(APP).parent / "pages").glob("*.py"))
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
    roc = _figures(at)[0]
    names = [t["name"] for t in roc["data"]]
    assert names[0].startswith("chance")
    assert [n.split(" (")[0] for n in names[1:]] == ["HSC", "BCE"]  # one trace per method
    table = at.dataframe[0].value
    rows = {r["method"]: r for r in table.to_dict("records")}
    store = RunStore()
    for method in ("HSC", "BCE"):
        run = store.get(rows[method]["run key"])
        assert run is not None
        assert rows[method]["AUROC"] == pytest.approx(run.metrics["auroc"])
        assert f"AUROC {run.metrics['auroc']:.3f}" in " ".join(names)
    # a rerun is served from the cache: no new runs
    n = len(store.query())
    at.run()
    assert len(RunStore().query()) == n and not at.exception


def test_explore_reads_its_state_from_the_url():
    at = _app()
    at.query_params["methods"] = "deep-svdd,ae"
    at.query_params["seed"] = "3"
    at.query_params["normal_class"] = "2"
    at.run()
    assert not at.exception
    assert at.session_state["methods"] == ["deep-svdd", "ae"]
    rows = at.dataframe[0].value.to_dict("records")
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
