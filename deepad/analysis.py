"""Aggregations over stored runs for curves and tables, and the paper's published numbers."""

from __future__ import annotations

import math

import numpy as np

from .heavy import lazy
from .methods import info as method_info
from .store import RunStore

pd = lazy("pandas")  # on first use: `deepad table` asks only seed_ci of this module

# paper-protocol.md section 9.0: CIFAR-10 one-vs-rest AUROC (%), OE = 80M Tiny Images.
PAPER_CIFAR10 = {
    "classes": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    "deep-sad": [94.2, 98.1, 89.8, 87.4, 95.0, 93.0, 96.9, 96.8, 97.1, 96.2],
    "hsc": [96.3, 98.7, 92.7, 89.8, 96.6, 94.2, 97.9, 97.6, 98.2, 97.4],
    "focal": [95.9, 98.7, 92.3, 88.8, 96.6, 94.1, 97.8, 97.6, 98.0, 97.5],
    "bce": [96.4, 98.8, 93.0, 90.0, 97.1, 94.2, 98.0, 97.6, 98.1, 97.7],
    "deep-svdd": [61.7, 65.9, 50.8, 59.1, 60.9, 65.7, 67.7, 67.3, 75.9, 73.1],
    "ocsvm": [65.6, 40.9, 65.3, 50.1, 75.2, 51.2, 71.8, 51.2, 67.9, 48.5],
    "geo": [74.7, 95.7, 78.1, 72.4, 87.8, 87.8, 83.4, 95.5, 93.3, 91.3],
    "itae": [78.5, 89.8, 86.1, 77.4, 90.5, 84.5, 89.2, 92.9, 92.0, 85.5],
    "geo-plus": [77.5, 96.9, 87.3, 80.9, 92.7, 90.2, 90.9, 96.5, 95.2, 93.3],
    "geo-plus with OE": [90.4, 99.3, 93.7, 88.1, 97.4, 94.3, 97.1, 98.8, 98.7, 98.5],
}
PAPER_CIFAR10_MEAN = {"deep-sad": 94.5, "hsc": 95.9, "focal": 95.8, "bce": 96.1, "deep-svdd": 64.8,
                      "ocsvm": 58.8, "geo": 86.0, "itae": 86.6, "geo-plus": 90.1,
                      "geo-plus with OE": 95.6}
# Methods whose row in the paper's table depends on whether they ran with OE.
PAPER_WITH_OE = {"geo-plus": "geo-plus with OE"}


def class_table(rows: list[dict]) -> dict:
    """{method: {normal_class: (mean AUROC over seeds, n runs)}} from index rows."""
    t: dict = {}
    for r in rows:
        if r.get("auroc") is None:
            continue
        t.setdefault(r["method"], {}).setdefault(r["normal_class"], []).append(r["auroc"])
    return {m: {k: (float(np.mean(v)), len(v)) for k, v in d.items()} for m, d in t.items()}


# ------------------------------------------------------------------ means over seeds

# Student's t quantile t(0.975, df) for df = 1..30 (scipy.stats.t.ppf, 6 decimals); larger df by
# the Cornish-Fisher expansion below (within 3e-8 of scipy's). No scipy: commands stay light.
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
         2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.13145, 2.119905, 2.109816,
         2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529,
         2.051831, 2.048407, 2.04523, 2.042272)
