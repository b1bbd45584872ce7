"""Concurrency: a dashboard session (Explore, headless via AppTest, in this process) and a sweep
(`deepad sweep` in a subprocess) ask for the same run at the same time: it is trained once.

The overlap is forced, not hoped for: whichever side trains holds its training until the other
side is waiting for the run's lock (both sides signal through marker files), in both orders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rel_helpers import APP, assert_only_complete_runs, spawn, tiny, wait_for
from streamlit.testing.v1 import AppTest

import deepad.experiments
from deepad.grids import Grid
from deepad.store import RunStore

EPOCHS = 3

_SWEEP = r"""
import sys, time
from pathlib import Path
sig, order, epochs = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
import deepad.cli, deepad.experiments, deepad.store

def wait_for(name):
    deadline = time.monotonic() + 150
    while not (sig / name).exists():
        if time.monotonic() > deadline:
            sys.exit(f"sweep: no {name}")
        time.sleep(0.01)

real_train, real_lock = deepad.experiments.train_run, deepad.store.RunStore.lock

def train_run(cfg, **kw):
    with open(sig / "trainings", "a") as f:
        f.write("sweep\n")
    if order == "sweep-first":
        wait_for("page-waiting")  # hold the run's lock until the page waits for it
    return real_train(cfg, **kw)

def lock(self, key, timeout=-1):
    (sig / "sweep-waiting").touch()
    return real_lock(self, key, timeout)

deepad.experiments.train_run, deepad.store.RunStore.lock = train_run, lock
(sig / "sweep-ready").touch()
if order == "page-first":
    wait_for("page-training")
sys.exit(deepad.cli.main(["sweep", "--dataset", "digits", "--normal-class", "0", "--method",
                          "deep-svdd", "--seed", "1", "--epochs", epochs, "--workers", "1",
                          "--device", "cpu"]))
"""


@pytest.mark.parametrize("order", ["sweep-first", "page-first"])
def test_dashboard_and_sweep_train_a_run_once(order, tmp_path, monkeypatch):
    cache = Path(os.environ["DEEPAD_CACHE"])
    sig = tmp_path / "signals"
    sig.mkdir()
    trainings = sig / "trainings"
    cfg = tiny(seed=1, epochs=EPOCHS)
    # the sweep's grid and the page's settings name the same run
    assert [c.key for c in Grid(dataset="digits", normal_class=[0], method=["deep-svdd"],
                                seed=[1], epochs=str(EPOCHS)).configs()] == [cfg.key]

    def signal_wait(name):
        wait_for((sig / name).exists, name, procs=[proc], logs=[log])

    real_train, real_lock = deepad.experiments.train_run, RunStore.lock

    def train_run(c, **kw):  # the page's training
        with open(trainings, "a") as f:
            f.write("page\n")
        (sig / "page-training").touch()
        if order == "page-first":
            signal_wait("sweep-waiting")  # hold the run's lock until the sweep waits for it
        return real_train(c, **kw)

    def lock(self, key, timeout=-1):
        (sig / "page-waiting").touch()
        return real_lock(self, key, timeout)

    monkeypatch.setattr(deepad.experiments, "train_run", train_run)
    monkeypatch.setattr(RunStore, "lock", lock)

    at = AppTest.from_file(APP, default_timeout=240)
    for k, v in dict(methods="deep-svdd", seed="1", normal_class="0", budget="epochs",
                     epochs=str(EPOCHS), device="cpu").items():
        at.query_params[k] = v
    at.run()  # settings read from the URL; nothing trained without a click
    assert not at.exception, [e.value for e in at.exception]
    assert RunStore().query() == []

    log = tmp_path / "sweep.log"
    proc = spawn(_SWEEP, [sig, order, EPOCHS], cache, log)
    try:
        signal_wait("sweep-ready")
        if order == "sweep-first":
            wait_for(lambda: trainings.exists() and "sweep" in trainings.read_text(),
                     "the sweep to start training", procs=[proc], logs=[log])
        next(b for b in at.button if b.label == "Train").click()
        at.run()  # page-first: trains while the sweep waits; sweep-first: waits, then reads
        assert proc.wait(timeout=240) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = log.read_text()

    # exactly one training, by the side that came first; the other was served from the store
    assert trainings.read_text().splitlines() == ["sweep" if order == "sweep-first" else "page"]
    assert ("1 runs: 1 trained, 0 cached, 0 failed" if order == "sweep-first" else
            "1 runs: 0 trained, 1 cached, 0 failed") in out, out[-2000:]
    assert (sig / "page-waiting").exists() and (sig / "sweep-waiting").exists()

    store = RunStore()
    assert assert_only_complete_runs(store) == {cfg.key}
    assert len(store.query(status=None)) == 1
    assert not (cache / "damaged").exists()  # no second copy written and set aside
    assert not at.exception and not at.error, [e.value for e in at.error]
    rows = at.table[0].value.to_dict("records")
    assert [r["run key"] for r in rows] == [cfg.key]
    assert rows[0]["AUROC"] == store.get(cfg.key).metrics["auroc"]
