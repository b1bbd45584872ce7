"""The command line: `python -m deepad run|datasets|methods ...`.

Bad input exits with code 2 and one line on stderr naming the problem and the fix; a run that fails
in training exits with 1. With --json, stdout carries exactly one JSON object and everything else
(progress, notes) goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

from . import methods
from .errors import DeepadError
from .parsing import parse_floats, parse_ints, parse_method_params  # noqa: F401


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error contract: one line `error: ...` on stderr, exit code 2."""

    def error(self, message):
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


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
    p.add_argument("--preset", default="quick", choices=["quick", "paper"],
                   help="training budget: quick (CPU-friendly) or paper (the paper's epochs)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="training precision (auto: bf16 where the hardware has it); scoring is fp32")
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
    from .config import make_config
    from .experiments import get_or_train
    params = parse_method_params(a.param, a.gamma)
    notes = []
    cfg = make_config(dataset=a.dataset, normal_class=a.normal_class, oe=a.oe, oe_size=a.oe_size,
                      oe_classes=a.oe_classes, blur_sigma=a.blur_sigma, oe_jpeg=a.oe_jpeg,
                      method=a.method,
                      seed=a.seed, preset=a.preset, epochs=a.epochs, precision=a.precision,
                      notes=notes, **params)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    res = get_or_train(cfg, device=a.device, callbacks=[_Progress(f"{cfg.method} {cfg.key}")])
    out = res.to_json()
    if a.json:
        print(json.dumps(out), file=_STDOUT[0], flush=True)
        return 0
    mt = res.metrics
    how = ("from the cache" if res.cached else
           f"trained in {mt['train_seconds']:.1f} s on {mt['device']} ({mt['precision']})")
    c = cfg
    oe_desc = "no OE" if c.oe == "none" else (
        f"OE {c.oe} x {c.oe_size or 'all'}" + (f", blur {c.blur_sigma:g}" if c.blur_sigma else "")
        + (f", OE as JPEG q{c.oe_jpeg}" if c.oe_jpeg is not None else ""))
    print(f"run {res.key}: {c.method} on {c.dataset} class {c.normal_class}, {oe_desc}, "
          f"seed {c.seed}, {c.epochs} epochs; {how}")
    print(f"  AUROC            {mt['auroc']:.4f}")
    print(f"  AUPRC            {mt['auprc']:.4f}")
    print(f"  FPR at 95% TPR   {mt['fpr_at_95_tpr']:.4f}")
    return 0


def cmd_datasets(a) -> int:
    from .data import sources
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
        print(json.dumps(rows), file=_STDOUT[0])
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
        print(json.dumps(rows), file=_STDOUT[0])
        return 0
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        print(f"{r['name']:<11}{r['family']:<17}OE {r['oe']:<9}{r['summary']}"
              + (f" [{params}]" if params else ""))
    return 0


def _sweep_parser(sub):
    p = sub.add_parser("sweep", help="train a grid of runs (the product of lists), locally or on Ray",
                       description="Train the product of lists of run settings into the run cache. "
                                   "Cached runs are skipped, so a stopped sweep resumes where it was.")
    p.add_argument("--preset", default=None,
                   help="a paper grid (see --list-presets) or a training budget quick|paper")
    p.add_argument("--list-presets", action="store_true", help="list the paper's grids and exit")
    p.add_argument("--dataset", default=None)
    p.add_argument("--normal-class", default=None, help="all | 0,1,5 | 0-4 (default 0)")
    p.add_argument("--oe", default=None)
    p.add_argument("--oe-size", default=None, help="e.g. 1,2,4,8,all (default all)")
    p.add_argument("--oe-classes", default=None, help="e.g. 1,2,3 (default all classes)")
    p.add_argument("--blur-sigma", default=None, help="e.g. 0,1,2,4 (default 0)")
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
    p.add_argument("--dry-run", action="store_true", help="print the grid size and what is cached")
    p.add_argument("--from-file", default=None, help=argparse.SUPPRESS)  # background sweeps
    p.add_argument("--by-class", action="store_true", help="summary per nominal class too")
    p.add_argument("--format", default="markdown", choices=["markdown", "csv"])
    return p


def _table_parser(sub):
    p = sub.add_parser("table", help="summarise stored runs: mean and std of AUROC per group",
                       description="Mean and standard deviation of AUROC over stored runs, grouped "
                                   "by the fields that vary (seeds pooled).")
    _add_filters(p)
    p.add_argument("--by", default=None, help="group by these fields (comma-separated); default: "
                                               "the fields that vary, except seed and class")
    p.add_argument("--by-class", action="store_true", help="keep nominal classes apart")
    p.add_argument("--format", default="markdown", choices=["markdown", "csv"])
    return p


def _sweep_grid(a):
    from .grids import Grid, presets
    spec = {}
    budget = a.budget
    if a.preset and a.preset not in ("quick", "paper"):
        ps = presets()
        if a.preset not in ps:
            raise DeepadError(f"unknown preset '{a.preset}'; see `python -m deepad sweep "
                              f"--list-presets` (or use quick | paper for the training budget)")
        spec = dict(ps[a.preset])
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
    params = parse_method_params(a.param, a.gamma)
    return Grid(**spec, preset=budget or "quick", epochs=a.epochs, precision=a.precision,
                method_params=params)


def cmd_sweep(a) -> int:
    from .executors import default_workers, run_sweep
    from .grids import preset_size, presets
    from .store import RunStore
    from .summary import format_table, summarize, varying_fields
    if a.list_presets:
        for name, spec in presets().items():
            print(f"{name:<28}{preset_size(spec):>7} runs  {spec['dataset']} with OE {spec['oe']}; "
                  f"methods {','.join(spec['method'])}")
        print("\nFlags given with --preset override its values (e.g. --oe folder:PATH, --seed 1-2).")
        return 0
    notes = []
    if a.from_file:
        from .background import configs_from_file
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
                         address=a.address, device=a.device, store=store, on_outcome=on_outcome)
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


