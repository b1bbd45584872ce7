"""Sweeps: grids, the local and Ray executors, resuming after SIGKILL, failures, summaries."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepad import cli
from deepad.executors import run_sweep
from deepad.grids import Grid, presets
from deepad.parsing import parse_floats, parse_ints
from deepad.store import RunStore
from deepad.summary import summarize

REPO = Path(__file__).resolve().parents[1]


def test_parsing_lists_and_ranges():
    assert parse_ints("1-3,8", name="seed") == [1, 2, 3, 8]
    assert parse_ints("all", name="normal-class", allow_all=True) == ["all"]
    assert parse_ints("1,2,4,all", name="oe-size", allow_all=True) == [1, 2, 4, "all"]
    assert parse_floats("0,1,2.5", name="blur-sigma") == [0.0, 1.0, 2.5]
    from deepad.errors import DeepadError
    with pytest.raises(DeepadError, match="--seed"):
        parse_ints("3-1", name="seed")
    with pytest.raises(DeepadError, match="--blur-sigma"):
        parse_floats("x", name="blur-sigma")


def test_grid_is_the_product_and_unsupervised_methods_collapse_oe_axes():
    g = Grid(dataset="digits", oe="photos", normal_class=[0, 1], method=["hsc", "bce", "deep-svdd"],
             oe_size=[4, 16], seed=[1, 2], epochs=1)
    notes = []
    cfgs = g.configs(notes)
    # hsc, bce: 2 classes x 2 sizes x 2 seeds each; deep-svdd ignores the OE size: 2 x 2
    assert len(cfgs) == 2 * 8 + 4 and len({c.key for c in cfgs}) == len(cfgs)
    assert any("does not use outlier exposure" in n for n in notes)
    assert len(Grid(dataset="digits", normal_class=["all"], epochs=1).configs()) == 10


def test_presets_follow_the_paper_grid():
    p = presets()
    assert set(p) == {"paper/mnist-oe-classes", "paper/mnist-blur", "paper/cifar10-oe",
                      "paper/cifar10-oe-sizes", "paper/cifar10-oe-classes", "paper/cifar10-blur",
                      "paper/imagenet30-oe", "paper/imagenet30-oe-sizes", "paper/imagenet30-blur",
                      "paper/cifar10-baselines", "paper/cifar10-geo-plus-oe"}
    assert p["paper/cifar10-oe-sizes"]["oe_size"][-2:] == [2 ** 21, "all"]
    assert p["paper/mnist-oe-classes"]["oe_classes"] == [1, 2, 3, 5, 10, 15, 20, 26]
    assert len(p["paper/imagenet30-blur"]["seed"]) == 5


@pytest.mark.slow
def test_local_and_ray_executors_agree(tmp_path):
    """Same configs, same numbers, from 2 local workers and from a local Ray instance (on the
    bundled digits: what is compared is the executors, not the data)."""
    ray = pytest.importorskip("ray")
    cfgs = Grid(dataset="digits", oe="photos", normal_class=[0, 1], method=["hsc", "bce"],
                oe_size=[16], epochs=3).configs()
    assert len(cfgs) == 4
    local = run_sweep(cfgs, executor="local", workers=2, store=RunStore(tmp_path / "local"))
    assert sorted(o.status for o in local) == ["trained"] * 4
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = run_sweep(cfgs, executor="ray", store=RunStore(tmp_path / "ray"))
    finally:
        ray.shutdown()
    assert sorted(o.status for o in on_ray) == ["trained"] * 4
    a = {o.key: o.auroc for o in local}
    b = {o.key: o.auroc for o in on_ray}
    assert a.keys() == b.keys() == {c.key for c in cfgs}
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-9), k
    # the Ray results were written by the driver into its store, like any run
    assert len(RunStore(tmp_path / "ray").query()) == 4


def _sweep_cmd(*extra):
    return [sys.executable, "-m", "deepad", "sweep", "--dataset", "digits", "--oe", "photos",
            "--normal-class", "0-5", "--method", "hsc", "--oe-size", "16", "--epochs", "40",
            "--workers", "1", *extra]


@pytest.mark.slow
def test_sweep_killed_midway_resumes_without_training_twice(tmp_path):
    env = {**os.environ, "DEEPAD_CACHE": str(tmp_path / "c")}
    proc = subprocess.Popen(_sweep_cmd(), cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    store = RunStore(tmp_path / "c")
    deadline = time.time() + 240
    while time.time() < deadline and len(store.query()) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-way: some runs stored, one in flight
    proc.wait()
    before = {r["key"]: r["created"] for r in store.query()}
    assert 2 <= len(before) < 6
    again = subprocess.run(_sweep_cmd(), cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{6 - len(before)} trained, {len(before)} cached, 0 failed" in again.stderr
    after = {r["key"]: r["created"] for r in store.query()}
    assert len(after) == 6
    assert all(after[k] == t for k, t in before.items())  # nothing trained twice or lost
    assert not list((tmp_path / "c" / "damaged").glob("*")) if (tmp_path / "c" / "damaged").exists() else True


def test_a_failing_run_is_recorded_and_the_others_go_on(tmp_path, capsys):
    # 12 files, 4 of them unreadable: the config check sees 12 images, training finds 8
    oe = tmp_path / "oe"
    oe.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(oe / f"{i}.png")
    for i in range(8, 12):
        (oe / f"{i}.png").write_bytes(b"broken")
    rc = cli.main(["sweep", "--dataset", "digits", "--oe", f"folder:{oe}", "--normal-class", "0",
                   "--method", "hsc", "--oe-size", "4,10", "--epochs", "5"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "1 trained, 0 cached, 1 failed" in err and "failed:" in err
    store = RunStore()
    assert len(store.query()) == 1
    failed = store.query(status="failed")
    assert len(failed) == 1 and "larger than the OE pool" in failed[0]["error"]


def test_table_summarises_the_store(capsys):
    assert cli.main(["sweep", "--dataset", "digits", "--oe", "photos", "--normal-class", "0,1",
                     "--method", "hsc,bce", "--oe-size", "16", "--seed", "1-2", "--epochs", "5"]) == 0
    capsys.readouterr()
    assert cli.main(["table", "--dataset", "digits"]) == 0
    out = capsys.readouterr().out
    assert "| method | auroc_mean | auroc_std | runs |" in out
    rows = RunStore().query()
    hsc = [r["auroc"] for r in rows if r["method"] == "hsc"]
    assert f"| hsc | {np.mean(hsc):.4f} | {np.std(hsc):.4f} | 4 |" in out
    assert cli.main(["table", "--method", "bce", "--by-class", "--format", "csv"]) == 0
    csv = capsys.readouterr().out.splitlines()
    assert csv[0] == "normal_class,auroc_mean,auroc_std,runs,auroc_ci95_low,auroc_ci95_high,seeds"
    assert len(csv) == 3
    # one class, two seeds: the interval is mean ± t(0.975, 1)·s/√2 over the two seeds' AUROCs
    bce0 = sorted((r["seed"], r["auroc"]) for r in rows if r["method"] == "bce" and r["normal_class"] == 0)
    v = np.array([a for _, a in bce0])
    half = 12.706205 * v.std(ddof=1) / np.sqrt(2)
    assert csv[1].split(",") == ["0", f"{v.mean():.4f}", f"{v.std():.4f}", "2",
                                 f"{v.mean() - half:.4f}", f"{v.mean() + half:.4f}", "2"]
    # a dry run counts what is cached
    assert cli.main(["sweep", "--dataset", "digits", "--oe", "photos", "--normal-class", "0-2",
                     "--method", "hsc", "--oe-size", "16", "--seed", "1-2", "--epochs", "5",
                     "--dry-run"]) == 0
    assert "6 runs in the grid; 4 cached, 2 to train" in capsys.readouterr().out


def test_summarize_groups():
    rows = [{"method": "a", "oe_size": None, "auroc": 0.5}, {"method": "a", "oe_size": None, "auroc": 0.7},
            {"method": "b", "oe_size": 4, "auroc": 0.9}]
    s = summarize(rows, by=["method", "oe_size"])
    assert s[0] == {"method": "a", "oe_size": None, "auroc_mean": 0.6, "auroc_std": pytest.approx(0.1),
                    "runs": 2}


@pytest.mark.slow
def test_background_sweep_keeps_going_and_reports_progress():
    from deepad.background import background_jobs, start_background
    cfgs = Grid(dataset="digits", oe="photos", normal_class=[0, 1], method=["hsc"],
                oe_size=[16], epochs=5).configs()
    job = start_background(cfgs)
    deadline = time.time() + 240
    while time.time() < deadline:
        jobs = {j["id"]: j for j in background_jobs()}
        if not jobs[job]["running"]:
            break
        time.sleep(0.5)
    j = {j["id"]: j for j in background_jobs()}[job]
    assert (j["done"], j["total"], j["failed"], j["running"]) == (2, 2, 0, False)
    assert all(RunStore().get(c.key) is not None for c in cfgs)


def test_pages_start_background_sweeps():
    from streamlit.testing.v1 import AppTest

    from deepad.background import background_jobs
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.query_params["methods"] = "deep-svdd"
    at.run()
    at.switch_page("views/table.py").run()
    assert not at.exception
    at.button(key="tab_background").click().run()
    assert not at.exception
    jobs = background_jobs()
    assert len(jobs) == 1 and jobs[0]["total"] == 40  # 10 classes x 4 methods, seed 1
    # stop it: the test only checks that the page starts it
    pid = int((Path(os.environ["DEEPAD_CACHE"]) / "sweeps" / f"{jobs[0]['id']}.pid").read_text())
    os.killpg(pid, signal.SIGKILL)


def test_grid_gives_each_method_only_its_own_parameters():
    from deepad.errors import DeepadError
    from deepad.grids import Grid
    cfgs = Grid(dataset="digits", method=["hsc", "ocsvm"], method_params={"nu": 0.2}).configs()
    by = {c.method: dict(c.method_params) for c in cfgs}
    assert by["ocsvm"]["nu"] == 0.2 and by["hsc"] == {}
    with pytest.raises(DeepadError, match="nu"):
        Grid(dataset="digits", method=["hsc", "bce"], method_params={"nu": 0.2}).configs()


def test_worker_threads_follow_the_cores_and_respect_omp_num_threads(monkeypatch):
    from deepad import executors as sweep
    monkeypatch.setattr(sweep.os, "cpu_count", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert [sweep._threads_per_worker(w) for w in (1, 2, 3, 16)] == [8, 4, 2, 1]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # another job shares the machine
    assert [sweep._threads_per_worker(w) for w in (1, 2)] == [1, 1]
    monkeypatch.setenv("OMP_NUM_THREADS", "16")  # a cap, never more than the share of cores
    assert sweep._threads_per_worker(2) == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")  # not a number: ignored
    assert sweep._threads_per_worker(1) == 8


def test_grid_and_budget_words_and_the_old_preset_flag_give_the_same_runs(capsys):
    """`--grid NAME` names a paper grid and `--budget` the training budget; the 0.1 flag
    `--preset` (either of them) is still understood and gives the same configs."""
    from deepad.cli import build_parser
    from deepad.cli.sweeps import _sweep_grid
    p = build_parser()
    base = ["sweep", "--dataset", "digits", "--oe", "photos", "--seed", "1", "--normal-class", "0"]
    new = _sweep_grid(p.parse_args(base + ["--grid", "paper/cifar10-oe-sizes", "--budget", "quick"]))
    old = _sweep_grid(p.parse_args(base + ["--preset", "paper/cifar10-oe-sizes", "--budget", "quick"]))
    assert [c.key for c in new.configs(check_data=False)] == [c.key for c in old.configs(check_data=False)]
    assert new.preset == "quick" and len(new.oe_size) > 10
    assert _sweep_grid(p.parse_args(base + ["--preset", "paper"])).preset == "paper"
    assert cli.main(["sweep", "--list-grids"]) == 0
    assert "paper/cifar10-blur" in capsys.readouterr().out
    assert cli.main(["sweep", "--grid", "paper/nope", "--dry-run"]) == 2
    assert "--list-grids" in capsys.readouterr().err
