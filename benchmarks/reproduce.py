"""Reproduce the paper's CIFAR-10 and MNIST experiments on this machine, with the shared data.

    DEEPAD_DATA=../shared/data python benchmarks/reproduce.py --stage table|oe-sizes|blur|mnist|full|all
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
  full      one CIFAR-10 class, HSC, the paper's budget (--preset paper: 200 epochs) next to the
            same run at the quick budget.

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
import csv
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from deepad import analysis, claims  # noqa: E402
from deepad.data import sources  # noqa: E402
from deepad.errors import DeepadError  # noqa: E402
from deepad.estimate import estimate  # noqa: E402
from deepad.executors import run_sweep  # noqa: E402
from deepad.grids import Grid  # noqa: E402
from deepad.methods import info as method_info  # noqa: E402
from deepad.parsing import parse_floats, parse_ints, parse_method_params  # noqa: E402
from deepad.store import RunStore  # noqa: E402

STAGES = ("table", "oe-sizes", "blur", "mnist", "full")
TABLE_METHODS = ["hsc", "deep-sad", "bce", "focal", "deep-svdd"]
CURVE_METHODS = ["hsc", "bce"]
OE_SIZES = [2 ** i for i in range(11)] + ["all"]  # 1, 2, 4, ..., 1024, all
SIGMAS = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
BLUR_OE_SIZE = 128  # the paper's CIFAR-10 blur runs (paper-protocol.md 7.1)
CURVE_CLASSES = [0, 1, 2]
NOISE_OE = "noise-uniform"

# The checks and their thresholds are deepad.claims' (the dashboard's Claims page uses the same).
TARGET_METHODS = ("hsc", "bce")   # means within claims.TARGET_POINTS of the paper's (95.9 / 96.1)
ENOUGH_AT = 32                    # 'about 32 OE samples are enough' (claims.enough_check)

CURVE_CSV = "reproduce_full_curve.csv"
CSV_COLUMNS = ["run_key", "dataset", "method", "normal_class", "oe", "oe_size", "blur_sigma", "seed",
               "epochs", "auroc", "train_seconds", "status"]


class _Parser(argparse.ArgumentParser):
    """Bad input: one line on stderr, exit code 2."""

    def error(self, message):
        self.exit(2, f"error: {message}; see `python benchmarks/reproduce.py --help`\n")


def parse_args(argv):
    ap = _Parser(prog="benchmarks/reproduce.py", description=__doc__.split("\n\n")[0],
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", required=True,
                    help=f"one of {', '.join(STAGES)} or all; a comma list runs several in turn")
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


# ------------------------------------------------------------------ plans

@dataclass
class Plan:
    """One stage: its configs, grouped (e.g. by OE pool), and what the report needs to know."""

    stage: str
    dataset: str
    methods: list
    classes: list
    seeds: list
    groups: dict = field(default_factory=dict)  # label -> [RunConfig]
    notes: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def configs(self):
        return list({c.key: c for cs in self.groups.values() for c in cs}.values())


def natural_pool(a) -> str:
    if a.oe:
        return sources.canonical_name(a.oe)
    return sources.canonical_name(f"folder:{sources.data_root() / 'tiny-imagenet-200-val' / 'images'}")


def pool_label(oe: str) -> str:
    if oe == "none":
        return "none"
    if oe.rstrip("/").endswith("tiny-imagenet-200-val/images"):
        return "Tiny-ImageNet-200 val (10,000 photos)"
    return oe


def _methods(a, default):
    if a.methods is None:
        return list(default)
    out = [m.strip() for m in a.methods.split(",") if m.strip()]
    if not out:
        raise DeepadError("--methods is empty; give e.g. hsc,bce")
    return list(dict.fromkeys(out))


def _classes(a, default):
    return default if a.classes is None else parse_ints(a.classes, name="classes", allow_all=True)


def oe_jpeg_for(a, dataset: str, oe: str) -> int | None:
    """The OE JPEG quality of a stage's runs: --oe-jpeg; auto = the quality the nominal data are
    stored at (sources.jpeg_quality: 75 for the cifar10-jpg copy, none for lossless data such as
    MNIST or the CIFAR-10 pickles), for natural (not noise) OE."""
    if oe == "none" or oe.startswith("noise"):
        return None
    return sources.oe_jpeg_setting(a.oe_jpeg, dataset, oe)


def _params(a, methods) -> dict:
    """The --param values that some of these methods take (a stage without such a method, e.g.
    `full` with HSC only, ignores the others; main checks that every name fits some method)."""
    from deepad.methods import REGISTRY
    return {k: v for k, v in a.method_params.items()
            if any(k in REGISTRY[m].params for m in methods if m in REGISTRY)}


def _grid(dataset, oe, a, **kw):
    return Grid(dataset=dataset, oe=oe, epochs=a.epochs_int, method_params=_params(a, kw["method"]),
                oe_jpeg=oe_jpeg_for(a, dataset, oe), **kw)


def plan_stage(stage: str, a) -> Plan:
    cifar = a.dataset or "cifar10"
    seeds = a.seed_list
    oe = natural_pool(a)
    if stage == "table":
        p = Plan(stage, cifar, _methods(a, TABLE_METHODS), _classes(a, ["all"]), seeds)
        p.groups[oe] = _grid(cifar, oe, a, normal_class=p.classes, method=p.methods,
                             seed=seeds).configs(p.notes)
    elif stage in ("oe-sizes", "blur"):
        p = Plan(stage, cifar, _methods(a, CURVE_METHODS), _classes(a, CURVE_CLASSES), seeds)
        if stage == "oe-sizes":
            sizes = OE_SIZES if a.oe_sizes is None else parse_ints(a.oe_sizes, name="oe-sizes",
                                                                    allow_all=True)
            p.groups[oe] = _grid(cifar, oe, a, normal_class=p.classes, method=p.methods,
                                 oe_size=sizes, seed=seeds).configs(p.notes)
        else:
            sigmas = SIGMAS if a.sigmas is None else parse_floats(a.sigmas, name="sigmas")
            p.groups[oe] = _grid(cifar, oe, a, normal_class=p.classes, method=p.methods,
                                 oe_size=[BLUR_OE_SIZE], blur_sigma=sigmas, seed=seeds).configs(p.notes)
    elif stage == "mnist":
        mnist = a.dataset or "mnist"
        p = Plan(stage, mnist, _methods(a, TABLE_METHODS), _classes(a, ["all"]), seeds)
        for pool in (oe, NOISE_OE):
            p.groups[pool] = _grid(mnist, pool, a, normal_class=p.classes, method=p.methods,
                                   seed=seeds).configs(p.notes)
    elif stage == "full":
        k = parse_ints(a.full_class, name="full-class")
        if len(k) != 1:
            raise DeepadError("--full-class takes one class, e.g. 0")
        p = Plan(stage, cifar, _methods(a, ["hsc"]), k, seeds[:1])
        p.groups["paper"] = Grid(dataset=cifar, oe=oe, normal_class=k, method=p.methods,
                                 seed=seeds[:1], preset="paper", method_params=_params(a, p.methods),
                                 oe_jpeg=oe_jpeg_for(a, cifar, oe)).configs(p.notes)
        p.groups["quick"] = _grid(cifar, oe, a, normal_class=k, method=p.methods,
                                  seed=seeds[:1]).configs(p.notes)
    else:  # pragma: no cover - checked in main
        raise DeepadError(f"unknown stage '{stage}'")
    return p


# ------------------------------------------------------------------ rows from the store

def store_rows(store: RunStore, configs) -> dict:
    """{key: {'status': done|failed|missing, 'auroc', 'train_seconds'}} for the configs."""
    index = {}
    if store.db_path.exists() or store.runs.exists():
        index = {r["key"]: r for r in store.query(status=None)}
    out = {}
    for c in configs:
        r = index.get(c.key)
        if c.key in store and r is not None and r["status"] == "done" and r["auroc"] is not None:
            out[c.key] = {"status": "done", "auroc": r["auroc"], "train_seconds": r["train_seconds"]}
        elif c.key in store:  # stored, not (yet) in the index: read the run itself
            run = store.get(c.key, repair=False)
            if run is not None:
                out[c.key] = {"status": "done", "auroc": run.metrics["auroc"],
                              "train_seconds": run.metrics.get("train_seconds")}
            else:
                out[c.key] = {"status": "missing", "auroc": None, "train_seconds": None}
        elif r is not None and r["status"] == "failed":
            out[c.key] = {"status": "failed", "auroc": None, "train_seconds": None,
                          "error": r.get("error")}
        else:
            out[c.key] = {"status": "missing", "auroc": None, "train_seconds": None}
    return out


def index_rows(configs, got: dict) -> list[dict]:
    """Index-row-like dicts (as analysis.* takes them) of the stored runs among the configs."""
    out = []
    for c in configs:
        g = got[c.key]
        if g["status"] == "done":
            out.append({**c.to_dict(), "key": c.key, "auroc": g["auroc"],
                        "train_seconds": g["train_seconds"]})
    return out


def write_csv(path: Path, configs, got: dict) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for c in configs:
            g = got[c.key]
            w.writerow([c.key, c.dataset, c.method, c.normal_class, c.oe,
                        "all" if c.oe_size is None else c.oe_size, f"{c.blur_sigma:g}", c.seed,
                        c.epochs, "" if g["auroc"] is None else f"{g['auroc']:.6f}",
                        "" if g["train_seconds"] is None else f"{g['train_seconds']:.1f}",
                        g["status"]])


# ------------------------------------------------------------------ formatting helpers

def pct(v, d=1) -> str:
    return "missing" if v is None or not np.isfinite(v) else f"{v:.{d}f}"


def signed(v, d=1) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:+.{d}f}"


def title(m: str) -> str:
    try:
        return method_info(m).title
    except Exception:  # noqa: BLE001 - an unknown name is shown as given
        return m


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def budget_text(plan: Plan) -> str:
    """The epochs of the stage's runs, per method, as trained."""
    per = {}
    for label, cs in plan.groups.items():
        for c in cs:
            desc = f"{c.epochs} epoch{'s' if c.epochs != 1 else ''}"
            if dict(c.method_params).get("pretrain_epochs") and dict(c.method_params).get("pretrain"):
                pe = dict(c.method_params)["pretrain_epochs"]
                desc += f" + {'the paper' + chr(39) + 's' if pe < 0 else int(pe)} autoencoder pretraining epochs"
            if c.milestones:
                desc += f" (LR x0.1 at {', '.join(map(str, c.milestones))})"
            key = (label if plan.stage == "full" else None, c.method)
            per.setdefault(key, set()).add(desc)
    parts = []
    for (label, m), descs in per.items():
        parts.append(f"{title(m)}{' (' + label + ')' if label else ''}: {'; '.join(sorted(descs))}")
    return "; ".join(parts)