CI_NAME = "95% CI over seeds"
CI_HELP = ("95% confidence interval of the mean over seeds (Student t with n − 1 degrees of "
           "freedom: mean ± t·s/√n over the n seeds' values); none with one seed")


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t distribution with `df` >= 1 degrees of freedom."""
    if df < 1:
        raise ValueError("df must be at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    g = ((z ** 3 + z) / 4, (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96,
         (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384,
         (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160)
    return z + sum(gi / df ** (i + 1) for i, gi in enumerate(g))


def seed_ci(values) -> tuple[float, float | None, float | None, int]:
    """(mean, low, high, n): the mean of one value per seed and its 95% confidence interval
    (Student t, n - 1 degrees of freedom: mean ± t975(n - 1) · sample std / √n). None and NaN
    values are dropped; with one value there is no interval (low = high = None), with none the
    mean is NaN."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    n = len(v)
    if n == 0:
        return float("nan"), None, None, 0
    mean = float(v.mean())
    if n == 1:
        return mean, None, None, 1
    half = t975(n - 1) * float(v.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def per_seed(pairs) -> dict:
    """{seed: mean value} of (seed, value) pairs: a group's runs pooled within each seed (e.g. over
    nominal classes), so that seed_ci sees one value per seed. None values are dropped."""
    by: dict = {}
    for seed, v in pairs:
        if v is not None:
            by.setdefault(seed, []).append(v)
    return {s: float(np.mean(v)) for s, v in by.items()}


def find_runs(store: RunStore, **filters) -> list[dict]:
    """Index rows of finished runs matching the filters (None values are ignored)."""
    return store.query(**{k: v for k, v in filters.items() if v is not None})


# ------------------------------------------------------------------ one-vs-rest table

DIFF_SUFFIX = " ours − paper"
PAPER_SUFFIX = " paper"
CI_SUFFIX = " ± 95% CI"     # the half-width of the interval of seed_ci, in AUROC points
SEEDS_SUFFIX = " seeds"     # how many seeds a cell's mean and interval are over


def one_vs_rest_table(rows: list[dict], classes: list[str], methods: list[str],
                      decimals: int = 1, ci: bool = False) -> pd.DataFrame:
    """AUROC in % per nominal class (one row each, named by `classes`) and method (one column each,
    in the order of `methods`): the mean over seeds, NaN where a cell has no run. A last row 'mean'
    averages each method over the classes that have runs (of the unrounded cell means).

    rows: dicts with `method`, `normal_class` (index into `classes`) and `auroc` (0..1), e.g. index
    rows from RunStore.query; with `ci` also `seed`. Values are rounded to `decimals`, as displayed.
    ci: beside each method, '<method> ± 95% CI' (the half-width of seed_ci's interval over the
    cell's seeds, NaN with one seed) and '<method> seeds' (their number); in the mean row, over the
    per-seed means across the classes each seed has runs of."""
    cells = class_table(rows)
    data = {"nominal class": list(classes) + ["mean"]}
    for m in methods:
        per = cells.get(m, {})
        vals = [100 * per[k][0] if k in per else np.nan for k in range(len(classes))]
        mean = float(np.nanmean(vals)) if any(np.isfinite(vals)) else np.nan
        data[m] = vals + [mean]
        if ci:
            mine = [r for r in rows if r["method"] == m and r.get("auroc") is not None]
            stats = [seed_ci(per_seed((r["seed"], 100 * r["auroc"]) for r in mine
                                      if r["normal_class"] == k).values())
                     for k in range(len(classes))]
            stats.append(seed_ci(per_seed((r["seed"], 100 * r["auroc"]) for r in mine
                                          if 0 <= r["normal_class"] < len(classes)).values()))
            data[m + CI_SUFFIX] = [np.nan if hi is None else hi - mu for mu, _, hi, _ in stats]
            data[m + SEEDS_SUFFIX] = [n for *_, n in stats]
    return pd.DataFrame(data).round(decimals)


def paper_comparison(table: pd.DataFrame, paper: dict = PAPER_CIFAR10,
                     paper_mean: dict = PAPER_CIFAR10_MEAN, decimals: int = 1,
                     with_oe: bool = False) -> pd.DataFrame:
    """`table` (from one_vs_rest_table) with, beside each method the paper reports, its published
    AUROC (%) per class and mean (column '<method> paper') and ours minus the paper's
    ('<method> ours − paper'). Classes are matched by name; other classes get NaN. `with_oe`:
    the runs of methods with optional OE (Geo+) used OE, so compare with that column."""
    out = table[["nominal class"]].copy()
    index = {c: i for i, c in enumerate(paper["classes"])}
    for m in table.columns[1:]:
        if m.endswith((CI_SUFFIX, SEEDS_SUFFIX)):
            continue  # beside their method's mean, before the paper's columns
        for c in (m, m + CI_SUFFIX, m + SEEDS_SUFFIX):
            if c in table:
                out[c] = table[c]
        ref_key = PAPER_WITH_OE.get(m, m) if with_oe else m
        if ref_key not in paper:
            continue
        ref = [paper[ref_key][index[c]] if c in index
               else (paper_mean.get(ref_key, np.nan) if c == "mean" else np.nan)
               for c in table["nominal class"]]
        out[m + PAPER_SUFFIX] = ref
        out[m + DIFF_SUFFIX] = (table[m] - np.asarray(ref, dtype=float)).round(decimals)
    return out


def titled_table(rows: list[dict], classes: list[str], methods: list[str], *, paper: bool = False,
                 with_oe: bool = False, decimals: int = 1, ci: bool = False) -> pd.DataFrame:
    """one_vs_rest_table (with paper_comparison when `paper`) as people read it: methods by their
    titles, the paper's columns as '<title> paper' and '<title> Δ' (ours − paper); with `ci`
    '<title> ± 95% CI' and '<title> seeds' beside each method."""
    table = one_vs_rest_table(rows, classes, methods, decimals, ci=ci)
    if paper:
        table = paper_comparison(table, with_oe=with_oe, decimals=decimals)
    names = {}
    for m in methods:
        t = method_info(m).title
        names.update({m: t, m + PAPER_SUFFIX: f"{t} paper", m + DIFF_SUFFIX: f"{t} Δ",
                      m + CI_SUFFIX: t + CI_SUFFIX, m + SEEDS_SUFFIX: t + SEEDS_SUFFIX})
    return table.rename(columns=names)


def diff_colour(value: float, limit: float = 10.0) -> str:
    """CSS background for a difference in AUROC points: white at 0, deepening to red (worse than
    the paper) or blue (better) at +-`limit` points; empty for NaN."""
    if value is None or not np.isfinite(value):
        return ""
    t = min(abs(value) / limit, 1.0)
    fade = round(255 * (1 - 0.6 * t))
    rgb = (255, fade, fade) if value < 0 else (fade, fade, 255)
    return f"background-color: rgb{rgb}"


def styled_table(table: pd.DataFrame, decimals: int = 1, limit: float = 10.0):
    """A pandas Styler of a table: numbers with `decimals` ('± ...' in the interval columns,
    whole numbers of seeds), empty for NaN, and the difference columns (see paper_comparison)
    coloured by diff_colour."""
    num = [c for c in table.columns if c != "nominal class"]
    fmt = {c: ("{:.0f}" if c.endswith(SEEDS_SUFFIX) else
               f"±{{:.{decimals}f}}" if c.endswith(CI_SUFFIX) else f"{{:.{decimals}f}}") for c in num}
    styler = table.style.format(fmt, na_rep="")
    diffs = [c for c in table.columns if c.endswith(DIFF_SUFFIX) or c.endswith(" Δ")]
    if diffs:
        styler = styler.map(lambda v: diff_colour(v, limit), subset=diffs)
    return styler


# ------------------------------------------------------------------ the run browser

RUN_COLUMNS = ["key", "dataset", "normal_class", "method", "oe", "oe_size", "oe_classes",
               "blur_sigma", "seed", "epochs", "auroc", "auprc", "fpr_at_95_tpr", "train_seconds",
               "created", "source"]


def runs_frame(rows: list[dict], datasets=None, methods=None, key_contains: str = "",
               columns: list[str] = RUN_COLUMNS) -> pd.DataFrame:
    """Index rows (RunStore.query) as a table of `columns` (which include key, dataset, method,
    oe_size, oe_classes and created), one run per row, newest first, keeping those whose data set
    is in `datasets` and method in `methods` (None or empty: all) and whose key contains
    `key_contains` (case-insensitive). oe_size/oe_classes: empty = all; created: UTC time."""
    df = pd.DataFrame(rows, columns=columns)
    if "source" in df:
        df["source"] = df["source"].astype(object).where(df["source"].notna(), "local store")
    if datasets:
        df = df[df["dataset"].isin(datasets)]
    if methods:
        df = df[df["method"].isin(methods)]
    if key_contains:
        df = df[df["key"].str.contains(key_contains.strip(), case=False, regex=False)]
    for c in ("oe_size", "oe_classes"):
        df[c] = df[c].astype("Int64")
    df["created"] = pd.to_datetime(df["created"], unit="s", utc=True).dt.tz_convert(None)
    return df.sort_values("created", ascending=False).reset_index(drop=True)


def readable_runs(df: pd.DataFrame) -> pd.DataFrame:
    """runs_frame as people read it: 'all' where a run used every OE image or class."""
    out = df.copy()
    for c in ("oe_size", "oe_classes"):
        if c in out:
            out[c] = out[c].astype("string").fillna("all")
    return out


# not differences worth showing when two runs are compared
_NOT_COMPARED = ("metrics.created", "metrics.versions", "metrics.eval_seconds")


def _flat(run: dict) -> dict:
    out = {f"config.{k}": v for k, v in run["config"].items()}
    out.update({f"metrics.{k}": v for k, v in run["metrics"].items()})
    return {k: v for k, v in out.items() if k not in _NOT_COMPARED}


def run_diff(a: dict, b: dict, names: tuple[str, str] = ("A", "B")) -> pd.DataFrame:
    """The config and metric fields in which two runs differ, one row each: columns `field` and
    the two runs' values (as text). a, b: dicts with `config` and `metrics` (e.g. run data)."""
    fa, fb = _flat(a), _flat(b)
    fields = [k for k in dict.fromkeys([*fa, *fb]) if fa.get(k) != fb.get(k)]

    def text(v):
        return "" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))
    return pd.DataFrame({"field": fields, names[0]: [text(fa.get(k)) for k in fields],
                         names[1]: [text(fb.get(k)) for k in fields]})


