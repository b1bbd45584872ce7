"""The dashboard on result bundles: runs from a bundle appear on the pages with an empty run store
and without the data, marked with their source; viewer mode hides every training control; the
claims page links to views that show exactly the runs behind a verdict."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import open_page

from deepad import bundle, get_or_train, make_config
from deepad.store import RunStore

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TRAINING_WORDS = ("Compute", "Train", "Delete", "background", "Download CIFAR", "Download MNIST")


@pytest.fixture
def opened(photo_folder, tmp_path, monkeypatch):
    """A bundle of an OE-size grid on the bundled digits with a folder OE that is then removed
    (the data of its runs are not on the viewing machine), opened with an empty store."""
    pool = photo_folder(tmp_path / "oe-pool", n_classes=2, per_class=10)
    monkeypatch.setenv("DEEPAD_CACHE", str(tmp_path / "maker"))
    configs = [make_config(dataset="digits", normal_class=k, oe=f"folder:{pool}", oe_size=n,
                           method=m, seed=1, epochs=2)
               for m in ("hsc", "bce") for k in (0, 1) for n in (2, 8, None)]
    for c in configs:
        get_or_train(c)
    out = tmp_path / "shared-results.zip"
    bundle.export(out, [RunStore().get(c.key) for c in configs])
    shutil.rmtree(pool)
    monkeypatch.setenv("DEEPAD_CACHE", str(tmp_path / "viewer"))
    monkeypatch.setenv("DEEPAD_DATASET_CACHE", str(tmp_path / "viewer-decoded"))
    monkeypatch.setenv("DEEPAD_RESULTS", str(out))
    return {"configs": configs, "bundle": out}


def _page(path, **query):
    at = open_page(path, query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_bundle_fills_the_oe_samples_page_without_training(opened):
    at = _page("views/oe_samples.py")
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["oes_dataset"] == "digits"  # opened on the stored view
    assert at.session_state["oes_sizes"] == [2, 8, "all"]
    assert len(at.get("plotly_chart")) == 1
    text = " ".join(c.value for c in at.caption)
    assert "Runs from shared-results.zip" in text
    pool = at.selectbox(key="oes_oe")
    assert pool.value.startswith("folder:") and "not on this machine" in pool.options[pool.index]
    assert any("Compute the missing points (0 of 12" in b.label and b.disabled for b in at.button)
    at.multiselect(key="oes_sizes").set_value([2, 8, 32, "all"]).run()  # a size nobody ran
    assert any("4 of 16 runs are not stored, and their data are not on this machine" in c.value
               for c in at.caption)
    assert not any("Compute" in b.label for b in at.button)
    assert not RunStore().runs.exists() or not any(RunStore().runs.iterdir())


def test_viewer_mode_hides_every_training_control(opened, monkeypatch):
    monkeypatch.setenv("DEEPAD_VIEWER", "1")
    for path in ("views/explore.py", "views/oe_samples.py", "views/blur.py", "views/table.py",
                 "views/runs.py", "views/claims.py"):
        at = _page(path)
        labels = [b.label for b in at.button]
        assert not [lab for lab in labels if any(w in lab for w in TRAINING_WORDS)], (path, labels)
    # explore, on digits (bundled: trainable elsewhere) trains nothing in viewer mode
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in {"dataset": "digits", "normal_class": "3", "methods": "hsc"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    assert any("viewer mode" in i.value for i in at.info)
    assert not RunStore().runs.exists() or not any(RunStore().runs.iterdir())


def test_runs_page_marks_the_source_and_claims_link_to_their_views(opened):
    at = _page("views/runs.py")
    table = at.dataframe[0].value
    assert len(table) == 12 and set(table["source"]) == {"shared-results.zip"}
    at = _page("views/claims.py")
    headers = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert len(headers) == 9
    links = at.get("page_link")
    assert links  # the OE-size check has runs here (digits is not CIFAR-10: 'not enough runs')
    from deepad import claims
    from deepad.results import Results, bundle_paths, open_bundles
    res = Results(RunStore(), open_bundles(bundle_paths())[0])
    v = claims.enough_in(res.rows(), "digits", 32)
    from ui.stored import view_link
    page, params = view_link(v.view)
    at = _page(page, **params)
    assert at.session_state["oes_sizes"] == [2, 8, "all"]
    assert not [i.value for i in at.info if "None of the" in i.value]
    assert len(at.get("plotly_chart")) == 1


def test_a_bad_bundle_is_reported_not_fatal(opened, monkeypatch, tmp_path):
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"not a zip")
    monkeypatch.setenv("DEEPAD_RESULTS", f"{opened['bundle']},{bad}")
    at = _page("views/oe_samples.py")
    assert len(at.get("plotly_chart")) == 1
    at = _page("views/runs.py")
    assert any("broken.zip is not a deepad result bundle" in w.value for w in at.warning)
    assert len(at.dataframe[0].value) == 12


PAINT = """
import json, sys
from importlib.util import _LazyModule
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120)
at.session_state["methods"] = []
at.run()
for k in list(at.query_params):
    del at.query_params[k]
at.switch_page(sys.argv[2]).run()
loaded = [m for m in ("torch", "torchvision", "sklearn", "scipy")
          if m in sys.modules and not isinstance(sys.modules[m], _LazyModule)]
print(json.dumps({"exceptions": [e.value for e in at.exception], "loaded": loaded,
                  "charts": len(at.get("plotly_chart")), "tables": len(at.dataframe)}))
"""


@pytest.mark.parametrize("page", ["views/oe_samples.py", "views/claims.py", "views/runs.py",
                                  "views/table.py"])
def test_pages_of_stored_runs_draw_without_the_training_stack(opened, page):
    """A page that shows stored runs renders without importing torch or scikit-learn (a fresh
    process; the first paint does not wait for them)."""
    import json
    import os
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", PAINT, APP, page], capture_output=True, text=True,
                       env=os.environ.copy(), timeout=300, cwd=Path(APP).parent)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["exceptions"] == [] and out["loaded"] == [], (out, r.stderr[-1500:])
    assert out["charts"] + out["tables"] >= 1