def status_counts(configs, got) -> dict:
    counts = {"done": 0, "missing": 0, "failed": 0}
    for c in configs:
        counts[got[c.key]["status"]] += 1
    return counts


def header(plan: Plan, a, got, heading: str) -> list[str]:
    cs = plan.configs
    n = status_counts(cs, got)
    secs = [got[c.key]["train_seconds"] for c in cs if got[c.key]["train_seconds"] is not None]
    cmd = "python benchmarks/reproduce.py " + shlex.join(a.argv)
    lines = [f"### {heading}", "",
             "```bash", f"DEEPAD_DATA={os.environ.get('DEEPAD_DATA', 'cache/data')} {cmd}", "```", ""]
    if a.report_only:
        lines += ["(Built with --report-only from the runs in the store; the same command without "
                  "it trains the missing runs.)", ""]
    lines += [f"- Budget: {budget_text(plan)}; "
              f"{'the quick preset' if a.epochs_int is None else f'set by --epochs {a.epochs_int}'}"
              f"{' (paper preset for the full-protocol run)' if plan.stage == 'full' else ''}.",
              f"- Seeds: {', '.join(map(str, plan.seeds))}. Data: `{plan.dataset}`. OE: "
              + ", ".join(dict.fromkeys(pool_label(c.oe) + (f", re-encoded as JPEG quality {c.oe_jpeg} "
                                                              f"(the codec of the CIFAR-10 copy; "
                                                              f"--oe-jpeg)" if c.oe_jpeg else "")
                                        for c in cs if c.oe != "none")) + ".",
              f"- Runs: {len(cs)} in the grid, {n['done']} stored, {n['missing']} missing, "
              f"{n['failed']} failed; training time of the stored runs {sum(secs) / 3600:.2f} h "
              f"(sum of train_seconds). Run keys: `{plan.extra['csv_name']}`.", ""]
    for note in plan.notes:
        lines.append(f"- Note: {note}.")
    if plan.notes:
        lines.append("")
    return lines


