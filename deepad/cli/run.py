"""`run` (train or find one run), `datasets` and `methods`."""

from __future__ import annotations

import argparse
import json
import sys

from .. import methods
from ..errors import DeepadError
from ..parsing import parse_method_params
from .common import stdout


def _run_parser(sub):
    p = sub.add_parser("run", help="train (or load from the cache) one run and print its metrics",
                       description="Train one anomaly detector with outlier exposure, or load it "
                                   "from the run cache, and print its test metrics.")
    p.add_argument("--dataset", default="digits",
                   help="nominal data: a name from `deepad datasets` or folder:PATH (default digits)")
    p.add_argument("--normal-class", default="0", help="nominal class: index or name (default 0)")
    p.add_argument("--oe", default=None,
                   help="outlier-exposure data: a data set name, folder:PATH, tiny-images:PATH, or "
                        "none (default: photos for methods that use OE, none otherwise)")
    p.add_argument("--oe-size", default="all", help="number of OE images, or 'all' (default all)")
    p.add_argument("--oe-classes", default=None,
                   help="use only k randomly chosen OE classes (seeded); default all")
    p.add_argument("--blur-sigma", default="0",
                   help="Gaussian blur of the OE images, std. deviation in pixels (default 0)")
    p.add_argument("--oe-batch", default=None, metavar="N",
                   help="OE images per training step (default: as many as nominal images, the "
                        "paper's 128; a smaller N shows a small OE set once per step)")
    p.add_argument("--no-oe-augment", dest="oe_augment", action="store_false",
                   help="OE images without the training augmentation (the paper augments them)")
    p.add_argument("--oe-jpeg", default=None, metavar="QUALITY",
                   help="re-encode the OE images as JPEG at this quality (1-95) once resized, as nominal data "
                        "stored as JPEG (the CIFAR-10 copy here: about 75); default none")
    p.add_argument("--method", default="hsc", help=f"one of {', '.join(methods.names())} (default hsc)")
    p.add_argument("--gamma", default=None, help="focal loss gamma (default 2)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a method parameter (repeatable), e.g. --param transforms=72; "
                        "`deepad methods` lists each method's parameters")
    p.add_argument("--seed", default="1", help="random seed: OE subset, init, batches (default 1)")
    p.add_argument("--epochs", default=None, help="training epochs (overrides the preset's)")
    p.add_argument("--budget", default=None, choices=["quick", "paper"],
                   help="training budget: quick (CPU-friendly, the default) or paper (the paper's "
                        "epochs); --epochs N sets the epochs instead")
    p.add_argument("--preset", default=None, choices=["quick", "paper"], help=argparse.SUPPRESS)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="training precision (auto: bf16 where it is faster: a CUDA GPU, a CPU "
                        "with AMX); scoring is fp32")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return p


class _Progress:
    """tqdm progress bar on stderr: epoch, loss, time left."""

    def __init__(self, label):
        self.label, self.bar = label, None

    def on_fit_start(self, det, total):
        from tqdm import tqdm
        self.bar = tqdm(total=total, desc=self.label, unit="step", file=sys.stderr,
                        dynamic_ncols=True, leave=True)

    def on_step_end(self, det, step, loss):
        self.bar.update(1)

    def on_epoch_end(self, det, epoch, loss):
        self.bar.set_postfix(epoch=f"{epoch}/{det.epochs}", loss=f"{loss:.4f}")

    def on_fit_end(self, det):
        self.bar.close()


