"""Crashes: a process asking for a run is killed with SIGKILL during training, during the artifact
write and during the index update. Afterwards the store lists no partial run, the earlier run is
intact, the dead process's lock is free, and asking again stores the run.

The killed process is `python -c` running get_or_train on the bundled digits, with one hook that
touches a marker file and sleeps at the chosen moment; the test waits for the marker (a deadline,
no fixed sleeps) and kills the process there, so the kill always lands at that moment."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
from rel_helpers import (
    assert_intact,
    assert_only_complete_runs,
    snapshot,
    spawn,
    tiny,
    wait_for,
)

from deepad import RunStore, get_or_train

HERE = Path(__file__).resolve().parent

_VICTIM = r"""
import os, sys, time
from pathlib import Path
marker, stage, seed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
import deepad.store
from deepad.train import Callback
sys.path.insert(0, sys.argv[4])
from rel_helpers import tiny

cfg = tiny(seed=seed)

def hang():
    marker.touch()
    time.sleep(600)  # killed here

callbacks = []
if stage == "training":
    class Hang(Callback):
        def on_step_end(self, det, step, loss):  # after the first optimiser step
            hang()
    callbacks = [Hang()]
elif stage == "artifacts":
    import safetensors.torch
    real_save = safetensors.torch.save_file
    def save_file(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata)
        os.truncate(filename, os.path.getsize(filename) // 2)  # half the weights are on disk
        hang()
    safetensors.torch.save_file = save_file
elif stage == "index":
    real_upsert = deepad.store.RunStore._upsert
    def _upsert(self, con, c, status, metrics=None, error=None):
        if c.key == cfg.key and status == "done":
            con.execute("BEGIN IMMEDIATE")  # the index's write lock held, the row written,
            real_upsert(self, con, c, status, metrics, error)
            hang()                           # never committed
        return real_upsert(self, con, c, status, metrics, error)
    deepad.store.RunStore._upsert = _upsert
from deepad import get_or_train
get_or_train(cfg, callbacks=callbacks, device="cpu")
sys.exit("the run finished: the hook was never reached")
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A store holding one earlier run (seed 1); each test works on a copy."""
    root = tmp_path_factory.mktemp("crash-template") / "cache"
    store = RunStore(root)
    get_or_train(tiny(seed=1), store=store, device="cpu")
    return root, snapshot(store, tiny(seed=1).key)


@pytest.mark.parametrize("stage", ["training", "artifacts", "index"])
def test_sigkill_leaves_no_partial_run(stage, template, tmp_path, monkeypatch):
    src, earlier = template
    root = tmp_path / "cache"
    shutil.copytree(src, root)
    monkeypatch.setenv("DEEPAD_CACHE", str(root))
    store = RunStore(root)
    cfg = tiny(seed=2)
    marker, log = tmp_path / "at-the-moment", tmp_path / "victim.log"

    proc = spawn(_VICTIM, [marker, stage, 2, HERE], root, log)
    try:
        wait_for(marker.exists, f"the victim to reach the {stage}", procs=[proc], logs=[log])
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    leftovers = [p for p in (root / "tmp").iterdir()] if (root / "tmp").exists() else []
    if stage == "artifacts":  # the kill really landed mid-write: a half-written folder in tmp/
        assert [p.name.split("-")[0] for p in leftovers] == [cfg.key]
        assert not (leftovers[0] / "manifest.json").exists()
    else:
        assert leftovers == []

    # the store lists no partial run: every listed run is complete and verifies
    listed = assert_only_complete_runs(store)
    if stage == "index":
        # the rename had happened: the run is complete on disk; the index, missing its row,
        # picks it up on its next use (the uncommitted row of the dead writer was rolled back)
        assert listed == {earlier[0], cfg.key}
    else:
        assert listed == {earlier[0]}
        assert store.get(cfg.key) is None
    assert not (root / "damaged").exists()
    assert_intact(store, earlier)

    with store.lock(cfg.key, timeout=30):  # the dead process's lock is free (and the index's)
        pass

    first = get_or_train(cfg, store=RunStore(root), device="cpu")
    # killed before the run was complete: trained now; complete already: served, verified
    assert first.cached is (stage == "index")
    again = get_or_train(cfg, store=RunStore(root), device="cpu")
    assert again.cached is True and again.metrics == first.metrics
    assert assert_only_complete_runs(store) == {earlier[0], cfg.key}
    assert_intact(store, earlier)
    assert len(store.query(status=None)) == 2  # no failed or duplicate rows
