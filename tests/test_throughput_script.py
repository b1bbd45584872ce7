"""benchmarks/throughput.py runs end to end (tiny settings, on a small CIFAR-10-shaped image folder
written here) and keeps its --json and --device cuda contracts. It checks the script, not speed."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "throughput.py"
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _write(folder: Path, n: int, side: int, rng, shift: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = np.clip(rng.normal(128 + shift, 40, (side, side, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(folder / f"{i:04d}.jpg", quality=90)


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    """cifar10-jpg/{train,test}/<class>/ (class 0: 2 steps of 128) and a
    Tiny-ImageNet-like OE folder of 64x64 photos, in the shared data's layout."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for k, c in enumerate(CIFAR10):
        _write(root / "cifar10-jpg" / "train" / c, 256 if k == 0 else 2, 32, rng, 40 if k else -40)
        _write(root / "cifar10-jpg" / "test" / c, 20 if k == 0 else 4, 32, rng, 40 if k else -40)
    for w in ("n01", "n02"):
        _write(root / "tiny-imagenet-200-val" / "images" / w, 40, 64, rng, 0)
    monkeypatch.setenv("DEEPAD_DATA", str(root))
    return root


def _run(args, timeout=120):
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_quick_json_on_a_tiny_cifar_folder(tiny_data):
    r = _run(["--quick", "--json", "--datasets", "cifar10", "--rounds", "1", "--nominal-size", "256",
              "--warmup", "1", "--probe-steps", "1", "--workers", "1", "--threads", "1",
              "--test-size", "0", "--memory"])
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stdout  # exactly one JSON object on stdout; progress on stderr
    res = json.loads(lines[0])
    for k in ("deepad_img_per_s", "reference_img_per_s", "ratio"):
        assert res[k] > 0, res
    c = res["datasets"]["cifar10"]
    assert res["ratio"] == pytest.approx(c["deepad_img_per_s"] / c["reference_img_per_s"])
    assert c["nominal_images"] == 256 and c["timed_steps_per_round"] == 1
    assert c["test_images"] == 20 + 9 * 4 and 0 <= c["deepad_auroc"] <= 1
    assert c["auroc_change_ci95_points"] is None  # one round: no interval
    assert c["oe_jpeg"] == 90  # auto: the OE made at the quality the tiny copy was written at
    tried = {(p["num_workers"], p["threads"]) for p in c["reference_probe"]}
    assert tried == {(1, 2), (1, 1)} if res["cpu_cores"] == 2 else {w for w, _ in tried} == {1}
    assert (c["reference_num_workers"], c["reference_threads"]) in tried
    assert res["peak_memory"]["deepad"]["process_peak_rss_mb"] > 100
    assert "reference probe: num_workers=1" in r.stderr


def test_paired_ci95_of_the_auroc_differences():
    import importlib.util
    spec = importlib.util.spec_from_file_location("throughput", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    lo, hi = mod.paired_ci95([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.303
    assert (lo, hi) == pytest.approx((2 - 4.3027 / 3 ** 0.5, 2 + 4.3027 / 3 ** 0.5), abs=1e-3)
    assert mod.paired_ci95([0.5]) is None


@pytest.mark.parametrize("value", ["best", "99"])  # make_config takes 1..95 (Pillow's useful range)
def test_a_bad_oe_jpeg_quality_is_named(value):
    r = _run(["--oe-jpeg", value])
    assert r.returncode == 2
    assert f"--oe-jpeg '{value}': give a JPEG quality 1..95, auto or none" in r.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_says_so_and_exits_2():
    r = _run(["--device", "cuda", "--json"])
    assert r.returncode == 2
    assert "no CUDA device" in r.stderr
    assert json.loads(r.stdout)["error"].startswith("no CUDA device")