def scores_frame(runs: dict) -> pd.DataFrame:
    """Per-sample test scores of runs ({key: run data with `scores`, `labels`, `classes`}), one row
    per (run, test image): run_key, test_index, class, label (1 = anomaly), score (higher = more
    anomalous)."""
    parts = [pd.DataFrame({"run_key": k, "test_index": np.arange(len(r["scores"])),
                           "class": r.get("classes", np.full(len(r["scores"]), -1)),
                           "label (1 = anomaly)": r["labels"], "score": r["scores"]})
             for k, r in runs.items()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["run_key", "test_index", "class", "label (1 = anomaly)", "score"])


# ------------------------------------------------------------------ curves over a grid of runs

def _x_sort(v):
    return (isinstance(v, str), 0 if isinstance(v, str) else v)


def point_x(config, by: str):
    """A run's position on a curve along `by` (a RunConfig field); an `oe_size` of None is 'all'."""
    x = getattr(config, by)
    return "all" if x is None and by == "oe_size" else x


def grid_curves(configs: list, rows: list[dict], by: str, series: str = "method") -> list[dict]:
    """Mean, std and the 95% confidence interval over seeds of AUROC per (series, by) value over the
    runs of a grid, counting the runs that are not in the store yet.

    configs: the grid's RunConfigs (seeds and classes pooled per point); rows: store index rows
    (find_runs), matched to the configs by key. An `oe_size` of None is reported as 'all'.
    Returns one dict per series value, in first-seen order: `name` (method title for methods),
    `series`, `x` (sorted, 'all' last), `mean` (of the stored runs), `std` (population std; NaN
    where no run is stored), `ci_low`, `ci_high` (seed_ci over the per-seed means, the classes
    pooled within each seed; NaN with fewer than two seeds), `seeds` (seeds stored), `n` (runs
    stored), `total` (runs in the grid), `keys` (stored), `missing` (keys not stored)."""
    stored = {r["key"]: r["auroc"] for r in rows if r.get("auroc") is not None}
    pts: dict = {}
    for c in {c.key: c for c in configs}.values():
        x = point_x(c, by)
        p = pts.setdefault(getattr(c, series), {}).setdefault(
            x, {"auroc": [], "seed": [], "keys": [], "missing": []})
        if c.key in stored:
            p["auroc"].append(stored[c.key])
            p["seed"].append(c.seed)
            p["keys"].append(c.key)
        else:
            p["missing"].append(c.key)
    out = []
    for name, by_x in pts.items():
        xs = sorted(by_x, key=_x_sort)
        vals = [np.asarray(by_x[x]["auroc"], dtype=float) for x in xs]
        cis = [seed_ci(per_seed(zip(by_x[x]["seed"], by_x[x]["auroc"])).values()) for x in xs]
        out.append({"name": method_info(name).title if series == "method" else str(name),
                    "series": name, "x": xs,
                    "mean": [float(v.mean()) if len(v) else float("nan") for v in vals],
                    "std": [float(v.std()) if len(v) else float("nan") for v in vals],
                    "ci_low": [float("nan") if lo is None else lo for _, lo, _, _ in cis],
                    "ci_high": [float("nan") if hi is None else hi for _, _, hi, _ in cis],
                    "seeds": [n for *_, n in cis],
                    "n": [len(v) for v in vals],
                    "total": [len(v) + len(by_x[x]["missing"]) for x, v in zip(xs, vals)],
                    "keys": [by_x[x]["keys"] for x in xs], "missing": [by_x[x]["missing"] for x in xs]})
    return out


