"""Stored models at work: `score` images, `export` a model (TorchScript, ONNX)."""

from __future__ import annotations

import json
import sys

from ..errors import DeepadError
from .common import stdout


def _score_parsers(sub):
    p = sub.add_parser("score", help="score image files or folders with a stored model",
                       description="Score images with a stored run's model (preprocessed as in its "
                                   "training) and flag those whose score reaches the run's threshold "
                                   "at 95% TPR, or the operating point given with --threshold.")
    p.add_argument("--run", required=True, help="run key (see `python -m deepad runs`)")
    p.add_argument("paths", nargs="+", help="image files or folders")
    p.add_argument("--out", default=None, help="write the CSV here instead of stdout")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of CSV")
    p.add_argument("--heatmaps", default=None, help="write a heatmap PNG per image into this folder")
    p.add_argument("--threshold", default=None, metavar="fpr=R|tpr=R|f1|VALUE",
                   help="the operating point that flags images (score >= threshold = anomalous): "
                        "fpr=0.05 (at most 5%% of normal images flagged), tpr=0.95 (at least 95%% of "
                        "anomalies caught), f1 (best F1), or a raw score; chosen on a validation "
                        "split of the run's stored test scores, counted on its other test images")
    p.add_argument("--split-seed", type=int, default=None,
                   help="seed of that validation split (default: the run's seed)")
    p = sub.add_parser("runs", help="list stored runs with their keys and configs")
    for f in ("dataset", "method", "oe"):
        p.add_argument(f"--{f}", default=None, help=f"only runs with this {f}")
    p.add_argument("--normal-class", default=None)
    p.add_argument("--seed", default=None)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("export", help="write a stored model with its preprocessing folded in")
    p.add_argument("--run", required=True, help="run key (see `python -m deepad runs`)")
    p.add_argument("--format", default="torchscript", choices=["torchscript", "onnx"])
    p.add_argument("--out", required=True, help="output file")


def cmd_score(a) -> int:
    import csv
    import io

    from ..inference import heatmap, heatmap_png, load_run, note, score_paths
    point = None
    if a.threshold is not None:  # bad targets fail before the model loads
        from ..operating import for_run, parse_target
        target = parse_target(a.threshold, name="--threshold")
    run, det = load_run(a.run)
    if a.threshold is not None:
        point = for_run(run, target, seed=a.split_seed)
    res = score_paths(run, det, a.paths)
    if point is not None:
        res.rows = [{"path": r["path"], "score": r["score"], "threshold": point.threshold,
                     "anomalous": bool(r["score"] >= point.threshold)} for r in res.rows]
        note(point.describe())
    for path, why in res.skipped:
        print(f"warning: skipped {path}: {why}", file=sys.stderr)
    if res.converted:
        c, h, w = res.images.shape[1:]
        note(f"{res.converted} image(s) were resized or converted to the model's {c}x{h}x{w}")
    if a.heatmaps:
        from pathlib import Path
        d = Path(a.heatmaps)
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DeepadError(f"cannot create {d} ({e.strerror}); choose a writable folder") from None
        for i, row in enumerate(res.rows):
            name = f"{i:05d}-{Path(row['path']).stem}.png"
            heatmap_png(res.images[i], heatmap(det, res.images[i]), d / name)
            row["heatmap"] = str(d / name)
    if a.json:
        doc = {"run_key": run.key, "config": run.config.to_dict(), "rows": res.rows,
               "skipped": [{"path": p, "reason": r} for p, r in res.skipped]}
        if point is not None:
            doc["operating_point"] = point.to_dict(indices=True)
        out = json.dumps(doc)
    else:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(res.rows[0]))
        w.writeheader()
        w.writerows(res.rows)
        out = buf.getvalue().rstrip("\n")
    if a.out:
        try:
            with open(a.out, "w") as f:
                f.write(out + "\n")
        except OSError as e:
            raise DeepadError(f"cannot write {a.out} ({e.strerror}); choose a writable path") from None
        print(f"wrote {len(res.rows)} rows to {a.out}", file=sys.stderr)
    else:
        print(out, file=stdout())
    return 0


def cmd_export(a) -> int:
    from ..inference import export, load_run
    run, det = load_run(a.run)
    out = export(run, det, a.format, a.out)
    print(f"wrote {out} ({a.format}): uint8 images (N, {', '.join(map(str, det.shape_))}) -> "
          f"anomaly scores (N,), higher = more anomalous", file=sys.stderr)
    return 0
