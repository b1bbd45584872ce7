"""The run store and get_or_train: round trips, stable keys, concurrency, damage, unsafe files,
crashes, failed runs and an unwritable cache. Every test uses its own store under tmp_path and the
bundled `digits` data (no files needed); the whole file runs in well under a minute on 2 cores."""

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import deepad.experiments
from deepad import RunStore, get_or_train, load_detector, make_config
from deepad.data import sources
from deepad.errors import DeepadError, RunFailed
from deepad.runfiles import sha256 as _sha256
from deepad.store import FILES

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 3
ARGS = dict(dataset="digits", normal_class=0, oe="photos", oe_size=64, method="hsc", epochs=EPOCHS)


def cfg(seed=1):
    return make_config(seed=seed, **ARGS)


def sub_env(cache=None):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if cache is not None:
        env["DEEPAD_CACHE"] = str(cache)
    return env


@pytest.fixture
def store(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("DEEPAD_CACHE", str(root))
    return RunStore(root)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A store holding two runs (seeds 1 and 2), trained once; tests work on copies of it."""
    root = tmp_path_factory.mktemp("template") / "cache"
    s = RunStore(root)
    runs = {seed: get_or_train(cfg(seed), store=s).run for seed in (1, 2)}
    return root, {seed: (r.key, dict(r.metrics), r.scores.copy()) for seed, r in runs.items()}


@pytest.fixture
def two_runs(template, tmp_path, monkeypatch):
    src, info = template
    root = tmp_path / "cache"
    shutil.copytree(src, root)
    monkeypatch.setenv("DEEPAD_CACHE", str(root))
    return RunStore(root), info


def damaged_copies(store, key):
    d = store.root / "damaged"
    return [p for p in d.iterdir() if p.name.startswith(key)] if d.exists() else []


def assert_intact(store, key, metrics, scores):
    """`key` is served, verified, with its original numbers, and listed in the index."""
    run = store.get(key)
    assert run is not None
    assert run.metrics == metrics
    np.testing.assert_array_equal(run.scores, scores)
    assert key in {r["key"] for r in store.query()}


# --------------------------------------------------------------------------- 1. round trip

def test_round_trip(store):
    c = cfg()
    first = get_or_train(c, store=store)
    assert first.cached is False
    assert first.key == c.key and first.config == c
    assert (store.runs / c.key / "manifest.json").exists()

    # a fresh store object on the same folder, as another process would see it
    again = get_or_train(c, store=RunStore(store.root))
    assert again.cached is True
    assert again.metrics == first.metrics
    assert again.run.history == first.run.history and len(again.run.history) == EPOCHS
    np.testing.assert_array_equal(again.run.scores, first.run.scores)
    np.testing.assert_array_equal(again.run.labels, first.run.labels)
    np.testing.assert_array_equal(again.run.indices, first.run.indices)
    assert again.run.scores.dtype == np.float64

    rows = store.query()
    assert [r["key"] for r in rows] == [c.key]
    assert rows[0]["auroc"] == pytest.approx(first.metrics["auroc"])
    assert rows[0]["seed"] == 1 and rows[0]["method"] == "hsc"

    w = again.run.weights()
    assert w and all(isinstance(t, torch.Tensor) for t in w.values())

    test = sources.get("digits").load("test")
    det = load_detector(again.run, device="cpu")
    images = test.images[torch.as_tensor(again.run.indices)]
    rescored = det.score_samples(images)
    assert np.allclose(rescored, again.run.scores, atol=1e-6)
    labels = (test.labels[torch.as_tensor(again.run.indices)] != c.normal_class).numpy()
    np.testing.assert_array_equal(again.run.labels, labels.astype(np.int8))


# --------------------------------------------------------------------------- 2. stable keys

def test_key_is_stable_across_processes():
    c = cfg()
    code = ("from deepad import make_config; "
            f"print(make_config(seed=1, **{ARGS!r}).key)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env=dict(sub_env(), PYTHONHASHSEED="12345"), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == c.key
    assert len(c.key) == 16

    assert type(c).from_dict(json.loads(json.dumps(c.to_dict()))).key == c.key
    changed = [c.replace(seed=2), c.replace(epochs=EPOCHS + 1), c.replace(oe_size=65),
               c.replace(blur_sigma=0.5), c.replace(normal_class=1), c.replace(lr=2e-3),
               c.replace(method_params=(("gamma", 1.0),)), c.replace(oe="none", oe_size=None)]
    keys = [x.key for x in changed]
    assert c.key not in keys
    assert len(set(keys)) == len(keys)


# --------------------------------------------------------------------------- 3. concurrency

_WORKER = """
import json, sys, time
from pathlib import Path
sig, i, seeds = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
import deepad.cli, deepad.experiments  # pay the imports before the start signal
for phase, seed in enumerate(seeds):
    Path(f"{sig}.ready{phase}.{i}").touch()
    t0 = time.time()
    while not Path(f"{sig}.go{phase}").exists():
        if time.time() - t0 > 120:
            sys.exit("no start signal")
        time.sleep(0.01)
    argv = ["run", "--dataset", "digits", "--normal-class", "0", "--oe", "photos", "--oe-size",
            "64", "--method", "hsc", "--epochs", sys.argv[4], "--seed", str(seed),
            "--device", "cpu", "--json"]
    if deepad.cli.main(argv) != 0:
        sys.exit(1)
"""


class Workers:
    """Processes that each run `deepad run --json` once per phase (one seed per process and
    phase); a phase starts in all of them at the same moment."""

    def __init__(self, tmp_path, cache, seeds_per_worker):
        self.sig = tmp_path / "signal"
        self.n = len(seeds_per_worker)
        self.errs = [tmp_path / f"worker{i}.stderr" for i in range(self.n)]
        self.procs = []
        for i, seeds in enumerate(seeds_per_worker):
            with open(self.errs[i], "w") as err:  # a file: a full stderr pipe would block
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-c", _WORKER, str(self.sig), str(i), json.dumps(seeds),
                     str(EPOCHS)], cwd=REPO, env=sub_env(cache), stdout=subprocess.PIPE,
                    stderr=err, text=True))

    def stderr(self, i):
        return self.errs[i].read_text()[-2000:]

    def wait_ready(self, phase):
        """Wait until every worker is ready for `phase` (so done with the one before)."""
        deadline = time.time() + 120
        while not all(Path(f"{self.sig}.ready{phase}.{i}").exists() for i in range(self.n)):
            dead = [i for i, p in enumerate(self.procs) if p.poll() is not None]
            assert not dead, self.stderr(dead[0])
            assert time.time() < deadline, "workers did not get ready"
            time.sleep(0.02)

    def go(self, phase):
        Path(f"{self.sig}.go{phase}").touch()

    def results(self):
        """Per phase, the JSON each worker printed."""
        outs = []
        for i, p in enumerate(self.procs):
            out, _ = p.communicate(timeout=180)
            assert p.returncode == 0, self.stderr(i)
            outs.append([json.loads(line) for line in out.splitlines()])
        return [list(phase) for phase in zip(*outs)]

    def close(self):
        """Stop workers left waiting after a failed check."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_concurrent_runs(store, tmp_path):
    """4 processes ask for the same run at once (trained once), then for 4 different seeds."""
    c = cfg()
    seeds = [2, 3, 4, 5]
    workers = Workers(tmp_path, store.root, [[1, s] for s in seeds])
    try:
        workers.wait_ready(0)
        workers.go(0)
        workers.wait_ready(1)  # every worker has its phase-0 answer: look at the store in between
        assert not (store.root / "damaged").exists()  # no second copy written and set aside
        assert [p.name for p in store.runs.iterdir()] == [c.key]
        assert [r["key"] for r in store.query()] == [c.key]
        first = store.get(c.key)
        workers.go(1)
        same, different = workers.results()
    finally:
        workers.close()

    assert [r["run_key"] for r in same] == [c.key] * 4
    assert sorted(r["cached"] for r in same) == [False, True, True, True]  # trained exactly once
    for name in ("auroc", "auprc", "fpr_at_95_tpr", "train_seconds"):
        assert {r[name] for r in same} == {first.metrics[name]}, name

    assert [r["cached"] for r in different] == [False] * 4
    assert [r["config"]["seed"] for r in different] == seeds
    assert len({r["run_key"] for r in different}) == 4
    rows = store.query()
    assert len(rows) == 1 + 4
    assert {r["seed"] for r in rows} == {1, *seeds}
    for r in different:
        assert store.get(r["run_key"]).metrics["auroc"] == r["auroc"]
    assert list((store.root / "tmp").iterdir()) == []
    assert not (store.root / "damaged").exists()


# --------------------------------------------------------------------------- 4. damage

def _truncate_weights(d):
    p = d / "weights.safetensors"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip_bit_in_scores(d):
    p = d / "scores.npz"
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0x01
    p.write_bytes(bytes(b))


def _delete_metrics(d):
    (d / "metrics.json").unlink()


@pytest.mark.parametrize("damage", [_truncate_weights, _flip_bit_in_scores, _delete_metrics],
                         ids=["truncated-weights", "bit-flip-scores", "no-metrics"])
def test_damaged_run_is_set_aside_and_retrained(two_runs, damage):
    store, info = two_runs
    key, metrics, scores = info[1]
    other = info[2]
    damage(store.runs / key)

    assert store.get(key) is None
    assert not (store.runs / key).exists()
    moved = damaged_copies(store, key)
    assert len(moved) == 1 and (moved[0] / "DAMAGED.txt").exists()
    assert key not in {r["key"] for r in store.query()}
    assert_intact(store, other[0], other[1], other[2])

    res = get_or_train(cfg(1), store=store)
    assert res.cached is False
    np.testing.assert_allclose(res.run.scores, scores)  # CPU training is deterministic
    again = get_or_train(cfg(1), store=RunStore(store.root))
    assert again.cached is True
    assert again.metrics == res.metrics
    assert {r["key"] for r in store.query()} == {key, other[0]}
    assert_intact(store, other[0], other[1], other[2])


def _delete_index(root):
    for suffix in ("", "-wal", "-shm"):
        Path(str(root / "index.sqlite") + suffix).unlink(missing_ok=True)


def _garbage_index(root):
    _delete_index(root)
    (root / "index.sqlite").write_bytes(b"this is not a database\x00\xff" * 300)


def _damaged_index_page(root):
    """Garbage over the rows' page (the second): the file opens and counts its rows through the
    key's index, only reading the rows fails."""
    p = root / "index.sqlite"
    assert not Path(str(p) + "-wal").exists() or Path(str(p) + "-wal").stat().st_size == 0
    b = p.read_bytes()
    assert len(b) >= 3 * 4096
    p.write_bytes(b[:4096] + np.random.default_rng(0).bytes(4096) + b[8192:])


@pytest.mark.parametrize("damage", [_delete_index, _garbage_index, _damaged_index_page],
                         ids=["deleted", "garbage", "damaged-page"])
def test_lost_index_is_rebuilt_from_folders(two_runs, damage):
    store, info = two_runs
    damage(store.root)

    rows = {r["key"]: r for r in store.query()}
    assert set(rows) == {k for k, _, _ in info.values()}
    for key, metrics, _ in info.values():
        assert rows[key]["auroc"] == pytest.approx(metrics["auroc"])
        assert rows[key]["status"] == "done"
    assert {rows[k]["seed"] for k in rows} == {1, 2}

    for seed, (key, metrics, scores) in info.items():
        res = get_or_train(cfg(seed), store=store)
        assert res.cached is True
        assert res.metrics == metrics
        assert_intact(store, key, metrics, scores)


def test_lost_index_seen_first_by_a_writer(two_runs):
    """The first thing after the index is lost is a new run being stored: old runs still listed."""
    store, info = two_runs
    _garbage_index(store.root)
    res = get_or_train(cfg(3), store=store)
    assert res.cached is False
    assert {r["key"] for r in store.query()} == {res.key} | {k for k, _, _ in info.values()}


def test_runs_of_another_code_version_are_kept_not_served(two_runs, monkeypatch):
    """After CODE_VERSION is bumped old runs stay on disk: not served, never set aside as damaged
    (not by get, not by an index rebuild), and served again by the code that wrote them."""
    import deepad.config
    import deepad.store
    store, info = two_runs
    old_key, metrics, scores = info[1]
    v = deepad.config.CODE_VERSION
    monkeypatch.setattr(deepad.config, "CODE_VERSION", v + 1)
    monkeypatch.setattr(deepad.store, "CODE_VERSION", v + 1)
    assert cfg(1).key != old_key

    assert store.get(old_key) is None
    _delete_index(store.root)
    store.query()
    assert store.rebuild_index() == 0
    res = get_or_train(cfg(1), store=store)
    assert res.cached is False and res.key != old_key
    assert not (store.root / "damaged").exists()
    assert sorted(p.name for p in store.runs.iterdir()) == sorted([res.key, info[1][0], info[2][0]])

    monkeypatch.setattr(deepad.config, "CODE_VERSION", v)
    monkeypatch.setattr(deepad.store, "CODE_VERSION", v)
    store.rebuild_index()
    assert_intact(store, old_key, metrics, scores)
    assert get_or_train(cfg(1), store=store).cached is True


# --------------------------------------------------------------------------- 5. code in files

class _Payload:
    """Unpickling this creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _write_pickle(path, marker):
    path.write_bytes(pickle.dumps({"weight": _Payload(marker)}))


def _write_torch_save(path, marker):
    with open(path, "wb") as f:
        torch.save({"weight": _Payload(marker)}, f)


@pytest.mark.parametrize("write", [_write_pickle, _write_torch_save], ids=["pickle", "torch-save"])
def test_weights_file_with_code_is_never_executed(two_runs, tmp_path, write):
    store, info = two_runs
    key = info[1][0]
    marker = tmp_path / "PWNED"
    d = store.runs / key
    write(d / "weights.safetensors", marker)
    assert not marker.exists()

    manifest = json.loads((d / "manifest.json").read_text())
    manifest["sha256"]["weights.safetensors"] = _sha256(d / "weights.safetensors")
    (d / "manifest.json").write_text(json.dumps(manifest))

    run = store.get(key)
    if run is not None:  # the checksums pass: reading the weights must fail, not run the code
        with pytest.raises(Exception):
            run.weights()
        assert not marker.exists()
        with pytest.raises(Exception):
            load_detector(run, device="cpu")
    else:  # or the store itself recognised the file as bad and set the run aside
        assert damaged_copies(store, key)
    assert not marker.exists()


def test_weights_file_with_code_and_stale_checksum_is_set_aside(two_runs, tmp_path):
    store, info = two_runs
    key = info[1][0]
    marker = tmp_path / "PWNED"
    _write_pickle(store.runs / key / "weights.safetensors", marker)
    assert store.get(key) is None
    assert damaged_copies(store, key)
    assert not marker.exists()
    other = info[2]
    assert_intact(store, other[0], other[1], other[2])


# --------------------------------------------------------------------------- 6. crash leftovers

def test_leftover_temporary_folder_is_ignored(two_runs):
    store, info = two_runs
    key1 = info[1][0]
    new = cfg(7)
    for k in (new.key, key1):  # a half-written new run, and a half-written rewrite of a stored one
        tmp = store.root / "tmp" / f"{k}-deadbeef{k}"
        tmp.mkdir(parents=True)
        (tmp / "config.json").write_text(json.dumps(new.to_dict() if k == new.key else {}))
        (tmp / "metrics.json").write_text('{"auroc": 0.5')  # cut off mid-write
        (tmp / "scores.npz").write_bytes(b"PK\x03\x04")

    assert new.key not in {r["key"] for r in store.query()}
    assert store.get(new.key) is None
    assert_intact(store, key1, info[1][1], info[1][2])
    assert store.rebuild_index() == 2
    assert {r["key"] for r in store.query()} == {k for k, _, _ in info.values()}

    res = get_or_train(new, store=store)
    assert res.cached is False
    assert get_or_train(new, store=store).cached is True
    assert len(store.query()) == 3


def test_run_folder_without_manifest_is_not_served(two_runs):
    """A run folder that lost its manifest (written last) is incomplete: never served or listed."""
    store, info = two_runs
    key = info[1][0]
    (store.runs / key / "manifest.json").unlink()
    assert key not in store
    assert store.get(key) is None
    assert store.rebuild_index() == 1
    assert key not in {r["key"] for r in store.query()}
    assert get_or_train(cfg(1), store=store).cached is False


# --------------------------------------------------------------------------- 7. failed runs

def test_failed_run_is_recorded_not_cached(store, monkeypatch):
    c = cfg()
    real = deepad.experiments.train_run

    def boom(*a, **k):
        raise RunFailed("boom: the loss became nan")

    monkeypatch.setattr(deepad.experiments, "train_run", boom)
    with pytest.raises(RunFailed, match="boom"):
        get_or_train(c, store=store)
    failed = store.query(status="failed")
    assert [r["key"] for r in failed] == [c.key]
    assert "boom" in failed[0]["error"]
    assert store.query() == []
    assert store.get(c.key) is None
    assert not (store.runs / c.key).exists()
    with pytest.raises(RunFailed):  # asking again retries (and fails again), nothing cached
        get_or_train(c, store=store)

    monkeypatch.setattr(deepad.experiments, "train_run", real)
    res = get_or_train(c, store=store)
    assert res.cached is False
    assert store.query(status="failed") == []
    rows = store.query()
    assert [(r["key"], r["status"], r["error"]) for r in rows] == [(c.key, "done", None)]
    assert get_or_train(c, store=store).cached is True


# --------------------------------------------------------------------------- 8. unwritable cache

@pytest.mark.parametrize("where", ["under-a-file", "is-a-file"])
def test_unwritable_cache_fails_fast_and_writes_nothing(tmp_path, monkeypatch, where):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    root = afile / "cache" if where == "under-a-file" else afile
    monkeypatch.setenv("DEEPAD_CACHE", str(root))
    calls = []
    real = deepad.experiments.train_run
    monkeypatch.setattr(deepad.experiments, "train_run",
                        lambda *a, **k: calls.append(1) or real(*a, **k))

    with pytest.raises(DeepadError, match="DEEPAD_CACHE"):
        get_or_train(cfg())
    assert calls == []  # refused before training, not after
    assert afile.read_text() == "not a folder"
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]
    assert RunStore().query() == []


def test_files_constant_matches_layout(store):
    """Every file the manifest covers is written, and the manifest names exactly those."""
    run = get_or_train(cfg(), store=store).run
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert sorted(manifest["sha256"]) == sorted(FILES)
    assert sorted(p.name for p in run.path.iterdir()) == sorted(FILES + ("manifest.json",))
