"""Training speed and AUROC of fp32 vs bf16 autocast (and channels-last) on real data, side by side.

    DEEPAD_DATA=../shared/data python benchmarks/train_speed.py [--epochs-mnist 3] [--epochs-cifar 5]
        [--classes 0,1] [--methods hsc,bce] [--json]

For each data set, class and method, trains the same config with each setting in one process,
alternating, and prints seconds per epoch, images per second and test AUROC. Nothing is cached:
this measures training, not the store. OE: 64 Tiny-ImageNet validation images (the shared data's
natural-image pool), resized to the nominal resolution.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deepad import make_config, metrics  # noqa: E402
from deepad.data.tasks import build_task  # noqa: E402
from deepad.train import Detector  # noqa: E402

SETTINGS = {"fp32": dict(precision="fp32", channels_last=False),
            "fp32+cl": dict(precision="fp32", channels_last=True),
            "bf16+cl": dict(precision="bf16", channels_last=True)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs-mnist", type=int, default=3)
    ap.add_argument("--epochs-cifar", type=int, default=5)
    ap.add_argument("--classes", default="0,1")
    ap.add_argument("--methods", default="hsc,bce")
    ap.add_argument("--datasets", default="mnist,cifar10")
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    data = Path(os.environ.get("DEEPAD_DATA", "../shared/data"))
    oe = f"folder:{data / 'tiny-imagenet-200-val' / 'images'}"
    rows = []
    for ds in a.datasets.split(","):
        epochs = a.epochs_mnist if ds == "mnist" else a.epochs_cifar
        for k in [int(c) for c in a.classes.split(",")]:
            for m in a.methods.split(","):
                cfg = make_config(dataset=ds, normal_class=k, oe=oe, oe_size=64, method=m,
                                  epochs=epochs, seed=1)
                task = build_task(cfg)
                for name in a.settings.split(","):
                    det = Detector.from_config(cfg, preprocessing=task.prep, device="cpu",
                                               **SETTINGS[name]).fit(task.train, task.oe)
                    t0 = time.perf_counter()
                    s = det.score_samples(task.test)
                    ev = time.perf_counter() - t0
                    steps = len(task.train) // 128
                    row = {"dataset": ds, "class": k, "method": m, "setting": name,
                           "epochs": epochs, "s_per_epoch": det.train_seconds_ / epochs,
                           "train_img_per_s": steps * 256 * epochs / det.train_seconds_,
                           "eval_img_per_s": len(task.test) / ev,
                           "auroc": metrics.auroc(task.test_labels, s)}
                    rows.append(row)
                    print(f"{ds:8} class {k} {m:4} {name:8} {row['s_per_epoch']:6.2f} s/epoch "
                          f"{row['train_img_per_s']:7.0f} img/s train {row['eval_img_per_s']:7.0f} "
                          f"img/s eval  AUROC {row['auroc']:.4f}", file=sys.stderr, flush=True)
    # summary: mean over classes and methods per data set and setting
    print("\nmean over classes and methods:", file=sys.stderr)
    summary = {}
    for ds in a.datasets.split(","):
        for name in a.settings.split(","):
            rs = [r for r in rows if r["dataset"] == ds and r["setting"] == name]
            summary[f"{ds}/{name}"] = {
                "s_per_epoch": sum(r["s_per_epoch"] for r in rs) / len(rs),
                "auroc": sum(r["auroc"] for r in rs) / len(rs)}
        base = summary[f"{ds}/{a.settings.split(',')[0]}"]
        for name in a.settings.split(","):
            s = summary[f"{ds}/{name}"]
            print(f"  {ds:8} {name:8} {s['s_per_epoch']:6.2f} s/epoch (x{base['s_per_epoch'] / s['s_per_epoch']:.2f} "
                  f"vs {a.settings.split(',')[0]})  mean AUROC {s['auroc']:.4f} "
                  f"({100 * (s['auroc'] - base['auroc']):+.2f} points)", file=sys.stderr)
    if a.json:
        print(json.dumps({"rows": rows, "summary": summary}))


if __name__ == "__main__":
    main()
