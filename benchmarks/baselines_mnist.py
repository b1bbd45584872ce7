"""The unsupervised baselines' quick presets on real MNIST, digit 0 against the rest.

    DEEPAD_DATA=../shared/data python benchmarks/baselines_mnist.py [--methods geo,itae] [--json]

Each method's `quick` preset (the default of `deepad run`), trained fresh (not from the run store)
on all 5,923 training images of digit 0 and scored on the 10,000 test images. What a preset must
reach here: AUROC >= 0.90. The unit tests check each baseline on the bundled 8x8 digits in
seconds; this script checks the presets at full size (a few minutes each on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deepad import make_config  # noqa: E402
from deepad.experiments import train_run  # noqa: E402

METHODS = ("ocsvm", "deep-svdd", "ae", "geo", "geo-plus", "itae")
TARGET = 0.90


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = []
    for m in [x.strip() for x in a.methods.split(",") if x.strip()]:
        cfg = make_config(dataset="mnist", normal_class=0, oe="none", method=m, preset="quick")
        t0 = time.perf_counter()
        det, metrics, _ = train_run(cfg)
        rows.append({"method": m, "auroc": metrics["auroc"], "seconds": time.perf_counter() - t0,
                     "epochs": cfg.epochs, "precision": det.precision_, "meets": metrics["auroc"] >= TARGET})
        print(f"{m:<10} AUROC {metrics['auroc']:.4f} ({'>=' if rows[-1]['meets'] else '<'} {TARGET}) "
              f"in {rows[-1]['seconds']:.0f} s, {cfg.epochs} epochs, {det.precision_}",
              file=sys.stderr, flush=True)
    if a.json:
        print(json.dumps(rows))
    return 0 if all(r["meets"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
