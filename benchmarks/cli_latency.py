"""Wall time of the command line, each command in a fresh process (Python start-up included).

    DEEPAD_DATA=../shared/data python benchmarks/cli_latency.py [--json]

First the reference command (MNIST digit 0 vs the rest, 64 Tiny-ImageNet OE images, HSC, 3
epochs) with an empty run store and decoded-image cache (it trains), then every command that can
be answered from the store, on that stored run: `run` again, `runs`, `table`, `bundle info` (of a
bundle exported from it), `methods`, `datasets` and `--help`; the median of 5 runs each, and
whether the process imported torch, torchvision, scikit-learn or scipy (it must not).
Target for each answered command: <= 1.0 s end to end on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from deepad.machine import cpu_model  # noqa: E402 - the one CPU-name reader; no torch

PROBE = ("import sys, runpy\n"
         "sys.argv = ['deepad'] + sys.argv[1:]\n"
         "try:\n    runpy.run_module('deepad', run_name='__main__')\n"
         "except SystemExit as e:\n    code = e.code\n"
         "from importlib.util import _LazyModule\n"
         "heavy = [m for m in ('torch', 'torchvision', 'sklearn', 'scipy') if m in sys.modules\n"
         "         and not isinstance(sys.modules[m], _LazyModule)]\n"
         "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
         "sys.exit(code)\n")


def timed(args, env, probe=False) -> tuple[float, subprocess.CompletedProcess]:
    cmd = [sys.executable, "-c", PROBE, *args] if probe else [sys.executable, "-m", "deepad", *args]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"`deepad {' '.join(args)}` failed: {r.stderr[-2000:]}")
    return dt, r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    data = Path(os.environ.get("DEEPAD_DATA", REPO.parent / "shared" / "data")).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="deepad-cli-"))
    env = {**os.environ, "DEEPAD_DATA": str(data), "DEEPAD_CACHE": str(tmp / "cache")}
    env.pop("DEEPAD_DATASET_CACHE", None)
    run = ["run", "--dataset", "mnist", "--normal-class", "0", "--oe",
           f"folder:{data / 'tiny-imagenet-200-val' / 'images'}", "--oe-size", "64",
           "--blur-sigma", "0", "--method", "hsc", "--epochs", "3", "--seed", "1", "--json"]
    cold, r = timed(run, env)
    first = json.loads(r.stdout)
    timed(["bundle", "export", "--out", str(tmp / "r.zip")], env)
    commands = {"run (stored)": run, "runs": ["runs"], "table": ["table"],
                "bundle info": ["bundle", "info", str(tmp / "r.zip")], "methods": ["methods"],
                "datasets": ["datasets"], "--help": ["--help"]}
    rows = {}
    for name, args in commands.items():
        times = []
        for _ in range(a.repeat):
            dt, _ = timed(args, env)
            times.append(dt)
        _, probed = timed(args, env, probe=True)
        heavy = probed.stderr.rsplit("HEAVY=", 1)[-1].strip()
        rows[name] = {"median_s": sorted(times)[len(times) // 2], "runs_s": times,
                      "heavy_imports": [m for m in heavy.split(",") if m]}
    out = {"cpu": cpu_model(), "python": platform.python_version(), "cold_run_s": cold,
           "auroc": first["auroc"], "train_seconds": first["train_seconds"], "commands": rows}
    print(f"CPU: {out['cpu']}; the reference command with an empty cache {cold:.1f} s (AUROC "
          f"{first['auroc']:.4f}, training {first['train_seconds']:.1f} s)", file=sys.stderr)
    print(f"{'command':<16}{'median (s)':>11}  {'target':>7}  heavy imports", file=sys.stderr)
    for name, row in rows.items():
        print(f"{name:<16}{row['median_s']:>11.2f}  {'<= 1.0':>7}  "
              f"{', '.join(row['heavy_imports']) or 'none'}", file=sys.stderr)
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