# ------------------------------------------------------------------ stage reports

def class_names(dataset: str) -> list[str]:
    return list(sources.get(dataset).classes())


def per_class(rows, classes_idx, methods):
    """{method: {class: [aurocs %]}}."""
    out = {m: {k: [] for k in classes_idx} for m in methods}
    for r in rows:
        if r["method"] in out and r["normal_class"] in out[r["method"]]:
            out[r["method"]][r["normal_class"]].append(100 * r["auroc"])
    return out


def class_index(plan: Plan) -> list[int]:
    return sorted({c.normal_class for c in plan.configs})


def method_means(cells, classes_idx):
    """{method: (mean over classes of the per-class mean over seeds, classes with runs)}."""
    out = {}
    for m, per in cells.items():
        vals = [np.mean(per[k]) for k in classes_idx if per[k]]
        out[m] = (float(np.mean(vals)) if vals else float("nan"), len(vals))
    return out


def seed_means(rows, method, classes_idx, seeds):
    """Mean over classes per seed (only seeds with every class stored)."""
    out = {}
    for s in seeds:
        v = [100 * r["auroc"] for r in rows if r["method"] == method and r["seed"] == s]
        if len(v) == len(classes_idx):
            out[s] = float(np.mean(v))
    return out


def report_table(plan: Plan, a, got) -> tuple[str, dict]:
    rows = index_rows(plan.configs, got)
    names = class_names(plan.dataset)
    ks = class_index(plan)
    methods = plan.methods
    cells = per_class(rows, ks, methods)
    means = method_means(cells, ks)
    n_seeds = len(plan.seeds)
    paper_index = {c: i for i, c in enumerate(analysis.PAPER_CIFAR10["classes"])}
    head = ["class"]
    for m in methods:
        head += [title(m)] + (["paper", "diff"] if m in analysis.PAPER_CIFAR10 else [])
    body = []
    for k in ks:
        line = [names[k]]
        for m in methods:
            v = cells[m][k]
            mean = float(np.mean(v)) if v else float("nan")
            cell = pct(mean) + (f" ({len(v)}/{n_seeds} seeds)" if 0 < len(v) < n_seeds else "")
            line.append(cell)
            if m in analysis.PAPER_CIFAR10:
                ref = analysis.PAPER_CIFAR10[m][paper_index[names[k]]] if names[k] in paper_index else None
                line += [pct(ref) if ref is not None else "", signed(mean - ref) if ref is not None else ""]
        body.append(line)
    complete = len(ks) == 10 and names == analysis.PAPER_CIFAR10["classes"]
    mean_line = ["**mean**" + ("" if complete else f" (of {len(ks)} class{'es' if len(ks) != 1 else ''})")]
    for m in methods:
        mv, nk = means[m]
        mean_line.append(f"**{pct(mv)}**" + (f" ({nk}/{len(ks)} classes)" if nk < len(ks) else ""))
        if m in analysis.PAPER_CIFAR10:
            if complete:
                ref = analysis.PAPER_CIFAR10_MEAN[m]
            else:  # the paper's mean over the same classes
                refs = [analysis.PAPER_CIFAR10[m][paper_index[names[k]]] for k in ks
                        if names[k] in paper_index]
                ref = float(np.mean(refs)) if refs else None
            mean_line += [pct(ref) if ref is not None else "", signed(mv - ref) if ref is not None else ""]
    body.append(mean_line)

    checks = {}
    out = header(plan, a, got, "CIFAR-10 one-vs-rest table (`--stage table`)" if plan.dataset == "cifar10"
                 else f"One-vs-rest table on `{plan.dataset}` (`--stage table`)")
    out += ["AUROC in %, per class the mean over seeds; `diff` = ours - paper (paper-protocol.md "
            "section 9.0; the paper used 80 Million Tiny Images as OE and the original CIFAR-10 "
            "pixels, this uses Tiny-ImageNet validation photos and the JPEG copy).", "",
            md_table(head, body), ""]
    # seed spread of the means
    spread = []
    for m in methods:
        sm = seed_means(rows, m, ks, plan.seeds)
        if len(sm) > 1:
            spread.append(f"{title(m)} {', '.join(f'{v:.1f}' for v in sm.values())}")
    if spread:
        out += ["Mean over classes per seed (the seed-to-seed spread of the mean row): "
                + "; ".join(spread) + ".", ""]

    # the checks: deepad.claims, as on the dashboard's Claims page
    out.append("**Checks** (computed from the runs above with `deepad.claims`, the code behind the "
               "dashboard's Claims page):")
    out.append("")
    all_known = complete and all(means[m][1] == 10 for m in TARGET_METHODS if m in methods)
    known = {m: means[m][0] for m in TARGET_METHODS if m in methods}
    met, gaps = claims.published_check(known)
    tgt = [f"{title(m)} {pct(known[m])} vs {claims.PAPER_MEANS[m]} ({signed(g)})"
           + ("" if means[m][1] == 10 and complete else
              f" (on {means[m][1]} of 10 classes: provisional)") for m, g in gaps.items()]
    tgt += [f"{title(m)} not run" for m in TARGET_METHODS if m not in methods]
    for m, g in gaps.items():
        checks[f"target_{m}"] = abs(g) <= claims.TARGET_POINTS
    verdict = "met" if met and len(gaps) == len(TARGET_METHODS) else "not met"
    if not all_known or len(gaps) < len(TARGET_METHODS):
        verdict += " (provisional: not every class of the paper's table is stored)"
    checks["target"] = verdict
    out.append(f"- Target: HSC/BCE mean within {claims.TARGET_POINTS:g} points of 95.9/96.1: "
               f"**{verdict}** — " + "; ".join(tgt) + ".")

    have = {m: means[m][0] for m in methods if np.isfinite(means[m][0])}
    ours_rank = sorted(have, key=lambda m: -have[m])
    paper_rank = sorted([m for m in have if m in analysis.PAPER_CIFAR10_MEAN],
                        key=lambda m: -analysis.PAPER_CIFAR10_MEAN[m])
    out.append("- Ranking by mean AUROC: ours " + " > ".join(f"{title(m)} {have[m]:.1f}" for m in ours_rank)
               + "; paper " + " > ".join(f"{title(m)} {analysis.PAPER_CIFAR10_MEAN[m]}" for m in paper_rank) + ".")
    order, parts, unevaluated = claims.ordering_check(have)
    if order == claims.FAILS:
        checks["ordering"] = "does not hold"
    elif unevaluated:
        checks["ordering"] = f"holds as far as evaluated ({', '.join(unevaluated)} not evaluated)"
    else:
        checks["ordering"] = "holds"
    if not all_known:
        checks["ordering"] += " (provisional: not every class is stored)"
    out.append("- The paper's ordering, BCE ≈ HSC ≈ focal > Deep SAD >> Deep SVDD and the "
               f"unsupervised baselines: **{checks['ordering']}** — " + "; ".join(parts) + ".")
    missing = [c for c in plan.configs if got[c.key]["status"] != "done"]
    if missing:
        out.append(f"- Missing or failed runs: {len(missing)} (cells with fewer seeds are marked; "
                   f"`missing` = no run stored).")
    return "\n".join(out) + "\n", checks


