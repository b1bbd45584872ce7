"""Seeds aggregated honestly (mean, 95% Student-t confidence interval over seeds, number of seeds)
in the curves, the one-vs-rest table, `deepad table` and the claims; and the Runs page's browser
(filters, groups, parallel coordinates, the link to Explore). Unit tests on rows written by hand;
the pages and the command on a store of four tiny digits runs (two methods x two seeds)."""

import json
import math
from urllib.parse import parse_qs

import numpy as np
import pytest
from conftest import APP, open_page, store_copy, train_into
from streamlit.testing.v1 import AppTest

import deepad
from deepad import analysis, browse, claims, cli, make_config, plots
from deepad.summary import format_table, summarize

T1, T2 = 12.706205, 4.302653  # t(0.975) with 1 and 2 degrees of freedom


# ------------------------------------------------------------------ seed_ci by hand

def test_seed_ci_two_three_and_one_seed():
    mean, low, high, n = analysis.seed_ci([0.8, 0.9])
    # s = 0.0707107, s / sqrt(2) = 0.05, half-width = 12.706205 * 0.05
    assert (mean, n) == (pytest.approx(0.85), 2)
    assert low == pytest.approx(0.85 - 0.63531025) and high == pytest.approx(0.85 + 0.63531025)
    mean, low, high, n = analysis.seed_ci([1.0, 2.0, 3.0])
    # s = 1, half-width = 4.302653 / sqrt(3) = 2.4841379
    assert (mean, n) == (2.0, 3)
    assert (low, high) == (pytest.approx(2 - 2.4841379), pytest.approx(2 + 2.4841379))
    assert analysis.seed_ci([0.7]) == (0.7, None, None, 1)  # one seed: no interval
    assert analysis.seed_ci([0.7, None, float("nan")]) == (0.7, None, None, 1)
    mean, low, high, n = analysis.seed_ci([])
    assert math.isnan(mean) and (low, high, n) == (None, None, 0)
    assert analysis.seed_ci([0.5, 0.5])[1:3] == (0.5, 0.5)  # no spread, no width


def test_t_quantiles_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in list(range(1, 61)) + [100, 1000]:
        assert analysis.t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-6)
    assert (analysis.t975(1), analysis.t975(2)) == (T1, T2)


def test_per_seed_pools_a_seeds_runs_first():
    assert analysis.per_seed([(1, 0.6), (1, 0.8), (2, 0.9), (3, None)]) == {1: 0.7, 2: 0.9}


# ------------------------------------------------------------------ curves, table, summary

def _grid(seeds, classes=(0,), sizes=(4, "all")):
    return [make_config(dataset="digits", normal_class=k, oe="photos", oe_size=n, method="hsc",
                        seed=s, epochs=2) for n in sizes for k in classes for s in seeds]


def test_grid_curves_carry_the_ci_over_seeds_and_their_number():
    configs = _grid((1, 2), classes=(0, 1))
    auroc = {1: 0.8, 2: 0.9}
    rows = [{"key": c.key, "auroc": auroc[c.seed] + 0.1 * c.normal_class}
            for c in configs if c.oe_size == 4 or c.seed == 1]  # 'all': seed 1 only
    (s,) = analysis.grid_curves(configs, rows, by="oe_size")
    assert s["seeds"] == [2, 1] and s["n"] == [4, 2]
    # per seed the mean over the classes (0.85, 0.95), then the interval over the two seeds
    assert s["ci_low"][0] == pytest.approx(0.9 - T1 * 0.05)
    assert s["ci_high"][0] == pytest.approx(0.9 + T1 * 0.05)
    assert math.isnan(s["ci_low"][1]) and math.isnan(s["ci_high"][1])  # one seed: none
    table = analysis.points_table([s], "OE images")
    assert list(table["seeds"]) == [2, 1]
    assert table[f"AUROC {analysis.CI_NAME}: low"][0] == pytest.approx(0.9 - T1 * 0.05)
    placed, ticks = analysis.log_axis([s])
    fig = plots.curve_figure(placed, x_title="n", log_x=True, x_labels=ticks)
    (line,) = fig.data  # error bars instead of a band
    assert line.error_y.array[0] == pytest.approx(T1 * 0.05) and line.error_y.array[1] is None
    assert "95% CI" in line.customdata[0][4] and line.customdata[1][4] == "1 seed, no interval"
    assert "95% CI" in fig.layout.yaxis.title.text


def _cell(k, m, s, auroc):
    return {"method": m, "normal_class": k, "seed": s, "auroc": auroc}


