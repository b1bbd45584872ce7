"""The reproduction's reports: the Markdown of each stage (tables, checks, the header with the
command and the budget) and the curve plots. Part of benchmarks/reproduce.py."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import numpy as np

from deepad import analysis, claims

from reproduce_plan import (
    BLUR_OE_SIZE,
    CURVE_CSV,
    ENOUGH_AT,
    TARGET_METHODS,
    Plan,
    budget_text,
    class_names,
    index_rows,
    pool_label,
    status_counts,
    title,
)


# ------------------------------------------------------------------ formatting helpers

def pct(v, d=1) -> str:
    return "missing" if v is None or not np.isfinite(v) else f"{v:.{d}f}"


def signed(v, d=1) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:+.{d}f}"


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


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