def _curve_stats(plan: Plan, got, by: str):
    rows = index_rows(plan.configs, got)
    return analysis.grid_curves(plan.configs, rows, by=by)


def _paired(plan: Plan, got, by: str, series: str, xa, xb) -> tuple[float, float, int, int]:
    """Mean AUROC (%) of one method at `by` = xa and at xb over the (class, seed) pairs stored at
    both, so that a partly run curve compares like with like; with the number of those pairs and
    of the pairs in the grid. Means are NaN when no pair is stored at both."""
    at: dict = {}
    for c in plan.configs:
        x = analysis.point_x(c, by)
        if c.method != series or x not in (xa, xb):
            continue
        at.setdefault(x, {})
        if got[c.key]["status"] == "done":
            at[x][(c.normal_class, c.seed)] = 100 * got[c.key]["auroc"]
    pairs = {(c.normal_class, c.seed) for c in plan.configs if c.method == series}
    both = sorted(set(at.get(xa, {})) & set(at.get(xb, {})))
    if not both:
        return float("nan"), float("nan"), 0, len(pairs)
    return (float(np.mean([at[xa][k] for k in both])), float(np.mean([at[xb][k] for k in both])),
            len(both), len(pairs))


def _provisional(n: int, total: int) -> str:
    return "" if n >= total else f" (on the {n} of {total} class-seed pairs stored at both: provisional)"


def _curve_table(series, x_name) -> str:
    xs = []
    for s in series:
        for x in s["x"]:
            if x not in xs:
                xs.append(x)
    head = ["method"] + [f"{x_name} {analysis.x_label(x)}" for x in xs]
    body = []
    for s in series:
        at = {x: (m, sd, n, t) for x, m, sd, n, t in zip(s["x"], s["mean"], s["std"], s["n"], s["total"])}
        line = [s["name"]]
        for x in xs:
            if x not in at or at[x][2] == 0:
                line.append("missing")
                continue
            m, sd, n, t = at[x]
            line.append(f"{100 * m:.1f} ± {100 * sd:.1f}" + (f" ({n}/{t})" if n < t else ""))
        body.append(line)
    return md_table(head, body)