def x_label(v) -> str:
    return v if isinstance(v, str) else f"{v:g}"


def log_axis(series: list[dict]) -> tuple[list[dict], dict]:
    """Place the series' x values on a log axis: positive values stay, 'all' goes one doubling right
    of the largest value, 0 one halving left of the smallest (at most 1). Returns copies of the
    series with numeric `x` and text `label`, and {position: label} for the axis ticks."""
    values = {x for s in series for x in s["x"]}
    pos = [float(x) for x in values if not isinstance(x, str) and x > 0]
    right = 2 * max(pos) if pos else 1.0
    left = min(pos + [1.0]) / 2

    def place(x):
        return right if isinstance(x, str) else (left if x <= 0 else float(x))

    out = [{**s, "x": [place(x) for x in s["x"]], "label": [x_label(x) for x in s["x"]]} for s in series]
    ticks = {place(x): x_label(x) for x in sorted(values, key=_x_sort)}
    return out, ticks


def compare_at(series: list[dict], at: float = 32, ref="all") -> list[dict]:
    """Per series with a stored mean at `ref` (an x value such as 'all'): the mean at the plotted
    x nearest to `at` on a log scale. Returns dicts `name`, `x`, `at_mean`, `ref_mean`."""
    out = []
    for s in series:
        have = {x: m for x, m in zip(s["x"], s["mean"]) if np.isfinite(m)}
        near = [x for x in have if not isinstance(x, str) and x > 0 and x != ref]
        if ref not in have or not near:
            continue
        x = min(near, key=lambda v: (abs(np.log2(v / at)), -v))
        out.append({"name": s["name"], "x": x, "at_mean": have[x], "ref_mean": have[ref]})
    return out


def points_table(series: list[dict], x_name: str):
    """One row per plotted point: series, x, mean and std AUROC, the 95% CI over seeds (empty with
    one seed) and the number of seeds, runs stored of runs in the grid, and the run keys behind it
    (stored, and missing), as a pandas DataFrame."""
    def get(s, k):
        return s.get(k, [float("nan")] * len(s["x"]))
    return pd.DataFrame([{"method": s["name"], x_name: x_label(x), "AUROC (mean)": m, "AUROC (std)": sd,
                          f"AUROC {CI_NAME}: low": lo, f"AUROC {CI_NAME}: high": hi, "seeds": ns,
                          "runs cached": n, "runs in grid": t, "run keys": " ".join(k),
                          "missing run keys": " ".join(mk)}
                         for s in series for x, m, sd, lo, hi, ns, n, t, k, mk in
                         zip(s["x"], s["mean"], s["std"], get(s, "ci_low"), get(s, "ci_high"),
                             s.get("seeds", [None] * len(s["x"])), s["n"], s["total"], s["keys"], s["missing"])])
