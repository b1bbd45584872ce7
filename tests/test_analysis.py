"""Curves over a grid of runs (deepad.analysis): seeds parsing, grid aggregation with missing runs,
the log axis with 'all' and sigma 0, the comparison at 32 OE samples, the points table, and the
figure built from them. No training, no Streamlit: index rows are written by hand."""

import math

import numpy as np
import pytest

from deepad import make_config, plots
from deepad.analysis import compare_at, grid_curves, log_axis, points_table
from deepad.parsing import parse_ints as _parse


def parse_ints(text):
    return _parse(text, name="seeds", flag=False, sort=True)
from deepad.errors import DeepadError


def test_parse_ints_reads_lists_and_ranges():
    assert parse_ints("1") == [1]
    assert parse_ints("1-3") == [1, 2, 3]
    assert parse_ints(" 5, 1-2 ,2;7 ") == [1, 2, 5, 7]


@pytest.mark.parametrize("text", ["", " , ", "a", "1-x", "3-1", "1-5000", "1.5"])
def test_parse_ints_rejects_bad_text_with_a_message(text):
    with pytest.raises(DeepadError, match="seeds"):
        parse_ints(text)


def _grid(sizes, methods=("hsc", "bce"), classes=(0, 1), seeds=(1, 2)):
    return [make_config(dataset="digits", normal_class=k, oe="photos", oe_size=n, method=m, seed=s,
                        epochs=2)
            for m in methods for n in sizes for k in classes for s in seeds]


def _rows(configs, auroc):
    return [{"key": c.key, "auroc": auroc(c)} for c in configs]


def test_grid_curves_pools_classes_and_seeds_and_counts_missing_runs():
    configs = _grid([4, "all"])
    # every run stored except hsc at 4 OE images for class 1; one failed run has no AUROC
    stored = [c for c in configs if not (c.method == "hsc" and c.oe_size == 4 and c.normal_class == 1)]
    rows = _rows(stored, lambda c: 0.5 + 0.1 * c.normal_class + 0.01 * c.seed + (c.oe_size is None) * 0.2)
    rows.append({"key": "failed", "auroc": None})
    hsc, bce = grid_curves(configs, rows, by="oe_size")
    assert (hsc["name"], bce["name"], hsc["series"]) == ("HSC", "BCE", "hsc")
    assert hsc["x"] == [4, "all"] and bce["x"] == [4, "all"]
    assert hsc["n"] == [2, 4] and hsc["total"] == [4, 4] and bce["n"] == [4, 4]
    assert hsc["mean"][0] == pytest.approx(0.515) and hsc["std"][0] == pytest.approx(0.005)
    vals = [0.71, 0.72, 0.81, 0.82]
    assert bce["mean"][1] == pytest.approx(np.mean(vals)) and bce["std"][1] == pytest.approx(np.std(vals))
    assert len(hsc["missing"][0]) == 2 and not hsc["missing"][1]
    assert set(hsc["keys"][1]) == {c.key for c in configs if c.method == "hsc" and c.oe_size is None}


def test_grid_curves_marks_points_without_runs_as_nan_and_dedupes_configs():
    configs = _grid([1, 2], methods=("hsc",), classes=(0,), seeds=(1,))
    (s,) = grid_curves(configs + configs, _rows(configs[:1], lambda c: 0.9), by="oe_size")
    assert s["n"] == [1, 0] and s["total"] == [1, 1]
    assert s["mean"][0] == 0.9 and math.isnan(s["mean"][1]) and math.isnan(s["std"][1])


def test_log_axis_puts_all_right_of_the_largest_and_zero_left_of_the_smallest():
    series = [{"name": "a", "x": [1, 16, "all"]}, {"name": "b", "x": [4, 64]}]
    placed, ticks = log_axis(series)
    assert placed[0]["x"] == [1.0, 16.0, 128.0] and placed[0]["label"] == ["1", "16", "all"]
    assert placed[1]["x"] == [4.0, 64.0]
    assert ticks == {1.0: "1", 4.0: "4", 16.0: "16", 64.0: "64", 128.0: "all"}
    assert series[0]["x"] == [1, 16, "all"]  # the input is not changed
    placed, ticks = log_axis([{"name": "blur", "x": [0.0, 1.0, 8.0, 32.0]}])
    assert placed[0]["x"] == [0.5, 1.0, 8.0, 32.0] and ticks[0.5] == "0" and ticks[32.0] == "32"
    assert log_axis([{"name": "only all", "x": ["all"]}])[1] == {1.0: "all"}


def test_compare_at_uses_32_or_the_nearest_plotted_size():
    s = {"name": "HSC", "x": [16, 32, 64, "all"], "mean": [0.8, 0.9, 0.92, 0.93]}
    assert compare_at([s]) == [{"name": "HSC", "x": 32, "at_mean": 0.9, "ref_mean": 0.93}]
    s2 = {"name": "BCE", "x": [4, 16, 64, "all"], "mean": [0.7, 0.8, 0.85, 0.9]}
    assert compare_at([s2])[0]["x"] == 64  # 16 and 64 are equally far from 32: the larger one
    s3 = {"name": "no all", "x": [32, 64], "mean": [0.9, 0.9]}
    s4 = {"name": "all missing", "x": [32, "all"], "mean": [0.9, float("nan")]}
    assert compare_at([s3, s4]) == []


def test_points_table_and_figure_show_cached_of_total_runs():
    series = [{"name": "HSC", "series": "hsc", "x": [4, "all"], "mean": [0.8, float("nan")],
               "std": [0.01, float("nan")], "n": [1, 0], "total": [2, 2], "keys": [["k1"], []],
               "missing": [["k2"], ["k3", "k4"]]}]
    t = points_table(series, "OE images")
    assert list(t["OE images"]) == ["4", "all"] and list(t["runs cached"]) == [1, 0]
    assert list(t["run keys"]) == ["k1", ""] and list(t["missing run keys"]) == ["k2", "k3 k4"]
    placed, ticks = log_axis(series)
    fig = plots.curve_figure(placed, x_title="n", log_x=True, x_labels=ticks)
    band, line = fig.data
    assert list(line.x) == [4.0] and list(line.text) == ["1/2 runs"]  # the empty point is left out
    assert "text" in line.mode and line.customdata[0][3] == "4"
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.ticktext) == ["4", "all"]
