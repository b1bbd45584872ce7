import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DEEPAD_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def _decoded_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("decoded")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch, _decoded_cache):
    """Every test gets its own run store and never tries the network; decoded image folders are
    shared by the session (decoding is not what the tests test)."""
    monkeypatch.setenv("DEEPAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DEEPAD_DATASET_CACHE", str(_decoded_cache))
    monkeypatch.setenv("DEEPAD_OFFLINE", "1")
    monkeypatch.setenv("DEEPAD_DATA", str(SHARED_DATA))
    monkeypatch.setenv("DEEPAD_RESULTS", "none")  # the shipped results/ only where a test opens them
    monkeypatch.delenv("DEEPAD_VIEWER", raising=False)


@pytest.fixture
def shared_data():
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set DEEPAD_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _forget_learned_identities():
    """What a test taught the process about data identities (data.identity.learn) stays in it."""
    from deepad.data import identity
    saved = dict(identity._LEARNED)
    yield
    identity._LEARNED.clear()
    identity._LEARNED.update(saved)


@pytest.fixture
def photo_folder(shared_data):
    """A function that copies a small OE folder of real Tiny-ImageNet photos to `dest`
    (`dest/<wnid>/*.JPEG`, the first `n_classes` classes, `per_class` images each)."""
    src = shared_data / "tiny-imagenet-200-val" / "images"
    if not src.is_dir():
        pytest.skip("Tiny-ImageNet validation images not found")

    def make(dest, n_classes=3, per_class=6):
        import shutil
        for d in sorted(p for p in src.iterdir() if p.is_dir())[:n_classes]:
            (dest / d.name).mkdir(parents=True)
            for f in sorted(d.iterdir())[:per_class]:
                shutil.copy(f, dest / d.name / f.name)
        return dest
    return make


APP = str(REPO / "app.py")


def open_page(page: str, query: dict | None = None, timeout: int = 120):
    """An AppTest of the dashboard switched to `page` (e.g. 'views/table.py'), with `query` as its
    link's parameters; call .run() on it. AppTest can only switch to a page that st.navigation
    registered, i.e. after one run: that first run draws Explore with no method (nothing trains)."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state["methods"] = []
    at.run()
    for k in list(at.query_params):
        del at.query_params[k]
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.switch_page(page)


def train_into(root, configs):
    """A run store at `root` holding the configs' runs, trained once (for a module's fixture)."""
    import deepad
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPAD_CACHE", str(root))
        mp.setenv("DEEPAD_OFFLINE", "1")
        for cfg in configs:
            deepad.get_or_train(cfg, device="cpu")
    return root


def store_copy(root, n_runs):
    """This test's own store (DEEPAD_CACHE from _isolated_env), a copy of the store at `root`."""
    import shutil

    import deepad
    s = deepad.RunStore()
    shutil.copytree(root, s.root)
    assert len(s.query()) == n_runs
    return s