FILTER_FIELDS = ("dataset", "normal-class", "oe", "oe-size", "oe-classes", "blur-sigma", "method",
                 "seed", "epochs")


def _add_filters(p, what="runs"):
    for f in FILTER_FIELDS:
        p.add_argument(f"--{f}", default=None, action="append",
                       help=f"only {what} with this {f.replace('-', ' ')}: a value or a "
                            f"comma-separated list (repeatable)")


def _filters(a) -> dict:
    """{index column: accepted values} from the filter flags (see _add_filters)."""
    from .data.sources import canonical_name

    def joined(v):
        return None if v is None else ",".join(v) if isinstance(v, list) else v
    filters = {}
    for f in ("dataset", "oe", "method"):
        v = joined(getattr(a, f))
        if v is not None:
            filters[f] = [x.strip() for x in v.split(",") if x.strip()]
    for f in ("normal_class", "seed", "epochs", "oe_classes"):
        v = joined(getattr(a, f))
        if v is not None:
            filters[f] = parse_ints(v, name=f.replace("_", "-"))
    v = joined(a.oe_size)
    if v is not None:
        filters["oe_size"] = [None if x == "all" else x
                              for x in parse_ints(v, name="oe-size", allow_all=True)]
    v = joined(a.blur_sigma)
    if v is not None:
        filters["blur_sigma"] = parse_floats(v, name="blur-sigma")
    if "dataset" in filters:
        filters["dataset"] = [_named(canonical_name(d)) for d in filters["dataset"]]
    if "oe" in filters:
        filters["oe"] = [x if x == "none" else _named(canonical_name(x)) for x in filters["oe"]]
    return filters


