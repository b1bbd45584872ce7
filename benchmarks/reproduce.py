"""Reproduce the paper's CIFAR-10 and MNIST experiments on this machine, with the shared data.

    DEEPAD_DATA=../shared/data python benchmarks/reproduce.py --stage STAGE[,STAGE]|all
        [--epochs N] [--seeds 1,2] [--classes 0-9] [--methods hsc,bce] [--oe POOL] [--workers 1]
        [--oe-sizes 1,2,...,all] [--sigmas 0,1,...] [--full-class 0]
        [--report-only] [--dry-run] [--results benchmarks/results] [--into BENCHMARKS.md]

Stages (paper-protocol.md sections 6-9; the substitutes are those of ../shared/data/README.md):

  table     CIFAR-10 one-vs-rest, every class, HSC, Deep SAD, BCE, focal and Deep SVDD, OE = the
            Tiny-ImageNet validation images (standing in for 80 Million Tiny Images); per-class
            and mean AUROC beside the paper's table (section 9.0), the ordering and the target check.
  oe-sizes  HSC and BCE on CIFAR-10 classes 0,1,2 with 1, 2, 4, ..., 1024 and all OE images:
            the curve and the '32 OE samples are enough' check (AUROC at 32 vs all).
  blur      HSC and BCE on the same classes with 128 OE images blurred with sigma 0..32: the curve
            and whether AUROC falls as the OE loses its fine scales.
  mnist     MNIST, every digit, the table's methods, with the Tiny-ImageNet photos (converted to
            28x28 grayscale) and with uniform-noise OE; EMNIST letters (the paper's OE) are not
            available here.
  full      one CIFAR-10 class, HSC, the paper's budget (--budget paper: 200 epochs) next to the
            same run at the quick budget.
  pools     HSC and BCE, every CIFAR-10 class, quick budget, seed 1: the 10,000-image
            validation pool against the 100,000-image training pool at 32 px (the pool hypothesis).
  oe-enough on the 100,000-image pool, classes 0,1,2: 32 OE samples shown as the paper shows
            them, once per step, and without OE augmentation, each against all samples.
            (pools and oe-enough: see reproduce_pools.py.)

Every run goes through the run store (deepad.store.RunStore, DEEPAD_CACHE): a rerun trains only
what is missing, and --report-only trains nothing. For each stage the script writes, under
--results: reproduce_<stage>.csv (one row per run of the grid, with its run key), a PNG for the
curve stages, and reproduce_<stage>.md (a Markdown section for BENCHMARKS.md). Every check in the
Markdown is computed from the runs. --into FILE also puts each stage's Markdown (headings one
level down, image links made relative to FILE) into FILE between the lines
`<!-- reproduce:PATH -->` and `<!-- /reproduce:PATH -->`, PATH being the .md file relative to
FILE's folder (e.g. benchmarks/results/reproduce_table.md); the text around them is kept.

Exit codes: 0 the stages ran (even when a target is missed: the Markdown says so), 1 some runs
failed, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # the sibling modules reproduce_*.py

from deepad.errors import DeepadError  # noqa: E402
from deepad.estimate import estimate  # noqa: E402
from deepad.executors import run_sweep  # noqa: E402
from deepad.parsing import parse_ints, parse_method_params  # noqa: E402
from deepad.store import RunStore  # noqa: E402

from reproduce_full import curve_epochs  # noqa: E402, F401 - reached as reproduce.curve_epochs
from reproduce_full import other_curves, plot_full_curve, read_curve, train_full  # noqa: E402
from reproduce_plan import (  # noqa: E402
    ALL,
    BLUR_OE_SIZE,
    CURVE_CSV,
    STAGES,
    Plan,
    natural_pool,
    plan_stage,
    pool_label,
    status_counts,
    store_rows,
    write_csv,
)
from reproduce_pools import plan_enough, plan_pools, report_enough, report_pools  # noqa: E402
from reproduce_report import (  # noqa: E402
    _curve_stats,
    plot_curves,
    report_blur,
    report_full,
    report_mnist,
    report_oe_sizes,
    report_table,
)


class _Parser(argparse.ArgumentParser):
    """Bad input: one line on stderr, exit code 2."""

    def error(self, message):
        self.exit(2, f"error: {message}; see `python benchmarks/reproduce.py --help`\n")


def parse_args(argv):
    ap = _Parser(prog="benchmarks/reproduce.py", description=__doc__.split("\n\n")[0],
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", required=True,
                    help=f"one of {', '.join(STAGES)} or all (= {','.join(ALL)}); a comma list "
                         f"runs several in turn")
    ap.add_argument("--epochs", default=None,
                    help="training epochs of every run (default: the quick preset's budget, per "
                         "method and data set: CIFAR-10 25, MNIST 10, Deep SVDD 20 + 20 "
                         "pretraining); the full stage always trains the paper's budget")
    ap.add_argument("--seeds", default="1,2", help="seeds, e.g. 1,2 or 1-5 (default 1,2)")
    ap.add_argument("--classes", default=None,
                    help="nominal classes (default: all 10 for table and mnist, 0,1,2 for "
                         "oe-sizes and blur)")
    ap.add_argument("--methods", default=None,
                    help="methods of every stage (default: hsc,deep-sad,bce,focal,deep-svdd for "
                         "table and mnist; hsc,bce for oe-sizes and blur; hsc for full)")
    ap.add_argument("--oe", default=None,
                    help="the natural-image OE pool (default: folder:$DEEPAD_DATA/"
                         "tiny-imagenet-200-val/images); the mnist stage also runs noise-uniform")
    ap.add_argument("--oe-sizes", default=None,
                    help="OE sizes of the oe-sizes stage (default 1,2,4,...,1024,all)")
    ap.add_argument("--sigmas", default=None, help="blur sigmas of the blur stage (default 0,1,2,4,8,16,32)")
    ap.add_argument("--oe-jpeg", default="auto", metavar="QUALITY|auto|none",
                    help="make the natural OE images as a JPEG copy is made (RunConfig.oe_jpeg). "
                         "auto (default): the quality the nominal data are stored at, found from "
                         "their JPEG tables (the cifar10-jpg copy: 75), none for lossless data")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a method parameter for every run that takes it (repeatable), e.g. "
                         "pretrain_epochs=5 to shorten Deep SVDD's autoencoder pretraining; "
                         "`python -m deepad methods` lists them")
    ap.add_argument("--full-class", default="0", help="the class of the full stage (default 0, airplane)")
    ap.add_argument("--workers", default="1",
                    help="local worker processes (default 1; each gets cores/workers threads)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    ap.add_argument("--report-only", action="store_true",
                    help="train nothing: write the CSVs, plots and Markdown from the stored runs")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the number of runs per stage and how many are stored; write nothing")
    ap.add_argument("--results", default="benchmarks/results", help="output folder (default benchmarks/results)")
    ap.add_argument("--into", metavar="FILE",
                    help="also put each stage's Markdown into FILE (e.g. BENCHMARKS.md) between "
                         "<!-- reproduce:PATH --> and <!-- /reproduce:PATH --> marker lines, PATH "
                         "being the .md relative to FILE's folder; other text is kept")
    # for the tests: another nominal data set (e.g. the bundled 'digits') in every stage
    ap.add_argument("--dataset", default=None, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


REPORTS = {"table": report_table, "oe-sizes": report_oe_sizes, "blur": report_blur,
           "mnist": report_mnist, "full": report_full, "pools": report_pools,
           "oe-enough": report_enough}


def plan_of(stage: str, a) -> Plan:
    if stage == "pools":
        return plan_pools(a, a.dataset or "cifar10")
    if stage == "oe-enough":
        return plan_enough(a, a.dataset or "cifar10")
    return plan_stage(stage, a)


# ------------------------------------------------------------------ running

def sweep(plan: Plan, store: RunStore, workers: int, device: str) -> list:
    configs = plan.configs
    total = len(configs)
    counts = {"trained": 0, "cached": 0, "failed": 0}
    t0 = time.perf_counter()

    def on_outcome(o):
        counts[o.status] += 1
        left = total - sum(counts.values())
        what = (f"AUROC {o.auroc:.4f}" if o.auroc is not None else f"error: {o.error}")
        eta = ""
        if counts["trained"] and left:
            per = (time.perf_counter() - t0) / counts["trained"]
            eta = f", about {per * left / 60:.0f} min left"
        print(f"[{plan.stage}] {sum(counts.values())}/{total}: done {counts['trained']}, cached "
              f"{counts['cached']}, failed {counts['failed']}, left {left} | {o.key} {o.status} "
              f"{what}" + (f" in {o.seconds:.0f} s" if o.status != "cached" else "") + eta,
              file=sys.stderr, flush=True)
    return run_sweep(configs, executor="local", workers=workers, device=device, store=store,
                     on_outcome=on_outcome)


def embed(md: str, md_path: Path, into: Path) -> str:
    """A stage's Markdown as it goes into `into`: headings one level down (outside code fences),
    image links relative to `into`'s folder."""
    rel = Path(os.path.relpath(md_path.parent.resolve(), into.parent.resolve()))
    out, fenced = [], False
    for line in md.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            line = "#" + line
        elif not fenced and line.startswith("!["):
            alt, _, target = line.partition("](")
            if "://" not in target and not target.startswith("/"):
                line = f"{alt}]({(rel / target).as_posix()}"
        out.append(line)
    return "\n".join(out).strip() + "\n"


