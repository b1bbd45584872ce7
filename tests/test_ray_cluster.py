"""Ray sweeps on a real multi-node cluster (two `ray start` nodes on this machine, loopback
only, token authentication on): the nodes run from an empty folder where `deepad` is not
importable and with DEEPAD_DATA pointing at an empty folder, so the code and the data must travel
from the driver. A 2 x 2 MNIST grid gives the local executor's keys and AUROCs; a worker killed
mid-run costs one retry; a wrong token is one clear line."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from deepad import make_config
from deepad.errors import DeepadError
from deepad.executors import run_sweep
from deepad.store import RunStore

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster():
    # a short root: Ray's socket paths under it must stay within 107 bytes
    root = Path(tempfile.mkdtemp(prefix="dray", dir="/tmp"))
    token = secrets.token_hex(16)
    sys.path.insert(0, str(REPO / "benchmarks"))
    from ray_overhead import start_cluster  # the benchmark's cluster: two nodes, loopback, token
    address, env = start_cluster(root, token)
    # deepad is not importable where the nodes run
    probe = subprocess.run([sys.executable, "-c", "import deepad"], cwd=root / "empty", env=env,
                           capture_output=True, text=True)
    assert probe.returncode != 0
    yield {"address": address, "token": token}
    subprocess.run([str(Path(sys.executable).with_name("ray")), "stop", "--force"], env=env,
                   capture_output=True, timeout=120)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def driver(cluster, monkeypatch, shared_data):
    """The driver's side: the cluster's token at hand (RAY_AUTH_MODE unset: deepad turns token
    mode on when it has one), the shared data."""
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN", cluster["token"])
    yield cluster["address"]
    os.environ.pop("RAY_AUTH_MODE", None)  # set by deepad for this process: not for later tests


def _grid():
    return [make_config(dataset="mnist", normal_class=k, oe="noise-uniform", method=m, epochs=1,
                        seed=1) for k in (0, 1) for m in ("hsc", "bce")]


def test_code_and_data_travel_and_the_numbers_match_the_local_executor(driver, tmp_path):
    from deepad import ray_cluster
    cfgs = _grid()
    # 2 workers: one torch thread each, as each Ray task (the thread count changes the numbers)
    local = run_sweep(cfgs, executor="local", workers=2, store=RunStore(tmp_path / "local"))
    assert sorted(o.status for o in local) == ["trained"] * 4

    on_ray = run_sweep(cfgs, executor="ray", address=driver, store=RunStore(tmp_path / "ray"))
    assert sorted(o.status for o in on_ray) == ["trained"] * 4, [o.error for o in on_ray]
    a = {o.key: o.auroc for o in local}
    b = {o.key: o.auroc for o in on_ray}
    assert a.keys() == b.keys() == {c.key for c in cfgs}
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-9), k
    assert len(RunStore(tmp_path / "ray").query()) == 4  # written by the driver

    # the code the nodes ran is the driver's, shipped by Ray (not a copy on the nodes' path)
    ray_cluster.connect(driver)
    try:
        probes = ray_cluster.check_nodes()
        # a node without a requirement: one line naming the package and the node
        with pytest.raises(DeepadError, match=r"the Ray node \S+ .*lacks the Python package.*"
                                              r"'no_such_package_xyz'.*requirements.txt"):
            ray_cluster.check_nodes(required=(*ray_cluster.REQUIRED, "no_such_package_xyz"))
    finally:
        ray.shutdown()
    assert len(probes) == 2
    for p in probes:
        assert not p["deepad"].startswith(str(REPO)) and "runtime_resources" in p["deepad"], p


def test_a_worker_killed_mid_run_costs_one_retry(driver, tmp_path):
    killed = []

    def kill_one():
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            pids = subprocess.run(["pgrep", "-f", "ray::_train_remote"], capture_output=True,
                                  text=True).stdout.split()
            if pids:
                time.sleep(2)  # well into its run
                try:
                    os.kill(int(pids[0]), 9)
                    killed.append(int(pids[0]))
                except ProcessLookupError:
                    continue
            time.sleep(0.3)

    t = threading.Thread(target=kill_one, daemon=True)
    t.start()
    cfgs = _grid()[:2]
    out = run_sweep(cfgs, executor="ray", address=driver, store=RunStore(tmp_path / "s"))
    t.join(5)
    assert len(killed) == 1
    assert sorted(o.status for o in out) == ["trained", "trained"], [o.error for o in out]
    # a rerun trains nothing: the store is whole
    again = run_sweep(cfgs, executor="ray", address=driver, store=RunStore(tmp_path / "s"))
    assert [o.status for o in again] == ["cached", "cached"]


def test_a_wrong_token_is_one_clear_line(cluster, monkeypatch, tmp_path, shared_data):
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN", "not-the-cluster-token")
    with pytest.raises(DeepadError, match="refused this driver's authentication token") as e:
        run_sweep(_grid()[:1], executor="ray", address=cluster["address"],
                  store=RunStore(tmp_path / "s"))
    assert "RAY_AUTH_TOKEN" in str(e.value) and "\n" not in str(e.value)
    assert not ray.is_initialized()
    os.environ.pop("RAY_AUTH_MODE", None)