class _named(str):
    """A data-set filter value that also matches runs made on the same data elsewhere (by content
    identity, for folder: and tiny-images: paths on this machine)."""

    @property
    def ident(self):
        if not hasattr(self, "_ident"):
            self._ident = None
            if self.startswith(("folder:", "tiny-images:")):
                from .data.sources import identify
                try:
                    self._ident = identify(str(self))
                except DeepadError:
                    pass
        return self._ident


def _matches(row: dict, filters: dict) -> bool:
    for f, values in filters.items():
        if f in ("dataset", "oe"):
            ident = row.get(f"{f}_id")
            if not any(row[f] == v or (ident and getattr(v, "ident", None) == ident) for v in values):
                return False
        elif row[f] not in values:
            return False
    return True


def cmd_table(a) -> int:
    from .store import RunStore
    from .summary import format_table, summarize, varying_fields
    filters = _filters(a)
    rows = [r for r in RunStore().query() if _matches(r, filters)]
    if a.by:
        by = [b.strip().replace("-", "_") for b in a.by.split(",")]
        bad = [b for b in by if rows and b not in rows[0]]
        if bad:
            raise DeepadError(f"--by: unknown field(s) {', '.join(bad)}; use config fields such as "
                              f"method, oe_size, blur_sigma, normal_class")
    else:
        by = varying_fields(rows, exclude=("seed",) if a.by_class else ("seed", "normal_class"))
    print(format_table(summarize(rows, by=by), a.format))
    return 0


# ------------------------------------------------------------------ result bundles

def _bundle_parser(sub):
    p = sub.add_parser("bundle", help="export stored runs to one file, import one, or describe one",
                       description="Result bundles: stored runs (configs, metrics, training "
                                   "history, per-sample test scores, the test images the "
                                   "dashboard shows; weights on request) in one checksummed file "
                                   "that opens on any machine.")
    bs = p.add_subparsers(dest="bundle_cmd", required=True)
    e = bs.add_parser("export", help="write stored runs to a bundle",
                      description="Write the stored runs that match the filters (all runs "
                                  "without any) to one bundle file.")
    e.add_argument("--out", required=True, help="the bundle file to write (e.g. results.zip)")
    _add_filters(e)
    e.add_argument("--run", action="append", default=[], metavar="KEY",
                   help="a run key (repeatable; with filters, runs that match either)")
    e.add_argument("--preset-grid", default=None, metavar="NAME",
                   help="the runs of a grid of `deepad sweep --list-presets` (matched by its "
                        "axes: data set, classes, methods, OE sizes, OE classes, blur, seeds; any "
                        "OE pool and budget)")
    e.add_argument("--weights", action="store_true", help="include the models' weights")
    e.add_argument("--scores", default="float64", choices=["float64", "float32", "float16", "compact"],
                   help="precision of the per-sample scores (default float64, exact; compact: per "
                        "run the smallest float type that keeps its AUROC within 1e-5)")
    e.add_argument("--json", action="store_true", help="print one JSON object (what was written)")
    i = bs.add_parser("import", help="put a bundle's runs into the local run store")
    i.add_argument("path", help="the bundle file")
    i.add_argument("--json", action="store_true")
    f = bs.add_parser("info", help="what a bundle holds, one line per group")
    f.add_argument("path", help="the bundle file")
    f.add_argument("--json", action="store_true")


def _preset_rows(rows: list, name: str) -> list:
    from .grids import GRID_FIELDS, presets
    ps = presets()
    if name not in ps:
        raise DeepadError(f"unknown preset grid '{name}'; see `python -m deepad sweep "
                          f"--list-presets`")
    spec = ps[name]
    from .data.sources import canonical_name

    def norm(field, v):
        return None if v == "all" and field in ("oe_size", "oe_classes") else v
    out = []
    for r in rows:
        if r["dataset"] != canonical_name(spec["dataset"]):
            continue
        ok = True
        for f in GRID_FIELDS:
            if f in spec and r[f] not in [norm(f, v) for v in spec[f]]:
                ok = False
                break
        if ok and "oe_size" not in spec and r["oe_size"] is not None:
            ok = False
        if ok and "blur_sigma" not in spec and r["blur_sigma"]:
            ok = False
        if ok:
            out.append(r)
    return out


