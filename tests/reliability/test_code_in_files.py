"""Code in files: a run's weights file replaced by a pickle (or a torch.save zip) whose unpickling
would run code, with the manifest's checksum rewritten to match (the worst case: the checksums
cannot tell). Reading the run never runs the payload (it would create a marker file), the run is
treated as damaged (set aside, not served) and asking again retrains it. The variant with a stale
checksum is tests/test_store.py::test_weights_file_with_code_and_stale_checksum_is_set_aside."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch
from rel_helpers import assert_intact, snapshot, tiny

from deepad import RunStore, get_or_train, load_detector
from deepad.errors import DeepadError
from deepad.runfiles import sha256 as _sha256
from deepad.store import StoredRun


class Payload:
    """Unpickling this creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def as_pickle(path, marker):
    path.write_bytes(pickle.dumps({"weight": Payload(marker)}))


def as_torch_save(path, marker):
    with open(path, "wb") as f:
        torch.save({"weight": Payload(marker)}, f)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("code-template") / "cache"
    store = RunStore(root)
    for seed in (1, 2):
        get_or_train(tiny(seed=seed, epochs=1), store=store, device="cpu")
    return root, {seed: snapshot(store, tiny(seed=seed, epochs=1).key) for seed in (1, 2)}


@pytest.mark.parametrize("write", [as_pickle, as_torch_save], ids=["pickle", "torch-save"])
def test_weights_with_code_are_damage_never_executed(write, template, tmp_path, monkeypatch):
    src, snaps = template
    root = tmp_path / "cache"
    shutil.copytree(src, root)
    monkeypatch.setenv("DEEPAD_CACHE", str(root))
    store = RunStore(root)
    cfg = tiny(seed=1, epochs=1)
    marker = tmp_path / "PAYLOAD-RAN"
    d = store.runs / cfg.key
    write(d / "weights.safetensors", marker)
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["sha256"]["weights.safetensors"] = _sha256(d / "weights.safetensors")
    (d / "manifest.json").write_text(json.dumps(manifest))
    assert not marker.exists()
    # the payload is live: unpickling it the usual way would run it
    assert pickle.loads(pickle.dumps(Payload(tmp_path / "control"))) and (tmp_path / "control").exists()

    assert store.get(cfg.key) is None  # not served
    assert not marker.exists()
    moved = list((root / "damaged").glob(f"{cfg.key}-*"))
    assert len(moved) == 1
    assert "not a safetensors file" in (moved[0] / "DAMAGED.txt").read_text()
    assert cfg.key not in {r["key"] for r in store.query()}
    # even read directly, the file is refused without running it
    with pytest.raises(DeepadError, match="unreadable"):
        StoredRun(cfg.key, cfg, {}, [], moved[0]).weights()
    assert not marker.exists()
    assert_intact(store, snaps[2])

    res = get_or_train(cfg, store=store, device="cpu")  # retrained, its weights loadable
    assert res.cached is False
    assert load_detector(res.run, device="cpu").score_samples(
        torch.zeros(2, 1, 8, 8, dtype=torch.uint8)).shape == (2,)
    assert get_or_train(cfg, store=store).cached is True
    assert not marker.exists()
    assert_intact(store, snaps[2])