def cmd_run(a) -> int:
    from ..config import make_config
    from ..experiments import get_or_train
    params = parse_method_params(a.param, a.gamma)
    notes = []
    cfg = make_config(dataset=a.dataset, normal_class=a.normal_class, oe=a.oe, oe_size=a.oe_size,
                      oe_classes=a.oe_classes, blur_sigma=a.blur_sigma, oe_jpeg=a.oe_jpeg,
                      oe_batch=a.oe_batch, oe_augment=a.oe_augment,
                      method=a.method,
                      seed=a.seed, preset=a.budget or a.preset or "quick", epochs=a.epochs, precision=a.precision,
                      notes=notes, **params)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    res = get_or_train(cfg, device=a.device, callbacks=[_Progress(f"{cfg.method} {cfg.key}")])
    out = res.to_json()
    if a.json:
        print(json.dumps(out), file=stdout(), flush=True)
        return 0
    mt = res.metrics
    how = ("from the cache" if res.cached else
           f"trained in {mt['train_seconds']:.1f} s on {mt['device']} ({mt['precision']})")
    c = cfg
    oe_desc = "no OE" if c.oe == "none" else (
        f"OE {c.oe} x {c.oe_size or 'all'}" + (f", blur {c.blur_sigma:g}" if c.blur_sigma else "")
        + (f", OE as JPEG q{c.oe_jpeg}" if c.oe_jpeg is not None else "")
        + (f", {c.oe_batch} OE images per step" if c.oe_batch is not None else "")
        + ("" if c.oe_augment else ", OE not augmented"))
    print(f"run {res.key}: {c.method} on {c.dataset} class {c.normal_class}, {oe_desc}, "
          f"seed {c.seed}, {c.epochs} epochs; {how}")
    print(f"  AUROC            {mt['auroc']:.4f}")
    print(f"  AUPRC            {mt['auprc']:.4f}")
    print(f"  FPR at 95% TPR   {mt['fpr_at_95_tpr']:.4f}")
    return 0


def cmd_datasets(a) -> int:
    from ..data import sources
    rows = []
    for name, src in sources.REGISTRY.items():
        try:
            classes = src.classes()
        except DeepadError:
            classes = []
        role = "OE only" if src.oe_only else "nominal or OE"
        rows.append({"name": name, "status": src.status(), "role": role,
                     "n_classes": len(classes), "classes": classes,
                     "where": str(src.where()) if src.where() else None, "note": src.note})
    for name in sources.found_folders():  # folders and archives under the data root
        src = sources.get(name)
        try:
            paths, _, _, classes = src._files()
            note = (f"{'archive' if src.is_archive else 'image folder'}, {len(paths):,} images; "
                    f"as OE give --oe {name}")
        except DeepadError as e:
            classes, note = [], str(e)
        rows.append({"name": name, "status": "on disk", "role": "nominal or OE",
                     "n_classes": len(classes), "classes": classes, "where": str(src.path),
                     "note": note})
    if a.json:
        print(json.dumps(rows), file=stdout())
        return 0
    print(f"{'name':<16}{'status':<16}{'role':<15}classes")
    for r in rows:
        if r["name"].startswith("folder:"):
            continue
        cls = ", ".join(r["classes"][:6]) + (" ..." if r["n_classes"] > 6 else "")
        print(f"{r['name']:<16}{r['status']:<16}{r['role']:<15}{r['n_classes']:>3}: {cls}")
        if r["where"]:
            print(f"{'':<16}{'':<16}{'':<15}     at {r['where']}")
    found = [r for r in rows if r["name"].startswith("folder:")]
    if found:
        print("\nFound under the data root (DEEPAD_DATA):")
        for r in found:
            print(f"  {r['name']}\n      {r['n_classes']} classes; {r['note']}")
    print()
    print("Also: folder:PATH (image folders: PATH/train|test/<class>/ or PATH/<class>/, or a .zip "
          "or .tar of the same; as OE, all images under PATH)")
    print("      tiny-images:PATH[,exclude=FILE] (the 80 Million Tiny Images binary; OE only)")
    print(f"Data root (DEEPAD_DATA): {sources.data_root()}; data sets that need a download are "
          f"fetched there on first use.")
    return 0


def cmd_methods(a) -> int:
    rows = [vars(methods.info(n)) for n in methods.names()]
    if a.json:
        print(json.dumps(rows), file=stdout())
        return 0
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        print(f"{r['name']:<11}{r['family']:<17}OE {r['oe']:<9}{r['summary']}"
              + (f" [{params}]" if params else ""))
    return 0