def test_table_carries_mean_ci_and_seeds():
    rows = [_cell(0, "hsc", 1, 0.80), _cell(0, "hsc", 2, 0.90), _cell(1, "hsc", 1, 0.70),
            _cell(0, "bce", 1, 0.95)]
    t = analysis.one_vs_rest_table(rows, ["a", "b", "c"], ["hsc", "bce"], ci=True)
    assert list(t.columns) == ["nominal class", "hsc", "hsc ± 95% CI", "hsc seeds", "bce",
                               "bce ± 95% CI", "bce seeds"]
    t = t.set_index("nominal class")
    assert t.loc["a", "hsc"] == 85.0 and t.loc["a", "hsc ± 95% CI"] == round(100 * T1 * 0.05, 1)
    assert t.loc["a", "hsc seeds"] == 2 and t.loc["b", "hsc seeds"] == 1
    assert np.isnan(t.loc["b", "hsc ± 95% CI"]) and t.loc["c", "hsc seeds"] == 0
    # the mean row: per seed the mean over its classes (seed 1: 75, seed 2: 90)
    assert t.loc["mean", "hsc seeds"] == 2
    assert t.loc["mean", "hsc ± 95% CI"] == round(T1 * np.std([75, 90], ddof=1) / np.sqrt(2), 1)
    assert np.isnan(t.loc["a", "bce ± 95% CI"]) and t.loc["a", "bce seeds"] == 1
    plain = analysis.one_vs_rest_table(rows, ["a", "b", "c"], ["hsc"])
    assert list(plain.columns) == ["nominal class", "hsc"]  # without ci as before
    shown = analysis.titled_table(rows, ["airplane", "b", "c"], ["hsc"], paper=True, ci=True)
    assert list(shown.columns) == ["nominal class", "HSC", "HSC ± 95% CI", "HSC seeds",
                                   "HSC paper", "HSC Δ"]
    html = analysis.styled_table(shown).to_html()
    assert f"±{100 * T1 * 0.05:.1f}" in html


def test_summarize_adds_the_ci_over_seeds():
    rows = [{"method": "a", "seed": 1, "normal_class": 0, "auroc": 0.8},
            {"method": "a", "seed": 2, "normal_class": 0, "auroc": 0.9},
            {"method": "b", "seed": 1, "normal_class": 0, "auroc": 0.7}]
    a, b = summarize(rows, by=["method"], ci=True)
    assert a["auroc_ci95_low"] == pytest.approx(0.85 - T1 * 0.05) and a["seeds"] == 2
    assert (b["auroc_ci95_low"], b["auroc_ci95_high"], b["seeds"]) == (None, None, 1)
    assert list(summarize(rows, by=["method"])[0]) == ["method", "auroc_mean", "auroc_std", "runs"]
    text = format_table([a, b])
    assert "| method | auroc_mean | auroc_std | runs | auroc_ci95_low | auroc_ci95_high | seeds |" in text
    assert "| b | 0.7000 | 0.0000 | 1 |  |  | 1 |" in text and "Student t" in text


def test_claims_say_the_interval_over_seeds():
    def r(k, m, seed, auroc, size):
        return {"key": f"{k}{m}{seed}{size}", "status": "done", "dataset": "cifar10",
                "dataset_id": None, "normal_class": k, "method": m, "seed": seed, "auroc": auroc,
                "oe": "cifar100", "oe_id": None, "oe_jpeg": None, "oe_classes": None,
                "oe_size": size, "blur_sigma": 0.0, "epochs": 5, "lr": 1e-3, "batch_size": 128,
                "weight_decay": 5e-7, "config": "{}"}
    rows = [r(k, m, s, (90 - 2 * (size == 32) - s) / 100, size)
            for m in ("hsc", "bce") for k in range(3) for s in (1, 2, 3) for size in (8, 32, None)]
    v = claims.claim_enough_cifar(rows)
    st = v.seeds["HSC"]
    assert st["seeds"] == 3 and st["mean"] == pytest.approx(-2.0) and st["low"] == pytest.approx(-2.0)
    assert "95% CI over seeds (Student t)" in v.evidence and "(3 seeds)" in v.evidence
    one = claims.claim_enough_cifar([x for x in rows if x["seed"] == 1])
    assert "HSC -2.0 (1 seed, no interval)" in one.evidence and one.seeds["HSC"]["low"] is None


# ------------------------------------------------------------------ the browser's data

def _index_rows():
    out = []
    for m in ("hsc", "bce"):
        for k in (0, 1):
            for s in (1, 2):
                c = make_config(dataset="digits", normal_class=k, oe="photos", method=m, seed=s,
                                oe_size=None if k else 16, epochs=2)
                out.append({"key": c.key, "config": json.dumps(c.to_dict()), "oe": c.oe,
                            "method": m, "normal_class": k, "seed": s, "dataset": "digits",
                            "epochs": 2, "auroc": 0.6 + 0.2 * (m == "bce") + 0.1 * k + 0.01 * s,
                            "auprc": 0.5, "fpr_at_95_tpr": 0.3, "train_seconds": 1.0})
    return out


