"""Run identity does not depend on paths: data sets given by a path are identified by content, and
stores written before that are re-keyed without losing anything."""

import json
import shutil

import pytest

from deepad import RunStore, get_or_train, make_config
from deepad.data import identity, sources
from deepad.errors import DataError


def test_same_images_under_two_paths_give_one_key(photo_folder, tmp_path):
    a = photo_folder(tmp_path / "machine-a" / "photos")
    b = tmp_path / "elsewhere" / "renamed-copy"
    shutil.copytree(a, b)
    ca = make_config(dataset="digits", oe=f"folder:{a}", oe_size=4, method="hsc", epochs=1)
    cb = make_config(dataset="digits", oe=f"folder:{b}", oe_size=4, method="hsc", epochs=1)
    assert ca.oe != cb.oe and ca.oe_id == cb.oe_id and len(ca.oe_id) == 32
    assert ca.key == cb.key
    # the path is not in what the key hashes, the content is
    edited = next(iter(sorted((b / sorted(p.name for p in b.iterdir())[0]).iterdir())))
    edited.write_bytes(edited.read_bytes()[:-1] + b"\x00")
    assert make_config(dataset="digits", oe=f"folder:{b}", oe_size=4, method="hsc",
                       epochs=1).key != ca.key


def test_fingerprint_follows_content_not_names_of_the_top_folder(tmp_path, photo_folder):
    a = photo_folder(tmp_path / "a")
    first = identity.fingerprint("folder", str(a))
    a.rename(tmp_path / "b")
    assert identity.fingerprint("folder", str(tmp_path / "b")) == first
    cls = sorted(p for p in (tmp_path / "b").iterdir())[0]
    cls.rename(cls.with_name("renamed-class"))  # class names are part of the data
    assert identity.fingerprint("folder", str(tmp_path / "b")) != first
    # remembered: a second call only walks the folder
    table = json.loads((identity._table_path()).read_text())["paths"]
    assert table[str(tmp_path / "b")]["n_files"] == 18


def test_registry_data_sets_are_named_not_fingerprinted():
    cfg = make_config(dataset="digits", oe="photos", method="hsc", epochs=1)
    assert cfg.dataset_id is None and cfg.oe_id is None
    assert "dataset_id" in cfg.to_dict()


def test_a_store_written_before_identities_is_rekeyed(photo_folder, tmp_path, monkeypatch):
    pool = photo_folder(tmp_path / "photos")
    new_cfg = make_config(dataset="digits", oe=f"folder:{pool}", oe_size=4, method="hsc", epochs=1)
    old_cfg = new_cfg.replace(oe_id=None)  # what earlier versions stored: keyed by the path
    assert old_cfg.key != new_cfg.key
    gone = photo_folder(tmp_path / "not-here-later", n_classes=2)
    gone_cfg = make_config(dataset="digits", oe=f"folder:{gone}", method="hsc",
                           epochs=1).replace(oe_id=None)
    store = RunStore()
    monkeypatch.setattr("deepad.store._MIGRATED", {str(store.root.resolve())})  # as the old code
    old = get_or_train(old_cfg, store=store)
    old_scores = old.run.scores.copy()
    kept = get_or_train(gone_cfg, store=store)
    shutil.rmtree(gone)
    assert old.key == old_cfg.key and (store.runs / old_cfg.key).is_dir()

    monkeypatch.setattr("deepad.store._MIGRATED", set())  # a new process opens the store
    fresh = RunStore()
    res = get_or_train(new_cfg, store=fresh)
    assert res.cached and res.key == new_cfg.key
    assert res.metrics == old.metrics
    assert (res.run.scores == old_scores).all()
    assert res.config.oe_id == new_cfg.oe_id
    # the old key still answers, through an alias; the old folder is gone, nothing else is
    assert not (fresh.runs / old_cfg.key).exists()
    assert fresh.get(old_cfg.key).key == new_cfg.key and old_cfg.key in fresh
    keys = {r["key"] for r in fresh.query()}
    assert new_cfg.key in keys and old_cfg.key not in keys
    # a run whose data are not on this machine keeps its old key and stays served
    assert kept.key in keys and fresh.get(kept.key).metrics == kept.metrics


def test_a_run_finds_its_data_under_another_path(photo_folder, tmp_path):
    a = photo_folder(tmp_path / "first-place")
    cfg = make_config(dataset="digits", oe=f"folder:{a}", oe_size=4, method="hsc", epochs=1)
    b = tmp_path / "second-place"
    a.rename(b)
    make_config(dataset="digits", oe=f"folder:{b}", oe_size=4, method="hsc", epochs=1)  # seen here
    assert sources.locate(cfg.oe, cfg.oe_id).path == b
    res = get_or_train(cfg)  # trains from the copy at the other path
    assert not res.cached and res.config.oe == cfg.oe


def test_missing_data_of_a_run_is_named(tmp_path):
    cfg_oe = f"folder:{tmp_path / 'never-here'}"
    with pytest.raises(DataError, match="not on this machine|does not exist"):
        sources.locate(cfg_oe, "0" * 32)
    identity.learn(cfg_oe, "1" * 32, classes=["a", "b"])
    # described without the data (what the dashboard does for runs from a bundle)
    cfg = make_config(dataset="digits", oe=cfg_oe, oe_size=8, method="bce", epochs=1,
                      check_data=False)
    assert cfg.oe_id == "1" * 32
    with pytest.raises(DataError, match="not on this machine"):
        get_or_train(cfg)


def test_tiny_images_binary_is_identified_by_content(tmp_path):
    import numpy as np
    data = np.random.default_rng(0).integers(0, 256, 3072 * 20, dtype=np.uint8).tobytes()
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "tiny_images.bin").write_bytes(data)
    (tmp_path / "b" / "80mn_cifar_idxs.txt").write_text("3\n5\n")  # used automatically
    ia = sources.identify(f"tiny-images:{tmp_path / 'a' / 'tiny_images.bin'}")
    ib = sources.identify(f"tiny-images:{tmp_path / 'b' / 'tiny_images.bin'}")
    (tmp_path / "a" / "80mn_cifar_idxs.txt").write_text("3\n5\n")
    ia2 = sources.identify(f"tiny-images:{tmp_path / 'a' / 'tiny_images.bin'}")
    assert ia != ib and ia2 == ib  # the exclude list is part of the data
    cfg = make_config(dataset="digits", oe=f"tiny-images:{tmp_path / 'a' / 'tiny_images.bin'}",
                      oe_size=4, method="hsc", epochs=1)
    assert cfg.oe_id == ib