def cmd_bundle(a) -> int:
    from . import bundle
    if a.bundle_cmd == "info":
        info = bundle.open_bundle(a.path).info()
        if a.json:
            print(json.dumps(info), file=_STDOUT[0])
            return 0
        print(f"{a.path}: {info['runs']} runs, {info['bytes'] / 2 ** 20:.1f} MB, bundle format "
              f"{info['format_version']}, made by deepad {info['deepad_version']} on "
              f"{info['created']}; scores as {', '.join(info['scores_dtypes'])}; "
              f"{info['with_weights']} with weights")
        for g in info["groups"]:
            print(f"  {g['runs']:>5} runs  {g['dataset']}, {g['oe']}, {g['epochs']} epochs: "
                  f"{','.join(g['methods'])}; classes {_span(g['classes'])}; seeds "
                  f"{_span(g['seeds'])}; OE sizes {','.join(map(str, g['oe_sizes']))}"
                  + (f"; blur {','.join(f'{s:g}' for s in g['blur_sigmas'])}"
                     if g["blur_sigmas"] != [0.0] else ""))
        return 0
    if a.bundle_cmd == "import":
        res = bundle.import_bundle(a.path)
        if a.json:
            print(json.dumps({"imported": len(res["imported"]), "present": len(res["present"]),
                              "conflicts": res["conflicts"], "keys": res["imported"]}),
                  file=_STDOUT[0])
        else:
            print(f"imported {len(res['imported'])} run(s) from {a.path}; {len(res['present'])} "
                  f"already stored with the same metrics; {len(res['conflicts'])} conflict(s)")
        for c in res["conflicts"]:
            print(f"conflict: run {c['key']} is stored here with AUROC {c['local_auroc']:.6f}, the "
                  f"bundle has {c['bundle_auroc']:.6f}; kept the local run (delete it to take the "
                  f"bundle's)", file=sys.stderr)
        return 0
    from .store import RunStore
    store = RunStore()
    rows = store.query()
    filters = _filters(a)
    chosen = {}
    if filters or not (a.run or a.preset_grid):
        chosen.update((r["key"], r) for r in rows if _matches(r, filters))
    if a.preset_grid:
        chosen.update((r["key"], r) for r in _preset_rows(rows, a.preset_grid)
                      if _matches(r, filters))
    runs = []
    for key in chosen:
        run = store.get(key)
        if run is not None:
            runs.append(run)
    for key in a.run:
        run = store.get(key.strip())
        if run is None:
            raise DeepadError(f"no stored run {key}; see `python -m deepad runs` for the keys")
        if run.key not in {r.key for r in runs}:
            runs.append(run)
    summary = bundle.export(a.out, runs, weights=a.weights, scores=a.scores)
    if a.json:
        print(json.dumps(summary), file=_STDOUT[0])
    else:
        print(f"wrote {a.out}: {summary['runs']} runs, {summary['bytes'] / 2 ** 20:.2f} MB"
              + (f"; AUROC recomputed from the written scores moves by at most "
                 f"{summary['scores_auroc_change']:.1e}" if a.scores != "float64" else ""))
    return 0


def _span(values) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    out, start, prev = [], None, None
    for v in list(values) + [None]:
        if isinstance(v, int) and prev is not None and isinstance(prev, int) and v == prev + 1:
            prev = v
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = v
    return ",".join(out)