def test_browser_frame_filters_sorts_and_groups():
    f = browse.browse_frame(_index_rows())
    assert len(f) == 8 and set(browse.FIELDS) <= set(f.columns)
    assert f["oe_size"].tolist().count(None) == 4 and 16 in f["oe_size"].tolist()
    assert set(browse.varying(f)) == {"normal_class", "oe_size", "method", "seed"}
    opts = browse.where_options(f, exclude=("dataset", "method"))
    assert "oe_size=16" in opts and "oe_size=all" in opts and "seed=2" in opts
    assert opts.index("oe_size=16") < opts.index("oe_size=all")
    kept = browse.filter_frame(f, browse.parse_where(["seed=1", "oe_size=all", "bogus=1"]))
    assert len(kept) == 2 and set(kept["seed"]) == {1} and set(kept["normal_class"]) == {1}
    assert len(browse.filter_frame(f, browse.parse_where(["seed=1", "seed=2"]))) == 8
    ordered = browse.sort_frame(f, "oe_size", descending=True)
    assert ordered["oe_size"].tolist()[:4] == [16] * 4 and ordered["oe_size"].tolist()[4] is None
    assert browse.sort_frame(f, "auroc")["auroc"].is_monotonic_increasing

    g = browse.group_frame(f, ["method", "oe_size"])
    assert list(g.columns[:2]) == ["method", "OE images"]
    assert g[["method", "OE images"]].values.tolist() == [["bce", "16"], ["bce", "all"],
                                                          ["hsc", "16"], ["hsc", "all"]]
    first = g.iloc[0]
    assert (first["seeds"], first["runs"]) == (2, 2)
    assert first["AUROC mean"] == pytest.approx(0.815)
    assert first[f"AUROC {analysis.CI_NAME}: low"] == pytest.approx(0.815 - T1 * 0.005)
    by_seed = browse.group_frame(f, ["seed"], metric="auprc")
    assert by_seed["seeds"].tolist() == [1, 1] and by_seed["runs"].tolist() == [4, 4]
    assert by_seed[f"AUPRC {analysis.CI_NAME}: high"].isna().all()  # one seed each: no interval


def test_parallel_coordinates_and_the_explore_view():
    rows = _index_rows()
    f = browse.browse_frame(rows)
    dims = browse.parcoords_dimensions(f, ["oe_size", "method", "seed"])
    assert [d["label"] for d in dims] == ["OE images", "method", "seed", "AUROC"]
    assert dims[0]["ticktext"] == ["16", "all"] and dims[2]["values"][:2] == [1.0, 2.0]
    fig = plots.parcoords_figure(dims, f["auroc"])
    assert fig.data[0].type == "parcoords" and len(fig.data[0].dimensions) == 4

    pair = [r for r in rows if r["normal_class"] == 0 and r["seed"] == 1]
    view, why = browse.explore_view(pair)
    assert not why and view["page"] == "explore" and view["methods"] == ["hsc", "bce"]
    assert (view["classes"], view["seeds"], view["oe_sizes"]) == ([0], [1], [16])
    view, why = browse.explore_view([rows[0], rows[1]])
    assert view is None and "differ in seed" in why


# ------------------------------------------------------------------ the command and the pages

CELLS = [(m, s) for m in ("hsc", "bce") for s in (1, 2)]


def tiny(m, s):
    return deepad.make_config(dataset="digits", normal_class=0, oe="photos", oe_size=64, method=m,
                              epochs=5, seed=s)


@pytest.fixture(scope="module")
def seeded_cache(tmp_path_factory):
    return train_into(tmp_path_factory.mktemp("seeds") / "cache", [tiny(m, s) for m, s in CELLS])


@pytest.fixture
def store(seeded_cache):
    return store_copy(seeded_cache, len(CELLS))


def _auroc(store, m, s):
    return store.get(tiny(m, s).key).metrics["auroc"]


