"""Commands on stored runs: `table`, `runs` and result bundles (`bundle export|import|info`)."""

from __future__ import annotations

import json
import sys

from ..errors import DeepadError
from ..parsing import parse_floats, parse_ints
from .common import stdout


def _table_parser(sub):
    p = sub.add_parser("table", help="summarise stored runs: mean, std and 95%% CI of AUROC per group",
                       description="Mean and standard deviation of AUROC over stored runs, grouped "
                                   "by the fields that vary (seeds pooled), with the 95% confidence "
                                   "interval of the mean over seeds (Student t) and the number of "
                                   "seeds.")
    _add_filters(p)
    p.add_argument("--by", default=None, help="group by these fields (comma-separated); default: "
                                               "the fields that vary, except seed and class")
    p.add_argument("--by-class", action="store_true", help="keep nominal classes apart")
    p.add_argument("--format", default="markdown", choices=["markdown", "csv"])
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: the grouping fields and one object per group")
    return p


FILTER_FIELDS = ("dataset", "normal-class", "oe", "oe-size", "oe-classes", "blur-sigma", "method",
                 "seed", "epochs")


def _add_filters(p, what="runs"):
    for f in FILTER_FIELDS:
        p.add_argument(f"--{f}", default=None, action="append",
                       help=f"only {what} with this {f.replace('-', ' ')}: a value or a "
                            f"comma-separated list (repeatable)")


def _filters(a) -> dict:
    """{index column: accepted values} from the filter flags (see _add_filters)."""
    from ..data.sources import canonical_name

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
                from ..data.sources import identify
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
    from ..store import RunStore
    from ..summary import format_table, summarize, varying_fields
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
    summary = summarize(rows, by=by, ci=True)
    if a.json:
        from ..summary import CI_NOTE
        print(json.dumps({"by": by, "interval": CI_NOTE, "groups": summary}), file=stdout())
        return 0
    print(format_table(summary, a.format))
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
    e.add_argument("--runs-from", action="append", default=[], metavar="FILE",
                   help="the run keys listed in FILE (repeatable): a CSV with a run_key column, "
                        "e.g. benchmarks/results/reproduce_table.csv (rows whose status is not "
                        "done are skipped), or one key per line")
    e.add_argument("--preset-grid", default=None, metavar="NAME",
                   help="the runs of a grid of `deepad sweep --list-grids` (matched by its "
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


def _keys_in(path: str) -> list[str]:
    """Run keys listed in a file: a CSV with a run_key column (rows with a status other than
    done skipped) or one key per line."""
    import csv
    try:
        with open(path, newline="") as f:
            text = f.read()
    except OSError as e:
        raise DeepadError(f"--runs-from {path}: cannot read it ({e.strerror}); give a CSV with a "
                          f"run_key column or a file of run keys, one per line") from None
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    if lines and "run_key" in lines[0].split(","):
        rows = csv.DictReader(lines)
        keys = [r["run_key"] for r in rows if r.get("status", "done") in ("done", "", None)]
    else:
        keys = lines
    bad = [k for k in keys if not (len(k) == 16 and all(c in "0123456789abcdef" for c in k))]
    if bad:
        raise DeepadError(f"--runs-from {path}: '{bad[0][:40]}' is not a run key (16 hex digits); "
                          f"give a CSV with a run_key column or one key per line")
    return list(dict.fromkeys(keys))


def _preset_rows(rows: list, name: str) -> list:
    from ..grids import GRID_FIELDS, presets
    ps = presets()
    if name not in ps:
        raise DeepadError(f"unknown preset grid '{name}'; see `python -m deepad sweep "
                          f"--list-grids`")
    spec = ps[name]
    from ..data.sources import canonical_name

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
    from .. import bundle
    if a.bundle_cmd == "info":
        info = bundle.open_bundle(a.path).info()
        if a.json:
            print(json.dumps(info), file=stdout())
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
                  file=stdout())
        else:
            print(f"imported {len(res['imported'])} run(s) from {a.path}; {len(res['present'])} "
                  f"already stored with the same metrics; {len(res['conflicts'])} conflict(s)")
        for c in res["conflicts"]:
            print(f"conflict: run {c['key']} is stored here with AUROC {c['local_auroc']:.6f}, the "
                  f"bundle has {c['bundle_auroc']:.6f}; kept the local run (delete it to take the "
                  f"bundle's)", file=sys.stderr)
        return 0
    from ..store import RunStore
    store = RunStore()
    rows = store.query()
    filters = _filters(a)
    chosen = {}
    listed = list(a.run) + [k for path in a.runs_from for k in _keys_in(path)]
    if filters or not (listed or a.preset_grid):
        chosen.update((r["key"], r) for r in rows if _matches(r, filters))
    if a.preset_grid:
        chosen.update((r["key"], r) for r in _preset_rows(rows, a.preset_grid)
                      if _matches(r, filters))
    runs = []
    for key in chosen:
        run = store.get(key)
        if run is not None:
            runs.append(run)
    for key in dict.fromkeys(listed):
        run = store.get(key.strip())
        if run is None:
            raise DeepadError(f"no stored run {key}; see `python -m deepad runs` for the keys")
        if run.key not in {r.key for r in runs}:
            runs.append(run)
    summary = bundle.export(a.out, runs, weights=a.weights, scores=a.scores)
    if a.json:
        print(json.dumps(summary), file=stdout())
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


def cmd_runs(a) -> int:
    from ..data.sources import canonical_name
    from ..store import RunStore
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
                          for r in rows]), file=stdout())
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
