"""The one-vs-rest table, the comparison with the paper and the run browser's tables: plain data in,
DataFrames out (no Streamlit, no training)."""

import numpy as np
import pandas as pd
import pytest

from deepad import analysis
from deepad.analysis import PAPER_CIFAR10, PAPER_CIFAR10_MEAN


def row(method, k, auroc, key="x", **extra):
    return {"method": method, "normal_class": k, "auroc": auroc, "key": key, **extra}


def test_table_means_seeds_in_percent_and_adds_a_mean_row():
    rows = [row("hsc", 0, 0.90), row("hsc", 0, 0.95), row("hsc", 1, 0.80),
            row("bce", 1, 0.7), row("bce", 2, None)]  # None: a run without metrics, ignored
    t = analysis.one_vs_rest_table(rows, ["zero", "one", "two"], ["hsc", "bce", "focal"])
    assert list(t.columns) == ["nominal class", "hsc", "bce", "focal"]
    assert list(t["nominal class"]) == ["zero", "one", "two", "mean"]
    assert t["hsc"].tolist()[:2] == [92.5, 80.0]
    assert np.isnan(t["hsc"][2]) and np.isnan(t["bce"][0]) and t["focal"].isna().all()
    assert t["hsc"].iloc[-1] == pytest.approx(round((92.5 + 80.0) / 2, 1))  # over classes with runs
    assert t["bce"].iloc[-1] == 70.0


def test_table_rounds_as_displayed_and_mean_uses_unrounded_cells():
    t = analysis.one_vs_rest_table([row("hsc", 0, 0.91234), row("hsc", 1, 0.81234)], ["a", "b"],
                                   ["hsc"])
    assert t["hsc"].tolist() == [91.2, 81.2, round((91.234 + 81.234) / 2, 1)]


def test_paper_comparison_matches_classes_by_name_and_subtracts():
    classes = PAPER_CIFAR10["classes"]
    rows = [row("hsc", k, PAPER_CIFAR10["hsc"][k] / 100 + 0.01) for k in range(10)]
    rows += [row("ae", 0, 0.5)]
    t = analysis.one_vs_rest_table(rows, classes, ["hsc", "ae"])
    c = analysis.paper_comparison(t)
    assert list(c.columns) == ["nominal class", "hsc", "hsc paper", "hsc ours − paper", "ae"]
    assert c["hsc paper"].tolist() == PAPER_CIFAR10["hsc"] + [PAPER_CIFAR10_MEAN["hsc"]]
    assert c["hsc ours − paper"].iloc[:10].tolist() == pytest.approx([1.0] * 10)
    assert c["hsc ours − paper"].iloc[-1] == pytest.approx(t["hsc"].iloc[-1] - PAPER_CIFAR10_MEAN["hsc"])


def test_paper_comparison_leaves_unknown_classes_empty():
    t = analysis.one_vs_rest_table([row("bce", 0, 0.9)], ["cat", "zebra"], ["bce"])
    c = analysis.paper_comparison(t)
    assert c["bce paper"].iloc[0] == PAPER_CIFAR10["bce"][3] and np.isnan(c["bce paper"].iloc[1])


def test_diff_colour_is_diverging_and_blank_for_nan():
    assert analysis.diff_colour(float("nan")) == ""
    assert analysis.diff_colour(0.0) == "background-color: rgb(255, 255, 255)"
    below, above = analysis.diff_colour(-20.0), analysis.diff_colour(5.0)
    assert below == "background-color: rgb(255, 102, 102)"  # clipped at the limit, red
    assert above.startswith("background-color: rgb(") and above.endswith(", 255)")  # blue


def test_styled_table_formats_and_colours_only_difference_columns():
    t = analysis.paper_comparison(analysis.one_vs_rest_table([row("bce", 0, 0.5)],
                                                             PAPER_CIFAR10["classes"], ["bce"]))
    html = analysis.styled_table(t).to_html()
    assert "50.0" in html and "96.4" in html and "rgb(255, 102, 102)" in html
    plain = analysis.styled_table(analysis.one_vs_rest_table([], ["a"], ["hsc"])).to_html()
    assert "background-color" not in plain


def _index_rows():
    base = dict(oe="photos", oe_classes=None, blur_sigma=0.0, seed=1, epochs=5, auprc=0.5,
                fpr_at_95_tpr=0.3, train_seconds=1.0)
    return [dict(base, key="aaa111", dataset="digits", normal_class=0, method="hsc", auroc=0.9,
                 oe_size=64, created=100.0),
            dict(base, key="bbb222", dataset="digits", normal_class=1, method="bce", auroc=0.8,
                 oe_size=None, created=300.0),
            dict(base, key="AAA333", dataset="mnist", normal_class=0, method="hsc", auroc=0.7,
                 oe_size=8, created=200.0)]


def test_runs_frame_filters_and_sorts_newest_first():
    rows = _index_rows()
    df = analysis.runs_frame(rows)
    assert list(df["key"]) == ["bbb222", "AAA333", "aaa111"]
    assert pd.isna(df["oe_size"][0]) and df["oe_size"][1] == 8
    assert list(analysis.runs_frame(rows, datasets=["digits"])["key"]) == ["bbb222", "aaa111"]
    assert list(analysis.runs_frame(rows, methods=["hsc"], key_contains="aaa")["key"]) == \
        ["AAA333", "aaa111"]
    assert analysis.runs_frame(rows, key_contains="zzz").empty
    assert analysis.runs_frame([]).empty


def test_run_diff_lists_only_differing_fields():
    a = {"config": {"method": "hsc", "seed": 1, "lr": 0.001}, "metrics": {"auroc": 0.9}}
    b = {"config": {"method": "bce", "seed": 1, "lr": 0.001}, "metrics": {"auroc": 0.8, "extra": 1}}
    d = analysis.run_diff(a, b, names=("A", "B"))
    assert list(d.columns) == ["field", "A", "B"]
    assert d.to_dict("records") == [
        {"field": "config.method", "A": "hsc", "B": "bce"},
        {"field": "metrics.auroc", "A": "0.9", "B": "0.8"},
        {"field": "metrics.extra", "A": "", "B": "1"}]


def test_scores_frame_has_one_row_per_run_and_test_image():
    runs = {"k1": {"scores": np.array([0.1, 0.9]), "labels": np.array([0, 1]), "classes": np.array([3, 4])},
            "k2": {"scores": np.array([0.5]), "labels": np.array([1]), "classes": np.array([7])}}
    df = analysis.scores_frame(runs)
    assert df["run_key"].tolist() == ["k1", "k1", "k2"]
    assert df["test_index"].tolist() == [0, 1, 0] and df["score"].tolist() == [0.1, 0.9, 0.5]
    assert df["label (1 = anomaly)"].tolist() == [0, 1, 1] and df["class"].tolist() == [3, 4, 7]
