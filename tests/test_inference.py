"""Using stored models on new images: `deepad score`, heatmaps, `deepad export`, `deepad runs`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deepad import cli, get_or_train, make_config
from deepad.inference import heatmap, load_run
from deepad.store import RunStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, shared_data_module):
    """HSC trained on MNIST digit 0 (2 epochs), in a store shared by this module's tests."""
    cache = tmp_path_factory.mktemp("inference-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPAD_DATA", str(shared_data_module))
        mp.setenv("DEEPAD_OFFLINE", "1")
        res = get_or_train(make_config(
            dataset="mnist", normal_class=0,
            oe=f"folder:{shared_data_module / 'tiny-imagenet-200-val' / 'images'}",
            oe_size=64, method="hsc", epochs=2), store=RunStore(cache))
    return cache, res.key


@pytest.fixture(scope="module")
def shared_data_module():
    from tests.conftest import SHARED_DATA
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip("real data not found")
    return SHARED_DATA


@pytest.fixture
def store_env(mnist_run, monkeypatch):
    cache, key = mnist_run
    monkeypatch.setenv("DEEPAD_CACHE", str(cache))
    return cache, key


@pytest.fixture(scope="module")
def digit_folders(tmp_path_factory, shared_data_module):
    from deepad.data import formats
    x, y = formats.read_mnist_like(shared_data_module / "MNIST" / "raw", False)
    root = tmp_path_factory.mktemp("digits")
    for d in (0, 7):
        (root / str(d)).mkdir()
        for i, img in enumerate(x[y == d][:40]):
            Image.fromarray(img[0]).save(root / str(d) / f"{i:03d}.png")
    return root


def _snapshot(cache):
    return sorted((str(p.relative_to(cache)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in Path(cache).rglob("*") if p.is_file() and "locks" not in p.parts
                  and not p.name.startswith("index.sqlite"))


def test_score_ranks_nominal_digits_below_anomalies(store_env, digit_folders, tmp_path, capsys):
    cache, key = store_env
    before = _snapshot(cache)
    rc = cli.main(["score", "--run", key, str(digit_folders / "0"), str(digit_folders / "7"),
                   "--json", "--heatmaps", str(tmp_path / "hm")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["rows"]
    assert len(rows) == 80 and out["run_key"] == key
    zero = [r["score"] for r in rows if "/0/" in r["path"]]
    seven = [r["score"] for r in rows if "/7/" in r["path"]]
    assert np.mean(zero) < np.mean(seven)
    assert sum(r["anomalous"] for r in rows if "/7/" in r["path"]) > sum(
        r["anomalous"] for r in rows if "/0/" in r["path"])
    assert len(list((tmp_path / "hm").glob("*.png"))) == 80
    assert _snapshot(cache) == before  # scoring never changes the store


def test_score_csv_to_file(store_env, digit_folders, tmp_path, capsys):
    _, key = store_env
    assert cli.main(["score", "--run", key, str(digit_folders / "7"), "--out", str(tmp_path / "s.csv")]) == 0
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "path,score,threshold_at_95_tpr,anomalous" and len(lines) == 41


def test_heatmap_of_an_anomaly_has_the_image_shape_and_structure(store_env, digit_folders):
    _, key = store_env
    run, det = load_run(key)
    img = np.asarray(Image.open(digit_folders / "7" / "000.png"))[None]
    h = heatmap(det, img)
    assert h.shape == (28, 28) and h.min() == 0 and h.max() == pytest.approx(1)
    assert h.std() > 0.05
    # the model looks at the stroke more than at the empty border
    stroke = img[0] > 128
    assert h[stroke].mean() > h[~stroke].mean()


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_round_trip_in_a_fresh_process(store_env, digit_folders, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
    _, key = store_env
    out = tmp_path / ("model.pt" if fmt == "torchscript" else "model.onnx")
    assert cli.main(["export", "--run", key, "--format", fmt, "--out", str(out)]) == 0
    x = np.stack([np.asarray(Image.open(p))[None] for p in sorted((digit_folders / "7").glob("*.png"))[:16]])
    np.save(tmp_path / "x.npy", x)
    code = ("import numpy as np, torch; x = np.load(r'%s'); m = torch.jit.load(r'%s'); "
            "print(m(torch.from_numpy(x)).tolist())" if fmt == "torchscript" else
            "import numpy as np, onnxruntime as ort; x = np.load(r'%s'); "
            "s = ort.InferenceSession(r'%s'); print(s.run(None, {'images': x})[0].tolist())")
    res = subprocess.run([sys.executable, "-c", code % (tmp_path / "x.npy", out)], cwd=tmp_path,
                         capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, timeout=120)
    assert res.returncode == 0, res.stderr[-1500:]
    exported = np.array(json.loads(res.stdout.strip().splitlines()[-1]))
    _, det = load_run(key)
    assert np.abs(exported - det.score_samples(torch.from_numpy(x))).max() < 1e-4


def test_runs_lists_keys(store_env, capsys):
    _, key = store_env
    assert cli.main(["runs", "--dataset", "mnist", "--method", "hsc"]) == 0
    assert key in capsys.readouterr().out
    assert cli.main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["run_key"] == key


def test_bad_inputs_are_clear_and_change_nothing(store_env, digit_folders, tmp_path, capsys):
    cache, key = store_env
    before = _snapshot(cache)
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hello")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "a.png").write_bytes(b"not a png")
    cases = [(["score", "--run", "nosuchkey", str(digit_folders / "0")], "no run 'nosuchkey'"),
             (["score", "--run", key, str(tmp_path / "empty")], "no images found"),
             (["score", "--run", key, str(tmp_path / "notes")], "no images found"),
             (["score", "--run", key, str(tmp_path / "fake")], "could be read as an image"),
             (["score", "--run", key, str(tmp_path / "missing")], "does not exist"),
             (["export", "--run", "nosuchkey", "--out", str(tmp_path / "m.pt")], "no run")]
    for argv, msg in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err
    # an image of another size and channel count is converted, and said so once
    Image.fromarray(np.zeros((64, 48, 3), np.uint8)).save(tmp_path / "fake" / "big.png")
    assert cli.main(["score", "--run", key, str(tmp_path / "fake")]) == 0
    cap = capsys.readouterr()
    assert cap.err.count("resized or converted") == 1 and "skipped" in cap.err
    assert len(cap.out.strip().splitlines()) == 2
    assert _snapshot(cache) == before


def test_a_damaged_run_is_reported_not_repaired(store_env, tmp_path, capsys):
    cache, key = store_env
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(cache, copy, ignore=shutil.ignore_patterns("datasets"))
    p = copy / "runs" / key / "scores.npz"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 1
    p.write_bytes(bytes(data))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPAD_CACHE", str(copy))
        assert cli.main(["score", "--run", key, str(tmp_path)]) == 2
        assert "damaged" in capsys.readouterr().err
        assert (copy / "runs" / key).exists()  # left in place: scoring never changes the store


def test_runs_page_downloads_the_model_and_scores_a_folder(store_env, digit_folders):
    from streamlit.testing.v1 import AppTest
    _, key = store_env
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.query_params["methods"] = "deep-svdd"
    at.run()
    at.switch_page("views/runs.py")
    at.query_params["runs_selected"] = key
    at.run()
    assert not at.exception
    assert any(getattr(b, "label", "") == "Download model (TorchScript)" for b in at.get("download_button"))
    at.text_input(key=f"score_folder_{key}").input(str(digit_folders / "7")).run()
    at.button(key=f"score_btn_{key}").click().run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert len(table) == 40 and {"path", "score", "anomalous"} <= set(table.columns)