def _score_parsers(sub):
    p = sub.add_parser("score", help="score image files or folders with a stored model",
                       description="Score images with a stored run's model (preprocessed as in its "
                                   "training) and flag those above the run's threshold at 95% TPR.")
    p.add_argument("--run", required=True, help="run key (see `python -m deepad runs`)")
    p.add_argument("paths", nargs="+", help="image files or folders")
    p.add_argument("--out", default=None, help="write the CSV here instead of stdout")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of CSV")
    p.add_argument("--heatmaps", default=None, help="write a heatmap PNG per image into this folder")
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

    from .inference import heatmap, heatmap_png, load_run, note, score_paths
    run, det = load_run(a.run)
    res = score_paths(run, det, a.paths)
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
        out = json.dumps({"run_key": run.key, "config": run.config.to_dict(), "rows": res.rows,
                          "skipped": [{"path": p, "reason": r} for p, r in res.skipped]})
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
        print(out, file=_STDOUT[0])
    return 0


def cmd_runs(a) -> int:
    from .data.sources import canonical_name
    from .store import RunStore
    filters = {}
    if a.method:
        filters["method"] = a.method
    for f in ("normal_class", "seed"):
        v = getattr(a, f)
        if v is not None:
            try:
                filters[f] = int(v)
            except ValueError:
                raise DeepadError(f"--{f.replace('_', '-')} must be an integer, got '{v}'") from None
    rows = RunStore().query(**filters)
    named = {f: [_named(canonical_name(v) if v != "none" else v)]
             for f, v in (("dataset", a.dataset), ("oe", a.oe)) if v}
    rows = [r for r in rows if _matches(r, named)]
    if a.json:
        print(json.dumps([{"run_key": r["key"], "auroc": r["auroc"], "config": json.loads(r["config"])}
                          for r in rows]), file=_STDOUT[0])
        return 0
    if not rows:
        print("no stored runs match", file=sys.stderr)
        return 0
    print(f"{'run key':<18}{'dataset':<12}{'class':>5}  {'method':<10}{'OE':<14}{'size':>6}"
          f"{'blur':>6}{'seed':>5}{'epochs':>7}{'AUROC':>8}")
    for r in rows:
        oe = r["oe"] if not r["oe"].startswith(("folder:", "tiny-images:")) else r["oe"].split(":")[0] + ":…"
        ds = r["dataset"] if not r["dataset"].startswith("folder:") else "folder:…"
        print(f"{r['key']:<18}{ds:<12}{r['normal_class']:>5}  {r['method']:<10}{oe:<14}"
              f"{r['oe_size'] if r['oe_size'] is not None else 'all':>6}{r['blur_sigma']:>6g}"
              f"{r['seed']:>5}{r['epochs']:>7}{r['auroc']:>8.4f}")
    return 0


def cmd_export(a) -> int:
    from .inference import export, load_run
    run, det = load_run(a.run)
    out = export(run, det, a.format, a.out)
    print(f"wrote {out} ({a.format}): uint8 images (N, {', '.join(map(str, det.shape_))}) -> "
          f"anomaly scores (N,), higher = more anomalous", file=sys.stderr)
    return 0


# Where results go: the process's stdout as it was when main() started (with --json everything
# else is redirected to stderr).
_STDOUT = [sys.stdout]


def main(argv=None) -> int:
    _STDOUT[0] = sys.stdout
    ap = _Parser(prog="python -m deepad", description="Deep anomaly detection with outlier exposure.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    _run_parser(sub)
    _sweep_parser(sub)
    _table_parser(sub)
    _score_parsers(sub)
    _bundle_parser(sub)
    p = sub.add_parser("datasets", help="list data sets, their classes and where they are")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("methods", help="list methods")
    p.add_argument("--json", action="store_true")
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed
        return e.code if isinstance(e.code, int) else 2
    handler = {"run": cmd_run, "datasets": cmd_datasets, "methods": cmd_methods,
               "sweep": cmd_sweep, "table": cmd_table, "score": cmd_score, "runs": cmd_runs,
               "export": cmd_export, "bundle": cmd_bundle}[a.cmd]
    try:
        # With --json, anything a library prints must not reach stdout.
        ctx = contextlib.redirect_stdout(sys.stderr) if getattr(a, "json", False) else contextlib.nullcontext()
        with ctx:
            return handler(a)
    except DeepadError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; finished runs are in the cache", file=sys.stderr)
        return 130