def plot_curves(series, path: Path, xlabel: str, title_text: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    placed, ticks = analysis.log_axis(series)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for i, s in enumerate(placed):
        pts = [(x, 100 * m, 100 * sd, lab) for x, m, sd, lab in zip(s["x"], s["mean"], s["std"], s["label"])
               if np.isfinite(m)]
        if not pts:
            continue
        colour = f"C{i}"
        num = [p for p in pts if p[3] != "all"]
        alls = [p for p in pts if p[3] == "all"]
        if num:
            x, m, sd = (np.array([p[k] for p in num]) for k in range(3))
            ax.plot(x, m, "o-", color=colour, label=s["name"])
            ax.fill_between(x, m - sd, m + sd, color=colour, alpha=0.18, linewidth=0)
        for x, m, sd, _ in alls:
            ax.errorbar([x], [m], yerr=[sd], fmt="s", color=colour, capsize=3,
                        label=None if num else s["name"])
            if num:
                ax.plot([num[-1][0], x], [num[-1][1], m], ":", color=colour)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(ticks))
    ax.set_xticklabels(list(ticks.values()))
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("AUROC (%), mean ± std over classes and seeds")
    ax.set_title(title_text, fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # nothing stored yet: an empty frame, no legend
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report_oe_sizes(plan: Plan, a, got) -> tuple[str, dict]:
    series = _curve_stats(plan, got, "oe_size")
    out = header(plan, a, got, f"Number of OE samples on {plan.dataset} (`--stage oe-sizes`)")
    names = class_names(plan.dataset)
    out += [f"Classes {', '.join(names[k] for k in class_index(plan))}. AUROC in %, mean ± std over "
            f"classes and seeds; (n/N) where only n of the N runs are stored.", "",
            _curve_table(series, "OE"), "",
            f"![AUROC vs number of OE samples]({plan.extra['png_name']})", "",
            "**Check** (computed from the runs above):", ""]
    checks = {}
    verdicts = []
    partial = False
    for s in series:
        have = {x: 100 * m for x, m in zip(s["x"], s["mean"]) if np.isfinite(m)}
        if "all" not in have:
            out.append(f"- {s['name']}: no stored runs with all OE images; not evaluated.")
            continue
        if ENOUGH_AT in have:
            x = ENOUGH_AT
        else:
            near = analysis.compare_at([s], at=ENOUGH_AT, ref="all")
            if not near:
                out.append(f"- {s['name']}: no stored OE size to compare with {ENOUGH_AT}; not evaluated.")
                continue
            x = near[0]["x"]
        m_x, m_all, n, total = _paired(plan, got, "oe_size", s["series"], x, "all")
        if not n:
            out.append(f"- {s['name']}: no class and seed stored with both {x} and all OE samples; "
                       f"not evaluated.")
            continue
        d = m_x - m_all
        ok = claims.enough_check(m_x, m_all)
        verdicts.append(ok)
        partial |= n < total or any(k < t for k, t in zip(s["n"], s["total"]))
        checks[s["series"]] = {"at": x, "at_mean": m_x, "all_mean": m_all, "holds": ok,
                               "pairs": n, "pairs_total": total}
        first = next((v for v in sorted(v for v in have if v != "all")
                      if all(claims.enough_check(have[w], have["all"])
                             for w in have if w != "all" and w >= v)), None)
        out.append(f"- {s['name']}: AUROC at {x} OE samples {m_x:.1f} vs all {m_all:.1f} "
                   f"({d:+.1f}): **{'holds' if ok else 'does not hold'}**{_provisional(n, total)}"
                   + (f"; from {first} samples on, the curve's means are at most "
                      f"{claims.ENOUGH_POINTS:g} points under 'all'" if first is not None else "")
                   + ".")
    overall = ("holds" if verdicts and all(verdicts) else
               "does not hold" if verdicts else "not evaluated")
    checks["verdict"] = overall
    out.insert(out.index("**Check** (computed from the runs above):") + 2,
               f"- 'About {ENOUGH_AT} OE samples are enough' (AUROC at {ENOUGH_AT} at most "
               f"{claims.ENOUGH_POINTS:g} points under AUROC with all): **{overall}**"
               + (" (provisional: not every run is stored)" if partial and verdicts else ""))
    return "\n".join(out) + "\n", checks


def report_blur(plan: Plan, a, got) -> tuple[str, dict]:
    series = _curve_stats(plan, got, "blur_sigma")
    out = header(plan, a, got, f"Blurred OE on {plan.dataset} (`--stage blur`)")
    names = class_names(plan.dataset)
    out += [f"Classes {', '.join(names[k] for k in class_index(plan))}; {BLUR_OE_SIZE} OE images "
            f"blurred with a Gaussian of std. deviation sigma (pixels, after resizing to the nominal "
            f"size; OE only, nominal and test images unblurred). AUROC in %, mean ± std over "
            f"classes and seeds.", "",
            _curve_table(series, "σ"), "",
            f"![AUROC vs blur sigma]({plan.extra['png_name']})", "",
            "**Check** (computed from the runs above):", ""]
    checks = {}
    for s in series:
        pts = [(x, 100 * m) for x, m in zip(s["x"], s["mean"]) if np.isfinite(m)]
        if len(pts) < 2:
            out.append(f"- {s['name']}: fewer than two stored sigmas; not evaluated.")
            continue
        x0, x1 = pts[0][0], pts[-1][0]
        m0, m1, n, total = _paired(plan, got, "blur_sigma", s["series"], x0, x1)
        if not n:
            out.append(f"- {s['name']}: no class and seed stored at both σ={x0:g} and σ={x1:g}; "
                       f"not evaluated.")
            continue
        rises = [(b[0], b[1] - a_[1]) for a_, b in zip(pts, pts[1:]) if b[1] > a_[1]]
        monotone = not rises
        falls = m1 < m0
        partial = n < total or any(k < t for k, t in zip(s["n"], s["total"]))
        checks[s["series"]] = {"first": m0, "last": m1, "falls": falls, "monotone": monotone,
                               "pairs": n, "pairs_total": total, "provisional": partial}
        destroys = claims.blur_check(m0, m1)
        checks[s["series"]]["destroys"] = destroys
        out.append(f"- {s['name']}: σ={x0:g} {m0:.1f} → σ={x1:g} {m1:.1f} ({m1 - m0:+.1f}): "
                   f"AUROC **{'falls' if falls else 'does not fall'}** as the OE loses its fine "
                   f"scales; by at least {claims.DESTROY_POINTS:g} points (the claim 'blurring "
                   f"destroys the benefit'): **{'holds' if destroys else 'does not hold'}**; "
                   f"monotone fall: **{'yes' if monotone else 'no'}**"
                   + ("" if monotone else " (rises at " + ", ".join(f"σ={x:g} by {d:.1f}" for x, d in rises) + ")")
                   + _provisional(n, total)
                   + (" (the curve's means mix classes and seeds: not every run is stored)"
                      if partial and n >= total else "") + ".")
    return "\n".join(out) + "\n", checks


EMNIST_NOTE = (
    "**EMNIST (expectation, not measurement).** The paper used EMNIST letters (124,800 handwritten "
    "letters, 26 classes) as the OE for MNIST; they are not available here, so this stage uses the "
    "Tiny-ImageNet photos converted to 28x28 grayscale, and uniform noise as a control. Letters are "
    "far closer to digits than either: the same pen strokes, stroke width, centring and black "
    "background. With photos or noise, a detector can separate nominal from OE by low-level "
    "statistics (background level, texture, pixel histogram) that every digit shares, so what it "
    "learns says little about one digit versus the others (which of the two pools does better "
    "depends on the method: see the measured means above). With letters the only way to tell the "
    "OE apart is the shape of the "
    "strokes, which is also what tells one digit from another, so we expect EMNIST OE to give "
    "higher AUROC than both pools here, for HSC and BCE alike, and a smaller gap between "
    "supervised (BCE) and unsupervised (HSC) OE (the paper reports no advantage of supervised OE "
    "on MNIST). Exceptions are likely for digits with letter look-alikes (0/O, 1/l/I, 2/Z, 5/S, "
    "8/B, 6/G, 9/g): there the OE contains near-copies of the nominal class, which could lower "
    "their AUROC below the photo-OE numbers. Deep SVDD uses no OE and would not change.")


def report_mnist(plan: Plan, a, got) -> tuple[str, dict]:
    rows_all = index_rows(plan.configs, got)
    names = class_names(plan.dataset)
    ks = class_index(plan)
    n_seeds = len(plan.seeds)
    out = header(plan, a, got, "MNIST one-vs-rest with substitute OE (`--stage mnist`)"
                 if plan.dataset == "mnist" else f"{plan.dataset} with two OE pools (`--stage mnist`)")
    out += ["AUROC in %, per digit the mean over seeds."
            + (" Deep SVDD uses no OE: its runs are the same in both tables."
               if "deep-svdd" in plan.methods else ""), ""]
    pools = list(plan.groups)
    summary = {}
    for pool in pools:
        keys = {c.key for c in plan.groups[pool]}
        rows = [r for r in rows_all if r["key"] in keys]
        cells = per_class(rows, ks, plan.methods)
        means = method_means(cells, ks)
        summary[pool] = means
        body = []
        for k in ks:
            line = [names[k]]
            for m in plan.methods:
                v = cells[m][k]
                line.append((pct(float(np.mean(v))) if v else "missing")
                            + (f" ({len(v)}/{n_seeds} seeds)" if 0 < len(v) < n_seeds else ""))
            body.append(line)
        body.append(["**mean**"] + [f"**{pct(means[m][0])}**" + (f" ({means[m][1]}/{len(ks)} digits)"
                                                                  if means[m][1] < len(ks) else "")
                                    for m in plan.methods])
        out += [f"OE: {pool_label(pool)}", "", md_table(["digit"] + [title(m) for m in plan.methods], body), ""]
    checks = {}
    if len(pools) == 2:
        p0, p1 = pools
        comp = []
        for m in plan.methods:
            if all(c.oe == "none" for c in plan.configs if c.method == m):
                continue  # no OE: the same runs in both tables
            a0, a1 = summary[p0][m][0], summary[p1][m][0]
            if np.isfinite(a0) and np.isfinite(a1):
                checks[m] = {"photos": a0, "noise": a1}
                comp.append(f"{title(m)} {a0:.1f} vs {a1:.1f} ({a0 - a1:+.1f})")
        if comp:
            out += [f"Mean AUROC with {pool_label(p0)} vs {pool_label(p1)} OE (measured): "
                    + "; ".join(comp) + ".", ""]
        if "hsc" in summary[p0] and "bce" in summary[p0]:
            gaps = [f"{pool_label(p)}: BCE - HSC {summary[p]['bce'][0] - summary[p]['hsc'][0]:+.1f}"
                    for p in pools if np.isfinite(summary[p]["bce"][0] - summary[p]["hsc"][0])]
            if gaps:
                nat = summary[p0]["bce"][0] - summary[p0]["hsc"][0]
                absent = claims.resolution_check({"mnist": nat}) if np.isfinite(nat) else None
                out += ["Supervised minus unsupervised OE (the paper: no advantage on MNIST with "
                        "EMNIST): " + "; ".join(gaps) + "."
                        + (f" 'No advantage on MNIST' (BCE - HSC at most {claims.ABSENT_POINTS:g} "
                           f"point with the natural-image OE, `deepad.claims`): "
                           f"**{'holds' if absent else 'does not hold'}**."
                           if absent is not None else ""), ""]
    out += [EMNIST_NOTE, ""]
    return "\n".join(out) + "\n", checks


def report_full(plan: Plan, a, got) -> tuple[str, dict]:
    names = class_names(plan.dataset)
    out = header(plan, a, got, "Full protocol vs quick budget (`--stage full`)")
    body = []
    res = {}
    for label in ("paper", "quick"):
        for c in plan.groups[label]:
            g = got[c.key]
            res[(label, c.method)] = g
            body.append([f"{label} ({c.epochs} epoch{'s' if c.epochs != 1 else ''})",
                         title(c.method), names[c.normal_class],
                         c.seed, pct(100 * g["auroc"]) if g["auroc"] is not None else g["status"],
                         f"{g['train_seconds'] / 60:.1f}" if g["train_seconds"] is not None else "",
                         f"`{c.key}`"])
    out += [md_table(["budget", "method", "class", "seed", "AUROC (%)", "training (min)", "run key"], body), ""]
    checks = {}
    for m in plan.methods:
        p, q = res.get(("paper", m)), res.get(("quick", m))
        if p and q and p["auroc"] is not None and q["auroc"] is not None:
            d = 100 * (p["auroc"] - q["auroc"])
            checks[m] = d
            ref = ""
            k = plan.classes[0]
            if m in analysis.PAPER_CIFAR10 and plan.dataset == "cifar10":
                ref = f" The paper's number for this class: {analysis.PAPER_CIFAR10[m][k]}."
            ratio = (p["train_seconds"] / q["train_seconds"]) if q["train_seconds"] else float("nan")
            out.append(f"- {title(m)}: the paper's budget gives {d:+.1f} points over the quick budget, "
                       f"at {ratio:.1f}x the training time.{ref}")
        else:
            out.append(f"- {title(m)}: not compared (a run is missing).")
    curve = plan.extra.get("curve") or []
    if curve:
        labels = {c.key: (label, c) for label in ("paper", "quick") for c in plan.groups[label]}
        cols = [k for k in labels if any(r["run_key"] == k for r in curve)]
        epochs = sorted({r["epoch"] for r in curve})
        at = {(r["run_key"], r["epoch"]): r for r in curve}
        rows = [[e] + [pct(100 * at[(k, e)]["auroc"]) if (k, e) in at else "" for k in cols]
                for e in epochs]
        out += ["", f"Test AUROC during training (`{CURVE_CSV}`, plot `{plan.extra['png_name']}`; "
                "recorded at these epochs, never used to choose anything):", "",
                md_table(["epoch"] + [f"{title(labels[k][1].method)}, {labels[k][0]} ({labels[k][1].epochs} "
                                      f"epochs) AUROC (%)" for k in cols], rows),
                "", f"![test AUROC during training]({plan.extra['png_name']})"]
        others = plan.extra.get("other_curves") or {}
        if others:
            last = {}
            for r in plan.extra.get("curve_all", []):
                if r["run_key"] in others and r["epoch"] >= last.get(r["run_key"], r)["epoch"]:
                    last[r["run_key"]] = r
            out += ["", "Also drawn (dashed), from the same CSV: " + "; ".join(
                f"{label} (`{key}`; AUROC at its last epoch {pct(100 * last[key]['auroc'])})"
                for key, label in others.items() if key in last) + "."]
    elif not a.dry_run:
        out += ["", f"(No learning curve in `{CURVE_CSV}` for these runs: it is recorded when the "
                "stage trains them.)"]
    return "\n".join(out) + "\n", checks


# ------------------------------------------------------------------ the full stage's learning curve

CURVE_COLUMNS = ["run_key", "budget", "epoch", "train_loss", "auroc"]


def curve_epochs(epochs: int) -> list[int]:
    """The epochs at which the full stage records test AUROC: 1, 2, 3, 5, then every 5 (every 10
    past 50), and the last."""
    at = {1, 2, 3, 5, epochs} | set(range(10, min(epochs, 50) + 1, 5)) | set(range(60, epochs + 1, 10))
    return sorted(e for e in at if 1 <= e <= epochs)


class TestCurve:
    """A training callback: the test AUROC at `curve_epochs`, recorded to show what the epochs
    buy; never used to choose anything. Its evaluation time is taken out of the run's
    train_seconds. For methods with a `finish` pass (e.g. GEOM's Dirichlet fit) the points are
    scored before that pass."""

    def __init__(self, cfg, budget: str):
        from deepad.experiments import build_task
        task = build_task(cfg)
        self.test, self.labels = task.test, task.test_labels
        self.at, self.budget, self.key = set(curve_epochs(cfg.epochs)), budget, cfg.key
        self.points, self.spent, self.t0 = [], 0.0, time.perf_counter()

    def on_fit_start(self, det, total_steps): ...

    def on_step_end(self, det, step, loss): ...

    def on_epoch_end(self, det, epoch, loss):
        if epoch not in self.at:
            return
        import torch

        from deepad import metrics
        t0 = time.perf_counter()
        with torch.no_grad():
            scores = det.score_samples(self.test)
        det.model_.train()  # score_samples switched to eval mode; training goes on
        self.spent += time.perf_counter() - t0
        auroc = metrics.auroc(self.labels, scores)
        self.points.append({"run_key": self.key, "budget": self.budget, "epoch": epoch,
                            "train_loss": float(loss), "auroc": float(auroc)})
        print(f"[full] {self.budget} run {self.key}: epoch {epoch}, loss {loss:.4f}, test AUROC "
              f"{auroc:.4f} ({(time.perf_counter() - self.t0) / 60:.1f} min)", file=sys.stderr, flush=True)

    def on_fit_end(self, det):
        det.train_seconds_ -= self.spent


def read_curve(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{**r, "epoch": int(r["epoch"]), "train_loss": float(r["train_loss"]),
                 "auroc": float(r["auroc"])} for r in csv.DictReader(f)]


def write_curve(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CURVE_COLUMNS)
        w.writeheader()
        for r in sorted(rows, key=lambda r: (r["budget"], r["run_key"], r["epoch"])):
            w.writerow({**r, "train_loss": f"{r['train_loss']:.6f}", "auroc": f"{r['auroc']:.6f}"})


def train_full(plan: Plan, store: RunStore, device: str, curve_path: Path) -> list[str]:
    """Train the full stage's missing runs in this process, recording their learning curves.
    Returns the errors."""
    from deepad.experiments import get_or_train
    errors = []
    for label in ("paper", "quick"):
        for c in plan.groups[label]:
            if c.key in store:
                print(f"[full] {label} run {c.key} is stored", file=sys.stderr, flush=True)
                continue
            print(f"[full] training the {label} run {c.key} ({c.epochs} epochs)", file=sys.stderr, flush=True)
            cb = TestCurve(c, label)
            try:
                res = get_or_train(c, callbacks=[cb], store=store, device=device)
            except DeepadError as e:  # RunFailed included: recorded in the store's index
                errors.append(f"{c.key}: {e}")
                continue
            if not res.cached:
                rows = [r for r in read_curve(curve_path) if r["run_key"] != c.key] + cb.points
                write_curve(curve_path, rows)
    return errors


def other_curves(plan: Plan, rows: list[dict], store: RunStore) -> dict:
    """{run key: label} of the curves in the CSV that are not this plan's runs but train the same
    method on the same class and data with another OE treatment (e.g. without --oe-jpeg)."""
    mine = {c.key for c in plan.configs}
    out = {}
    for key in dict.fromkeys(r["run_key"] for r in rows if r["run_key"] not in mine):
        run = store.get(key, repair=False)
        if run is None:
            continue
        c = run.config
        if (c.dataset, c.normal_class) == (plan.dataset, plan.classes[0]) and c.method in plan.methods:
            oe = "as decoded, no --oe-jpeg" if c.oe_jpeg is None else f"--oe-jpeg {c.oe_jpeg}"
            out[key] = f"{title(c.method)}, {c.epochs} epochs, OE {oe}"
    return out


def plot_full_curve(plan: Plan, rows: list[dict], path: Path, others: dict | None = None) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for j, (key, label) in enumerate((others or {}).items()):
        pts = sorted((r["epoch"], 100 * r["auroc"]) for r in rows if r["run_key"] == key)
        ax.plot(*zip(*pts), "s--", ms=3, color=f"C{j + 3}", alpha=0.8, label=label)
    for i, label in enumerate(("paper", "quick")):
        for c in plan.groups[label]:
            pts = sorted((r["epoch"], 100 * r["auroc"]) for r in rows if r["run_key"] == c.key)
            if pts:
                ax.plot(*zip(*pts), "o-", ms=3, color=f"C{i}",
                        label=f"{title(c.method)}, {label} budget ({c.epochs} epochs)")
            for m in c.milestones or ():
                ax.axvline(m, color=f"C{i}", ls=":", lw=0.8)
    k = plan.classes[0]
    for m in plan.methods:
        if plan.dataset == "cifar10" and m in analysis.PAPER_CIFAR10:
            ax.axhline(analysis.PAPER_CIFAR10[m][k], color="k", ls="--", lw=0.8,
                       label=f"the paper's {title(m)} ({analysis.PAPER_CIFAR10[m][k]})")
    ax.set_xscale("log")
    ax.set_xlabel("epoch (log scale; dotted: learning rate x0.1)")
    ax.set_ylabel("test AUROC (%)")
    ax.set_title(f"{plan.dataset} class {class_names(plan.dataset)[k]}: test AUROC during training",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


REPORTS = {"table": report_table, "oe-sizes": report_oe_sizes, "blur": report_blur,
           "mnist": report_mnist, "full": report_full}


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
            stages = list(STAGES)
        bad = [s for s in stages if s not in STAGES]
        if bad or not stages:
            raise DeepadError(f"unknown stage '{','.join(bad) or a.stage}'; choose from "
                              f"{', '.join(STAGES)} or all (comma list allowed)")
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
        plans = [plan_stage(s, a) for s in stages]
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