def test_table_command_json_has_the_ci_fields(store, capsys):
    assert cli.main(["table", "--dataset", "digits", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["by"] == ["method"] and "Student t" in out["interval"]
    g = {x["method"]: x for x in out["groups"]}
    a = [_auroc(store, "hsc", s) for s in (1, 2)]
    assert {"auroc_mean", "auroc_std", "runs", "auroc_ci95_low", "auroc_ci95_high",
            "seeds"} <= set(g["hsc"])
    mean, low, high, n = analysis.seed_ci(a)
    assert (g["hsc"]["runs"], g["hsc"]["seeds"]) == (2, 2)
    assert g["hsc"]["auroc_mean"] == pytest.approx(mean)
    assert (g["hsc"]["auroc_ci95_low"], g["hsc"]["auroc_ci95_high"]) == (pytest.approx(low),
                                                                         pytest.approx(high))
    assert cli.main(["table", "--by", "method,seed", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)["groups"][0]
    assert (one["seeds"], one["auroc_ci95_low"], one["auroc_ci95_high"]) == (1, None, None)
    assert cli.main(["table", "--dataset", "digits"]) == 0
    text = capsys.readouterr().out
    assert "| method | auroc_mean | auroc_std | runs | auroc_ci95_low | auroc_ci95_high | seeds |" in text


def app(page, **query):
    return open_page(page, query).run()


def test_table_page_shows_the_ci_columns(store):
    at = app("views/table.py", tab_budget="epochs", tab_epochs="5", tab_oe_size="64",
             tab_methods="hsc,bce", tab_seeds="1,2")
    assert not at.exception and not at.error
    table = at.dataframe[0].value.set_index("nominal class")
    assert list(table.columns) == ["HSC", "HSC ± 95% CI", "HSC seeds", "BCE", "BCE ± 95% CI",
                                   "BCE seeds"]
    for m, t in (("hsc", "HSC"), ("bce", "BCE")):
        mean, low, high, n = analysis.seed_ci([100 * _auroc(store, m, s) for s in (1, 2)])
        assert table.loc["0", t] == round(mean, 1) and table.loc["0", f"{t} seeds"] == 2
        assert table.loc["0", f"{t} ± 95% CI"] == round(high - mean, 1)
        assert table.loc["mean", f"{t} seeds"] == 2 and table.loc["1", f"{t} seeds"] == 0
    assert any("95% confidence interval of the mean over seeds" in c.value for c in at.caption)
    at = app("views/table.py", tab_budget="epochs", tab_epochs="5", tab_oe_size="64",
             tab_methods="hsc", tab_seeds="1")
    assert list(at.dataframe[0].value.columns) == ["nominal class", "HSC"]
    assert any("One seed per cell: no confidence interval" in c.value for c in at.caption)


def test_runs_page_groups_plots_and_links_to_explore(store):
    at = app("views/runs.py", runs_group="method", runs_parcoords="true")
    assert not at.exception and not at.error
    assert len(at.dataframe[0].value) == 4
    groups = at.dataframe[1].value.set_index("method")
    for m in ("hsc", "bce"):
        mean, low, high, n = analysis.seed_ci([_auroc(store, m, s) for s in (1, 2)])
        assert (groups.loc[m, "seeds"], groups.loc[m, "runs"]) == (2, 2)
        assert groups.loc[m, "AUROC mean"] == pytest.approx(mean)
        assert groups.loc[m, f"AUROC {analysis.CI_NAME}: low"] == pytest.approx(low)
    (chart,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    par = chart["data"][0]
    assert par["type"] == "parcoords"
    assert [d["label"] for d in par["dimensions"]] == ["method", "seed", "AUROC"]

    at.multiselect(key="runs_where").set_value(["seed=1"]).run()  # any config field filters
    assert not at.exception and len(at.dataframe[0].value) == 2
    one = at.dataframe[1].value
    assert one["seeds"].tolist() == [1, 1] and one[f"AUROC {analysis.CI_NAME}: low"].isna().all()
    assert at.query_params["runs_where"] == "seed=1"

    pair = [tiny("hsc", 1).key, tiny("bce", 1).key]
    at.multiselect(key="runs_selected").set_value(pair).run()
    assert not at.exception and not at.error
    (link,) = at.get("page_link")
    assert link.proto.label == "Compare the 2 selected runs on Explore"
    params = {k: v[0] for k, v in parse_qs(link.proto.query_string).items()}
    assert params["methods"] == "hsc,bce" and params["seed"] == "1" and params["oe_size"] == "64"
    ex = AppTest.from_file(APP, default_timeout=120)  # Explore is the default page
    for k, v in params.items():
        ex.query_params[k] = v
    ex.run()  # the link opens exactly the stored runs
    assert not ex.exception and not ex.error
    assert ex.session_state["methods"] == ["hsc", "bce"] and ex.session_state["epochs"] == 5
    assert not [b for b in ex.button if b.label == "Train"]  # nothing left to train

    at.multiselect(key="runs_selected").set_value([tiny("hsc", 1).key, tiny("hsc", 2).key]).run()
    assert not at.get("page_link")
    assert any("differ in seed" in c.value for c in at.caption)
