"""Result bundles: export -> import elsewhere gives the same runs under the same keys, the same
`deepad run` command is then answered from the store, and every bad bundle is refused with one
line and nothing written."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import numpy as np
import pytest

from deepad import RunStore, get_or_train, make_config
from deepad.bundle import open_bundle
from deepad.cli import main


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def machine_a(photo_folder, tmp_path, monkeypatch):
    """A store with four short runs on the bundled digits with a folder OE."""
    pool = photo_folder(tmp_path / "a-data" / "photos", per_class=8)
    monkeypatch.setenv("DEEPAD_CACHE", str(tmp_path / "a-cache"))
    monkeypatch.setenv("DEEPAD_DATASET_CACHE", str(tmp_path / "a-decoded"))
    runs = []
    for method in ("hsc", "bce"):
        for k in (0, 1):
            cfg = make_config(dataset="digits", normal_class=k, oe=f"folder:{pool}", oe_size=8,
                              method=method, epochs=1, seed=3)
            runs.append(get_or_train(cfg))
    return {"pool": pool, "runs": runs, "store": RunStore()}


def test_export_import_elsewhere_same_keys_metrics_and_scores(machine_a, tmp_path, monkeypatch,
                                                              capsys):
    out = tmp_path / "shared" / "results.zip"
    code, text, err = _cli(capsys, "bundle", "export", "--out", str(out), "--dataset", "digits",
                           "--json")
    assert code == 0, err
    summary = json.loads(text)
    assert summary["runs"] == 4 and summary["by_dataset"] == {"digits": 4}

    # "machine B": another store, another place for the data, no memory of fingerprints
    b_pool = tmp_path / "b-data" / "somewhere" / "oe-copy"
    shutil.copytree(machine_a["pool"], b_pool)
    shutil.rmtree(machine_a["pool"])
    monkeypatch.setenv("DEEPAD_CACHE", str(tmp_path / "b-cache"))
    monkeypatch.setenv("DEEPAD_DATASET_CACHE", str(tmp_path / "b-decoded"))
    code, text, err = _cli(capsys, "bundle", "import", str(out), "--json")
    assert code == 0, err
    assert json.loads(text)["imported"] == 4
    store_b = RunStore()
    for r in machine_a["runs"]:
        got = store_b.get(r.key)
        assert got is not None and got.metrics == r.metrics and got.history == r.run.history
        assert np.array_equal(got.scores, r.run.scores) and got.scores.dtype == np.float64
        assert np.array_equal(got.labels, r.run.labels)
        assert np.array_equal(got.test_classes, r.run.test_classes)
        assert not got.has_weights and got.extremes() is not None

    # the same command, with the data at B's path: answered from the store, not retrained
    cfg = machine_a["runs"][0].config
    code, text, err = _cli(capsys, "run", "--dataset", "digits", "--normal-class", "0", "--oe",
                           f"folder:{b_pool}", "--oe-size", "8", "--method", "hsc", "--epochs",
                           "1", "--seed", "3", "--json")
    assert code == 0, err
    res = json.loads(text)
    assert res["cached"] is True and res["run_key"] == cfg.key
    assert res["auroc"] == machine_a["runs"][0].metrics["auroc"]

    # importing again changes nothing
    before = sorted(p.name for p in store_b.runs.iterdir())
    code, text, err = _cli(capsys, "bundle", "import", str(out), "--json")
    assert code == 0 and json.loads(text) == {"imported": 0, "present": 4, "conflicts": [],
                                              "keys": []}
    assert sorted(p.name for p in store_b.runs.iterdir()) == before


def test_info_counts_and_groups(machine_a, tmp_path, capsys):
    out = tmp_path / "r.zip"
    assert _cli(capsys, "bundle", "export", "--out", str(out), "--method", "hsc", "--weights")[0] == 0
    code, text, _ = _cli(capsys, "bundle", "info", str(out), "--json")
    info = json.loads(text)
    assert code == 0 and info["runs"] == 2 and info["by_dataset"] == {"digits": 2}
    assert info["with_weights"] == 2 and info["bytes"] == out.stat().st_size
    code, text, _ = _cli(capsys, "bundle", "info", str(out))
    assert "2 runs" in text and "hsc" in text and "classes 0-1" in text
    # export's own summary says what it wrote: no weights without --weights
    light = tmp_path / "light.zip"
    code, text, _ = _cli(capsys, "bundle", "export", "--out", str(light), "--method", "hsc", "--json")
    assert code == 0 and json.loads(text)["with_weights"] == 0
    assert json.loads(_cli(capsys, "bundle", "info", str(light), "--json")[1])["with_weights"] == 0
    b = open_bundle(out)
    run = b.runs[machine_a["runs"][0].key]
    assert set(run.weights()) == set(machine_a["runs"][0].run.weights())
    ex = run.extremes()
    assert len(ex["false_alarms"]) == 8 and set(ex["misses"]) <= set(ex["images"])
    images = b.images(run.config)
    first = int(ex["misses"][0])
    from deepad.data import sources
    truth = sources.get("digits").load("test").images.numpy()[first]
    assert np.array_equal(images[first], truth)


def test_compact_scores_keep_the_auroc(machine_a, tmp_path, capsys):
    out = tmp_path / "small.zip"
    code, text, _ = _cli(capsys, "bundle", "export", "--out", str(out), "--scores", "compact",
                         "--json")
    assert code == 0 and json.loads(text)["scores_auroc_change"] <= 1e-5
    b = open_bundle(out)
    for r in machine_a["runs"]:
        got = b.runs[r.key]
        from deepad.metrics import auroc
        assert abs(auroc(got.labels, got.scores) - r.metrics["auroc"]) <= 1e-5


def test_run_and_preset_selection(machine_a, tmp_path, capsys):
    key = machine_a["runs"][1].key
    out = tmp_path / "one.zip"
    assert _cli(capsys, "bundle", "export", "--out", str(out), "--run", key)[0] == 0
    assert list(open_bundle(out).runs) == [key]
    code, _, err = _cli(capsys, "bundle", "export", "--out", str(out), "--run", "0123456789abcdef")
    assert code == 2 and "no stored run 0123456789abcdef" in err
    code, _, err = _cli(capsys, "bundle", "export", "--out", str(out), "--dataset", "mnist")
    assert code == 2 and "no stored runs match" in err


def test_conflicting_run_is_reported_not_overwritten(machine_a, tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.zip"
    assert _cli(capsys, "bundle", "export", "--out", str(out))[0] == 0
    monkeypatch.setenv("DEEPAD_CACHE", str(tmp_path / "other"))
    store = RunStore()
    r = machine_a["runs"][0]
    store.put(r.config, metrics=dict(r.metrics, auroc=0.5), history=r.run.history,
              scores={"scores": r.run.scores, "labels": r.run.labels, "indices": r.run.indices,
                      "classes": r.run.test_classes})
    code, text, err = _cli(capsys, "bundle", "import", str(out))
    assert code == 0 and "3 run(s)" in text and "1 conflict" in text
    assert f"conflict: run {r.key}" in err
    assert store.get(r.key).metrics["auroc"] == 0.5


# --------------------------------------------------------------------------- bad bundles

def _rewrite(src, dst, change):
    """Copy a bundle member by member, `change(name, data, manifest)` -> [(name, data)]."""
    with zipfile.ZipFile(src) as z:
        manifest = json.loads(z.read("manifest.json"))
        items = [(n, z.read(n)) for n in z.namelist() if n != "manifest.json"]
    out = []
    for n, d in items:
        out += change(n, d, manifest)
    extra = change("manifest.json", None, manifest)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest) if not extra else extra[0][1])
        for n, d in out:
            z.writestr(n, d)
    return dst


def _relist(manifest, name, data):
    import hashlib
    manifest["members"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _bad_bundles(good, tmp_path):
    key = json.loads(zipfile.ZipFile(good).read("manifest.json"))["runs"][0]
    bad = {}
    p = tmp_path / "text.zip"
    p.write_text("this is not a zip file\n")
    bad["not a zip"] = (p, "not a readable zip")
    data = good.read_bytes()
    p = tmp_path / "truncated.zip"
    p.write_bytes(data[: len(data) // 2])
    bad["truncated"] = (p, "zip")

    def flip(n, d, m):
        if n == f"runs/{key}/metrics.json":
            return [(n, d.replace(b'"auroc"', b'"auroc" ', 1))]
        return [(n, d)] if d is not None else []
    bad["checksum"] = (_rewrite(good, tmp_path / "sum.zip", flip), "checksum")

    def escape(n, d, m):
        if d is None:
            _relist(m, "../evil.json", b"{}")
            return []
        return [(n, d)] + ([("../evil.json", b"{}")] if n.endswith("config.json") and key in n else [])
    bad["escape"] = (_rewrite(good, tmp_path / "escape.zip", escape), "leave the bundle")

    def absolute(n, d, m):
        if d is None:
            return []
        return [(n, d)] + ([("/tmp/abs.json", b"{}")] if n.endswith("config.json") and key in n else [])
    bad["absolute"] = (_rewrite(good, tmp_path / "abs.zip", absolute), "leave the bundle")

    bomb = _npy(np.zeros(40 * 2 ** 20 // 8))

    def zipbomb(n, d, m):
        if n == f"runs/{key}/scores.npy":
            _relist(m, n, bomb)
            return [(n, bomb)]
        return [(n, d)] if d is not None else []
    bad["bomb"] = (_rewrite(good, tmp_path / "bomb.zip", zipbomb), "zip bomb")

    pickled = io.BytesIO()
    np.save(pickled, np.array([{"x": 1}], dtype=object), allow_pickle=True)

    def pickle_scores(n, d, m):
        if n == f"runs/{key}/scores.npy":
            _relist(m, n, pickled.getvalue())
            return [(n, pickled.getvalue())]
        return [(n, d)] if d is not None else []
    bad["pickled npy"] = (_rewrite(good, tmp_path / "pickle-npy.zip", pickle_scores), "not a plain")

    def pickle_member(n, d, m):
        if d is None:
            _relist(m, f"runs/{key}/model.pkl", b"\x80\x04K\x01.")
            return []
        return [(n, d)] + ([(f"runs/{key}/model.pkl", b"\x80\x04K\x01.")]
                           if n == f"runs/{key}/config.json" else [])
    bad["pickle file"] = (_rewrite(good, tmp_path / "pickle.zip", pickle_member), "could run code")

    def future(n, d, m):
        if d is None:
            m["format_version"] = 99
            return []
        return [(n, d)]
    bad["format version"] = (_rewrite(good, tmp_path / "future.zip", future), "upgrade deepad")

    def bad_config(n, d, m):
        if n == f"runs/{key}/config.json":
            c = json.loads(d)
            c["epochs"] = -3
            new = json.dumps(c).encode()
            _relist(m, n, new)
            return [(n, new)]
        return [(n, d)] if d is not None else []
    bad["invalid config"] = (_rewrite(good, tmp_path / "config.zip", bad_config), "out of range")

    def other_method(n, d, m):
        if n == f"runs/{key}/config.json":
            c = json.loads(d)
            c["method"] = "os.system"
            new = json.dumps(c).encode()
            _relist(m, n, new)
            return [(n, new)]
        return [(n, d)] if d is not None else []
    bad["unknown method"] = (_rewrite(good, tmp_path / "method.zip", other_method), "unknown method")

    def knob(n, d, m):
        if n == f"runs/{key}/config.json":
            c = json.loads(d)
            c["oe_augment"] = "yes"
            new = json.dumps(c).encode()
            _relist(m, n, new)
            return [(n, new)]
        return [(n, d)] if d is not None else []
    bad["OE augmentation not a boolean"] = (_rewrite(good, tmp_path / "knob.zip", knob),
                                            "oe_augment has an invalid value")

    def link(n, d, m):
        return [(n, d)] if d is not None else []
    p = _rewrite(good, tmp_path / "link.zip", link)
    with zipfile.ZipFile(p, "a") as z:
        info = zipfile.ZipInfo(f"runs/{key}/history.json.lnk")
        info.external_attr = (0o120777 << 16)
        z.writestr(info, "/etc/passwd")
    bad["symlink"] = (p, "symbolic link")
    return bad


def _npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_every_bad_bundle_is_refused_and_nothing_is_written(machine_a, tmp_path, monkeypatch,
                                                            capsys):
    good = tmp_path / "good.zip"
    assert _cli(capsys, "bundle", "export", "--out", str(good))[0] == 0
    monkeypatch.setenv("DEEPAD_CACHE", str(tmp_path / "receiver"))
    for what, (path, words) in _bad_bundles(good, tmp_path).items():
        for cmd in ("import", "info"):
            code, out, err = _cli(capsys, "bundle", cmd, str(path))
            lines = err.strip().splitlines()
            assert code == 2, (what, cmd, err)
            assert len(lines) == 1 and lines[0].startswith("error: ") and words in err, (what, err)
            assert "Traceback" not in err
        runs = tmp_path / "receiver" / "runs"
        assert not runs.exists() or not any(runs.iterdir()), what
    # the good one still imports
    code, out, err = _cli(capsys, "bundle", "import", str(good))
    assert code == 0 and "imported 4" in out


def test_export_takes_the_run_keys_of_a_reproduction_csv(machine_a, tmp_path, capsys):
    keys = [r.key for r in machine_a["runs"]]
    listing = tmp_path / "reproduce_x.csv"
    listing.write_text("run_key,method,status\n" + f"{keys[0]},hsc,done\n{keys[1]},hsc,done\n"
                       f"{'f' * 16},bce,missing\n")
    plain = tmp_path / "keys.txt"
    plain.write_text(f"{keys[2]}\n\n{keys[0]}\n")
    out = tmp_path / "r.zip"
    code, text, err = _cli(capsys, "bundle", "export", "--out", str(out), "--runs-from",
                           str(listing), "--runs-from", str(plain), "--json")
    assert code == 0, err
    assert json.loads(text)["runs"] == 3  # the missing row skipped, the repeated key once
    assert set(open_bundle(out).runs) == set(keys[:3])
    bad = tmp_path / "bad.txt"
    bad.write_text("not-a-key\n")
    for path, words in ((bad, "not a run key"), (tmp_path / "none.csv", "cannot read it")):
        code, _, err = _cli(capsys, "bundle", "export", "--out", str(tmp_path / "x.zip"),
                            "--runs-from", str(path))
        assert code == 2 and words in err and "\n" == err[-1] and err.count("\n") == 1
        assert not (tmp_path / "x.zip").exists()
