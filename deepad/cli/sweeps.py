"""`sweep`: train the product of lists of settings, locally or on Ray."""

from __future__ import annotations

import argparse
import sys
import time

from ..errors import DeepadError
from ..parsing import parse_floats, parse_ints, parse_method_params


def _sweep_parser(sub):
    p = sub.add_parser("sweep", help="train a grid of runs (the product of lists), locally or on Ray",
                       description="Train the product of lists of run settings into the run cache. "
                                   "Cached runs are skipped, so a stopped sweep resumes where it was.")
    p.add_argument("--grid", default=None, metavar="NAME",
                   help="one of the paper's grids (see --list-grids); other flags override its values")
    p.add_argument("--list-grids", action="store_true", help="list the paper's grids and exit")
    # the words of 0.1 (a grid or a budget), still understood
    p.add_argument("--preset", default=None, help=argparse.SUPPRESS)
    p.add_argument("--list-presets", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--dataset", default=None)
    p.add_argument("--normal-class", default=None, help="all | 0,1,5 | 0-4 (default 0)")
    p.add_argument("--oe", default=None)
    p.add_argument("--oe-size", default=None, help="e.g. 1,2,4,8,all (default all)")
    p.add_argument("--oe-classes", default=None, help="e.g. 1,2,3 (default all classes)")
    p.add_argument("--blur-sigma", default=None, help="e.g. 0,1,2,4 (default 0)")
    p.add_argument("--oe-batch", default=None, metavar="N",
                   help="OE images per training step (default: as many as nominal images, the "
                        "paper's 128; a smaller N shows a small OE set once per step)")
    p.add_argument("--no-oe-augment", dest="oe_augment", action="store_false",
                   help="OE images without the training augmentation (the paper augments them)")
    p.add_argument("--oe-jpeg", default=None, metavar="QUALITY",
                   help="re-encode the OE images as JPEG at this quality (1-95) once resized, as nominal data "
                        "stored as JPEG (the CIFAR-10 copy here: about 75); default none")
    p.add_argument("--method", default=None, help="e.g. hsc,bce (default hsc)")
    p.add_argument("--gamma", default=None, help="focal loss gamma")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a method parameter (repeatable), given to the methods that take it")
    p.add_argument("--seed", default=None, help="e.g. 1-10 (default 1)")
    p.add_argument("--epochs", default=None)
    p.add_argument("--budget", default=None, choices=["quick", "paper"],
                   help="training budget (default: paper for the paper's grids, quick otherwise)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--executor", default="local", choices=["local", "ray"])
    p.add_argument("--workers", default=None, help="local worker processes (default: GPUs, or 1)")
    p.add_argument("--address", default=None, help="Ray cluster: auto or HOST:PORT (default: local)")
    p.add_argument("--cpus-per-run", default="1", metavar="N",
                   help="Ray: CPUs (and torch threads) per run (default 1)")
    p.add_argument("--gpus-per-run", default=None, metavar="F",
                   help="Ray: the GPU share of a run, e.g. 0.25 packs four runs on a GPU (default: "
                        "0.25 for MNIST- and CIFAR-sized data, 1 for ImageNet-sized)")
    p.add_argument("--dry-run", action="store_true", help="print the grid size and what is cached")
    p.add_argument("--from-file", default=None, help=argparse.SUPPRESS)  # background sweeps
    p.add_argument("--by-class", action="store_true", help="summary per nominal class too")
    p.add_argument("--format", default="markdown", choices=["markdown", "csv"])
    return p


def _sweep_grid(a):
    from ..grids import Grid, presets
    spec = {}
    budget = a.budget
    grid = a.grid or (a.preset if a.preset not in (None, "quick", "paper") else None)
    if grid:
        ps = presets()
        if grid not in ps:
            raise DeepadError(f"unknown grid '{grid}'; see `python -m deepad sweep --list-grids` "
                              f"(the training budget is --budget quick | paper)")
        spec = dict(ps[grid])
        budget = budget or "paper"
    elif a.preset:
        budget = budget or a.preset
    if a.dataset is not None:
        spec["dataset"] = a.dataset
    if a.oe is not None:
        spec["oe"] = a.oe
    if a.normal_class is not None:
        spec["normal_class"] = parse_ints(a.normal_class, name="normal-class", allow_all=True)
    if a.method is not None:
        spec["method"] = [m.strip() for m in a.method.split(",") if m.strip()]
    if a.oe_size is not None:
        spec["oe_size"] = parse_ints(a.oe_size, name="oe-size", allow_all=True)
    if a.oe_classes is not None:
        spec["oe_classes"] = parse_ints(a.oe_classes, name="oe-classes")
    if a.blur_sigma is not None:
        spec["blur_sigma"] = parse_floats(a.blur_sigma, name="blur-sigma")
    if a.seed is not None:
        spec["seed"] = parse_ints(a.seed, name="seed")
    if a.oe_jpeg is not None:
        spec["oe_jpeg"] = a.oe_jpeg  # make_config checks it
    if a.oe_batch is not None:
        spec["oe_batch"] = a.oe_batch
    if not a.oe_augment:
        spec["oe_augment"] = False
    params = parse_method_params(a.param, a.gamma)
    return Grid(**spec, preset=budget or "quick", epochs=a.epochs, precision=a.precision,
                method_params=params)


def cmd_sweep(a) -> int:
    from ..executors import default_workers, run_sweep
    from ..grids import preset_size, presets
    from ..store import RunStore
    from ..summary import format_table, summarize, varying_fields
    if a.list_grids or a.list_presets:
        for name, spec in presets().items():
            print(f"{name:<28}{preset_size(spec):>7} runs  {spec['dataset']} with OE {spec['oe']}; "
                  f"methods {','.join(spec['method'])}")
        print("\nFlags given with --grid override its values (e.g. --oe folder:PATH, --seed 1-2).")
        return 0
    notes = []
    if a.from_file:
        from ..background import configs_from_file
        configs = configs_from_file(a.from_file)
    else:
        configs = _sweep_grid(a).configs(notes)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    store = RunStore()
    if a.dry_run:
        cached = sum(1 for c in configs if c.key in store)
        print(f"{len(configs)} runs in the grid; {cached} cached, {len(configs) - cached} to train")
        return 0
    workers = None
    if a.workers is not None:
        try:
            workers = int(a.workers)
            assert workers >= 1
        except (ValueError, AssertionError):
            raise DeepadError(f"--workers must be a positive integer, got '{a.workers}'") from None
    try:
        cpus = int(a.cpus_per_run)
        assert cpus >= 1
    except (ValueError, AssertionError):
        raise DeepadError(f"--cpus-per-run must be a positive integer, got '{a.cpus_per_run}'") from None
    try:
        gpus = None if a.gpus_per_run is None else float(a.gpus_per_run)
        assert gpus is None or 0 <= gpus <= 8
    except (ValueError, AssertionError):
        raise DeepadError(f"--gpus-per-run must be a number between 0 and 8 (e.g. 0.25), got "
                          f"'{a.gpus_per_run}'") from None
    from tqdm import tqdm
    counts = {"trained": 0, "cached": 0, "failed": 0}
    bar = tqdm(total=len(configs), desc="sweep", unit="run", file=sys.stderr, dynamic_ncols=True)

    def on_outcome(o):
        counts[o.status] += 1
        bar.update(1)
        bar.set_postfix(done=counts["trained"], cached=counts["cached"], failed=counts["failed"],
                        left=len(configs) - sum(counts.values()))
    t0 = time.perf_counter()
    outcomes = run_sweep(configs, executor=a.executor, workers=workers or default_workers(),
                         address=a.address, device=a.device, store=store, on_outcome=on_outcome,
                         cpus_per_run=cpus, gpus_per_run=gpus)
    bar.close()
    wall = time.perf_counter() - t0
    keys = {c.key for c in configs}
    rows = [r for r in store.query() if r["key"] in keys]
    by = [f for f in varying_fields(rows, exclude=("seed",) if a.by_class else ("seed", "normal_class"))]
    print(format_table(summarize(rows, by=by), a.format))
    print(f"\n{len(configs)} runs: {counts['trained']} trained, {counts['cached']} cached, "
          f"{counts['failed']} failed in {wall:.1f} s", file=sys.stderr)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        for o in failed:
            print(f"failed: {o.key}: {o.error}", file=sys.stderr)
        return 1
    return 0
