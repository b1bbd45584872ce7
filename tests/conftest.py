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


@pytest.fixture
def shared_data():
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set DEEPAD_SHARED_DATA)")
    return SHARED_DATA
