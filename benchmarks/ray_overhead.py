"""What a Ray sweep costs over the local executor: the same grid on both, wall time side by side,
and what travels to the workers (the deepad package through `py_modules`, the decoded images
through the object store), in seconds and MB.

The cluster is two `ray start` nodes on this machine (loopback, token authentication, one CPU
each), started from an empty folder with DEEPAD_DATA pointing at an empty one, as a fresh node
would be; the local executor runs two worker processes. Both train into empty run stores.

    DEEPAD_DATA=../shared/data python benchmarks/ray_overhead.py [--classes 0,1] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deepad import make_config, ray_cluster  # noqa: E402
from deepad.executors import run_sweep  # noqa: E402
from deepad.parsing import parse_ints  # noqa: E402
from deepad.store import RunStore  # noqa: E402


def package_mb() -> float:
    """The deepad package zipped as Ray's py_modules packs it (sources, no caches)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in ray_cluster.PACKAGE.rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts:
                z.write(f, f.relative_to(ray_cluster.PACKAGE.parent))
    return len(buf.getvalue()) / 2 ** 20


def start_cluster(root: Path, token: str) -> tuple[str, dict]:
    """Two `ray start` nodes (head and one worker, one CPU each, loopback, token authentication)
    run from `root`/empty with DEEPAD_DATA at an empty folder, as fresh nodes; (address, env of
    the nodes). Also the fixture of tests/test_ray_cluster.py."""
    (root / "empty").mkdir()
    (root / "no-data").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPAD_", "RAY_"))}
    env.pop("PYTHONPATH", None)
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, DEEPAD_DATA=str(root / "no-data"),
               HOME=str(root))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_bin = str(Path(sys.executable).with_name("ray"))
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    for args in (["--head", f"--port={port}", "--include-dashboard=false",
                  f"--temp-dir={root / 'head'}"],
                 [f"--address=127.0.0.1:{port}", f"--temp-dir={root / 'head'}"]):
        r = subprocess.run([ray_bin, "start", *args, *common], cwd=root / "empty", env=env,
                           capture_output=True, text=True, timeout=180)
        if r.returncode:
            raise SystemExit("ray start failed: " + r.stderr[-1000:])
    return f"127.0.0.1:{port}", env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--classes", default="0,1")
    ap.add_argument("--methods", default="hsc,bce")
    ap.add_argument("--oe", default=None, help="default: the Tiny-ImageNet validation photos")
    ap.add_argument("--oe-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    data = os.environ.get("DEEPAD_DATA", "cache/data")
    oe = a.oe or f"folder:{data}/tiny-imagenet-200-val/images"
    cfgs = [make_config(dataset=a.dataset, normal_class=k, oe=oe, oe_size=a.oe_size, method=m,
                        epochs=a.epochs, seed=1)
            for k in parse_ints(a.classes, name="classes") for m in a.methods.split(",")]
    work = Path(tempfile.mkdtemp(prefix="dray", dir="/tmp"))
    out = {"dataset": a.dataset, "runs": len(cfgs), "epochs": a.epochs, "package_mb": package_mb()}
    try:
        t0 = time.perf_counter()
        local = run_sweep(cfgs, executor="local", workers=2, store=RunStore(work / "local"))
        out["local_wall_s"] = time.perf_counter() - t0

        token = secrets.token_hex(16)
        address, env = start_cluster(work, token)
        os.environ["RAY_AUTH_TOKEN"] = token
        import ray
        t0 = time.perf_counter()
        ray_cluster.connect(address)     # packs and uploads the package (cached by content)
        ray_cluster.check_nodes()
        out["connect_and_ship_code_s"] = time.perf_counter() - t0
        ray.shutdown()
        ray_cluster.release()

        from deepad import ray_executor
        t0 = time.perf_counter()
        on_ray = run_sweep(cfgs, executor="ray", address=address, store=RunStore(work / "ray"))
        out["ray_wall_s"] = time.perf_counter() - t0
        shipped = ray_executor.run_ray.last_shipped or {}
        out["data_mb"] = shipped.get("bytes", 0) / 2 ** 20
        out["decode_and_put_data_s"] = shipped.get("seconds")
        a_, b_ = ({o.key: o.auroc for o in r} for r in (local, on_ray))
        out["same_keys"] = a_.keys() == b_.keys()
        out["max_auroc_difference"] = max(abs(a_[k] - b_[k]) for k in a_) if out["same_keys"] else None
        out["statuses"] = sorted(o.status for o in on_ray)
        subprocess.run([str(Path(sys.executable).with_name("ray")), "stop", "--force"], env=env,
                       capture_output=True, timeout=120)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if a.json:
        print(json.dumps(out))
    print(f"{out['runs']} {a.dataset} runs, {a.epochs} epoch(s): local (2 workers) "
          f"{out['local_wall_s']:.1f} s, Ray (2 nodes x 1 CPU) {out['ray_wall_s']:.1f} s; code "
          f"{out['package_mb']:.2f} MB zipped, joined and shipped in "
          f"{out['connect_and_ship_code_s']:.1f} s; data {out['data_mb']:.0f} MB decoded and put in "
          f"{out['decode_and_put_data_s'] or float('nan'):.1f} s; same keys {out['same_keys']}, "
          f"largest AUROC difference {out['max_auroc_difference']}", file=sys.stderr)


if __name__ == "__main__":
    main()