def marker_name(md_path: Path, into: Path) -> str:
    return os.path.relpath(md_path.resolve(), into.parent.resolve()).replace(os.sep, "/")


def put_into(into: Path, sections: dict[str, str]) -> list[str]:
    """Replace the text between each section's marker lines in `into` (written atomically).
    Returns the names whose markers are missing; nothing is written if any is missing."""
    text = into.read_text()
    missing = []
    for name, body in sections.items():
        start, end = f"<!-- reproduce:{name} -->", f"<!-- /reproduce:{name} -->"
        i, j = text.find(start), text.find(end)
        if i < 0 or j < i:
            missing.append(name)
            continue
        text = text[:i + len(start)] + "\n\n" + body + "\n" + text[j:]
    if not missing:
        tmp = into.with_name(f".{into.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, into)
    return missing


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parse_args(argv)
    a.argv = argv
    try:
        stages = [s.strip() for s in a.stage.split(",") if s.strip()]
        if "all" in stages:
            stages = [s for s in stages if s != "all"] + list(ALL)
        bad = [s for s in stages if s not in STAGES]
        if bad or not stages:
            raise DeepadError(f"unknown stage '{','.join(bad) or a.stage}'; choose from "
                              f"{', '.join(STAGES)} or all (= {','.join(ALL)}; comma list allowed)")
        stages = list(dict.fromkeys(stages))
        a.epochs_int = None
        if a.epochs is not None:
            try:
                a.epochs_int = int(a.epochs)
                assert a.epochs_int >= 1
            except (ValueError, AssertionError):
                raise DeepadError(f"--epochs must be a positive integer, got '{a.epochs}'") from None
        try:
            workers = int(a.workers)
            assert workers >= 1
        except (ValueError, AssertionError):
            raise DeepadError(f"--workers must be a positive integer, got '{a.workers}'") from None
        if a.report_only and a.dry_run:
            raise DeepadError("--report-only and --dry-run exclude each other; give one")
        a.seed_list = parse_ints(a.seeds, name="seeds")
        a.method_params = parse_method_params(a.param)
        from deepad.methods import REGISTRY
        unknown = [k for k in a.method_params if not any(k in m.params for m in REGISTRY.values())]
        if unknown:
            raise DeepadError(f"no method takes the parameter(s) {unknown}; see `python -m deepad "
                              f"methods` for each method's parameters")
        if a.oe_jpeg not in ("auto", "none") and not (a.oe_jpeg.isdigit() and 1 <= int(a.oe_jpeg) <= 95):
            raise DeepadError(f"--oe-jpeg takes a JPEG quality 1..95, auto or none; got '{a.oe_jpeg}'")
        plans = [plan_of(s, a) for s in stages]
        if a.into and not Path(a.into).is_file():
            raise DeepadError(f"--into {a.into}: no such file; give an existing Markdown file "
                              f"with <!-- reproduce:PATH --> marker lines")
    except DeepadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    store = RunStore()
    if a.dry_run:
        stored_rows = store.query() if (store.db_path.exists() or store.runs.exists()) else []
        seen = {}
        for p in plans:
            cs = p.configs
            cached = sum(1 for c in cs if c.key in store)
            todo = [c for c in cs if c.key not in store]
            est = f"; {estimate(todo, stored_rows).text()}" if todo else ""
            epochs = sorted({(c.method, c.epochs) for c in cs})
            print(f"{p.stage:9} {len(cs):5} runs, {cached:5} cached, {len(todo):5} to train{est}  "
                  f"[epochs: {', '.join(f'{m} {e}' for m, e in epochs)}]")
            for c in cs:
                seen[c.key] = c
        if len(plans) > 1:
            cached = sum(1 for k in seen if k in store)
            todo = [c for k, c in seen.items() if k not in store]
            print(f"{'all':9} {len(seen):5} distinct runs (stages share some), {cached:5} cached, "
                  f"{len(todo):5} to train" + (f"; {estimate(todo, stored_rows).text()}" if todo
                                               else ""))
        return 0

    results = Path(a.results)
    try:
        results.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"error: cannot create {results} ({e.strerror}); give a writable --results", file=sys.stderr)
        return 2
    any_failed = False
    sections = {}
    for p in plans:
        t0 = time.perf_counter()
        if not a.report_only:
            print(f"[{p.stage}] {len(p.configs)} runs ({sum(1 for c in p.configs if c.key in store)} "
                  f"stored); {workers} worker(s)", file=sys.stderr, flush=True)
            if p.stage == "full":  # in this process, with the learning curve
                errors = train_full(p, store, a.device, results / CURVE_CSV)
                for e in errors:
                    print(f"[full] failed: {e}", file=sys.stderr)
                any_failed |= bool(errors)
            else:
                try:
                    outcomes = sweep(p, store, workers, a.device)
                except DeepadError as e:
                    print(f"error: {e}", file=sys.stderr)
                    return e.exit_code
                failed = [o for o in outcomes if o.status == "failed"]
                for o in failed:
                    print(f"[{p.stage}] failed: {o.key}: {o.error}", file=sys.stderr)
                any_failed |= bool(failed)
        got = store_rows(store, p.configs)
        stem = f"reproduce_{p.stage}"
        p.extra["csv_name"] = f"{stem}.csv"
        p.extra["png_name"] = f"{stem}.png"
        write_csv(results / f"{stem}.csv", p.configs, got)
        if p.stage == "oe-sizes":
            plot_curves(_curve_stats(p, got, "oe_size"), results / f"{stem}.png",
                        "OE samples (log scale; 'all' = the whole pool)",
                        f"{p.dataset}: AUROC vs number of OE samples ({pool_label(natural_pool(a))})")
        elif p.stage == "blur":
            plot_curves(_curve_stats(p, got, "blur_sigma"), results / f"{stem}.png",
                        "blur sigma of the OE images (pixels, log scale; 0 = unblurred)",
                        f"{p.dataset}: AUROC vs OE blur, {BLUR_OE_SIZE} OE images")
        if p.stage == "full":
            every = read_curve(results / CURVE_CSV)
            p.extra["curve"] = [r for r in every if r["run_key"] in {c.key for c in p.configs}]
            p.extra["other_curves"] = other_curves(p, every, store)
            p.extra["curve_all"] = every
            if p.extra["curve"]:
                plot_full_curve(p, every, results / f"{stem}.png", p.extra["other_curves"])
        md, _ = REPORTS[p.stage](p, a, got)
        (results / f"{stem}.md").write_text(md)
        if a.into:
            sections[marker_name(results / f"{stem}.md", Path(a.into))] = embed(
                md, results / f"{stem}.md", Path(a.into))
        n = status_counts(p.configs, got)
        print(f"[{p.stage}] wrote {results / stem}.csv/.md{'/.png' if p.stage in ('oe-sizes', 'blur') or p.extra.get('curve') else ''}: "
              f"{n['done']} runs stored, {n['missing']} missing, {n['failed']} failed "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    if sections:
        missing = put_into(Path(a.into), sections)
        if missing:
            print("error: " + a.into + " lacks the marker lines of "
                  + ", ".join(missing) + "; add `<!-- reproduce:PATH -->` and `<!-- /reproduce:PATH -->` "
                  "where each section should go (nothing was changed in it)", file=sys.stderr)
            return 2
        print(f"updated {a.into}: {', '.join(sections)}", file=sys.stderr)
    return 1 if any_failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; finished runs are in the store, rerun the same command to go on",
              file=sys.stderr)
        sys.exit(130)
