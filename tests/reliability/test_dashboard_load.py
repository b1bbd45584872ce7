"""Load: five dashboard sessions at once (Streamlit AppTest sessions of the Explore page, one thread
each, in this process, as a server holds its sessions), each training a different tiny config.

"At once" is forced: every session's training waits at a barrier until all five are training.
All finish, each shows its own run and nobody else's, and memory stays bounded (the Streamlit
caches have entry limits; resident memory grows by less than a generous bound)."""

from __future__ import annotations

import re
import resource
import threading

from rel_helpers import APP, REPO, tiny
from streamlit.testing.v1 import AppTest

import deepad.experiments
from deepad.store import RunStore

SESSIONS = 5
RSS_BOUND = 1.5 * 2 ** 30


def rss_bytes() -> int:
    """Resident memory now (Linux), else the peak so far."""
    try:
        with open("/proc/self/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def session(seed: int, out: dict) -> None:
    try:
        at = AppTest.from_file(APP, default_timeout=240)
        for k, v in dict(methods="deep-svdd", seed=str(seed), normal_class=str(seed % 3),
                         budget="epochs", epochs="2", device="cpu").items():
            at.query_params[k] = v
        at.run()
        next(b for b in at.button if b.label == "Train").click()
        at.run()
        out[seed] = at
    except BaseException as e:  # noqa: BLE001 - reported by the test
        out[seed] = e


def one_runtime_for_all_sessions(monkeypatch) -> None:
    """A real server has one Runtime (media files, caches) for all its sessions. AppTest instead
    installs its own mock Runtime in the process-global `Runtime._instance` at the start of every
    run and clears it at the end, so AppTests running in threads pull it from under each other
    ("Runtime hasn't been created!", lost widget state). Here every AppTest writes to a stand-in
    and the process holds one shared runtime built as AppTest builds its own."""
    from unittest.mock import MagicMock

    import streamlit.testing.v1.app_test as app_test
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.storage.dummy_cache_storage import (
        MemoryCacheStorageManager,
    )
    from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    shared = MagicMock(spec=Runtime)
    shared.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    shared.dataframe_source_mgr = DataframeSourceManager()
    shared.cache_storage_manager = MemoryCacheStorageManager()
    registry = BidiComponentManager()
    registry.discover_and_register_components(start_file_watching=False)
    shared.bidi_component_registry = registry

    class StandIn:  # what AppTest assigns to and clears, instead of the real Runtime
        _instance = None

    monkeypatch.setattr(app_test, "Runtime", StandIn)
    monkeypatch.setattr(Runtime, "_instance", shared)


def test_five_sessions_at_once(monkeypatch):
    one_runtime_for_all_sessions(monkeypatch)
    barrier = threading.Barrier(SESSIONS, timeout=180)
    real = deepad.experiments.train_run
    trained = []

    def train_run(cfg, **kw):
        barrier.wait()  # all five sessions are in training at the same time
        trained.append(cfg.key)
        return real(cfg, **kw)

    monkeypatch.setattr(deepad.experiments, "train_run", train_run)
    before = rss_bytes()
    out: dict = {}
    threads = [threading.Thread(target=session, args=(s, out), daemon=True)
               for s in range(1, SESSIONS + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a session did not finish"
    grown = rss_bytes() - before

    expected = {s: tiny(seed=s, normal_class=s % 3) for s in range(1, SESSIONS + 1)}
    assert len({c.key for c in expected.values()}) == SESSIONS
    problems = {s: (at if isinstance(at, BaseException)
                    else [e.value for e in at.exception] + [e.value for e in at.error])
                for s, at in out.items()}
    assert not any(problems.values()), problems  # say why before counting trainings
    assert sorted(trained) == sorted(c.key for c in expected.values())  # each trained once
    store = RunStore()
    assert {r["key"] for r in store.query()} == {c.key for c in expected.values()}
    for s, at in sorted(out.items()):
        assert not isinstance(at, BaseException), f"session {s}: {at!r}"
        assert not at.exception, (s, [e.value for e in at.exception])
        assert not at.error, (s, [e.value for e in at.error])
        # its own settings, its own run, the stored numbers: nothing from another session
        assert at.session_state["seed"] == s and at.session_state["normal_class"] == str(s % 3)
        rows = at.table[0].value.to_dict("records")
        assert [r["run key"] for r in rows] == [expected[s].key], s
        assert rows[0]["AUROC"] == store.get(expected[s].key).metrics["auroc"]
        assert at.query_params["seed"] == str(s)  # its URL, not another's
    assert len(out) == SESSIONS
    assert grown < RSS_BOUND, f"resident memory grew by {grown / 2 ** 20:.0f} MB"


def test_dashboard_caches_are_bounded():
    """Every Streamlit cache in the dashboard has an entry limit, so memory cannot grow with the
    number of runs or sessions seen."""
    import importlib

    from streamlit.runtime.caching.cache_utils import CachedFunc
    cached = {}
    for mod in sorted((REPO / "ui").glob("*.py")):
        m = importlib.import_module(f"ui.{mod.stem}")
        cached.update({n: f for n, f in vars(m).items() if isinstance(f, CachedFunc)})
    assert {"_run_data", "_detector", "_heatmaps", "chart_pngs", "test_images", "_opened"} <= set(cached)
    for name, f in cached.items():
        assert f._info.max_entries is not None, name
    for page in sorted((REPO / "views").glob("*.py")) + sorted((REPO / "ui").glob("*.py")):
        for call in re.findall(r"@st\.cache_(?:data|resource)(\([^)]*\))?", page.read_text()):
            assert "max_entries" in call, f"{page.name}: a cache without max_entries"
