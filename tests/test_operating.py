"""Operating points (deepad.operating): thresholds at a target with exact counts on hand-made
scores, the held-out validation split, precision-recall curves, target parsing; the Explore
page's control; `deepad score --threshold`."""

import json
import math

import numpy as np
import pytest

from deepad import operating as O
from deepad.errors import DeepadError

# ten normal images scored 0.1 ... 1.0, five anomalies; sorted by score, highest first:
# 3.0 a, 2.0 a, 1.5 a, 1.0 n, 0.95 a, 0.9 n, 0.8 n, 0.7 n, 0.65 a, 0.6 n, 0.5 n, ... 0.1 n
NOMINAL = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
ANOMALIES = [0.65, 0.95, 1.5, 2.0, 3.0]
LABELS = np.r_[np.zeros(10, int), np.ones(5, int)]
SCORES = np.r_[NOMINAL, ANOMALIES]


@pytest.mark.parametrize("target, threshold, counts", [
    # at most 1 of 10 normal images flagged: 1.0 flags one; 0.95 (an anomaly) still one; 0.9 two
    ("fpr=0.1", 0.95, (4, 1, 9, 1)),
    # no normal image flagged: the lowest such threshold is 1.5 (1.0 is a normal image)
    ("fpr=0.05", 1.5, (3, 0, 10, 2)),
    # 95% of 5 anomalies means all 5: the highest threshold that flags 0.65
    ("tpr=0.95", 0.65, (5, 4, 6, 0)),
    # 80% of 5 means 4: the highest threshold that flags 0.95
    ("tpr=0.8", 0.95, (4, 1, 9, 1)),
    # F1 = 2TP / (2TP + FP + FN): at 1.5 6/8, at 1.0 6/9, at 0.95 8/10 (the best), at 0.9 8/11
    ("f1", 0.95, (4, 1, 9, 1)),
    # a raw score: flags 3.0, 2.0, 1.5, 0.95 and the normal 1.0, 0.9, 0.8
    ("0.75", 0.75, (4, 3, 7, 1)),
])
def test_thresholds_at_targets_on_the_whole_test_set(target, threshold, counts):
    op = O.operating_point(LABELS, SCORES, target, on="test")
    assert op.threshold == threshold
    c = op.evaluated
    assert (c.tp, c.fp, c.tn, c.fn) == counts
    tp, fp, tn, fn = counts
    assert c.precision == pytest.approx(tp / (tp + fp))
    assert c.recall == c.tpr == pytest.approx(tp / (tp + fn))
    assert c.fpr == pytest.approx(fp / (fp + tn))
    assert c.f1 == pytest.approx(2 * tp / (2 * tp + fp + fn))
    if target == "0.75":  # nothing chosen: counted on every test image
        assert op.chosen_on == "given" and op.n_chosen == 0 and op.n_evaluated == 15
    else:
        assert op.chosen_on == "test" and not op.held_out and op.n_chosen == op.n_evaluated == 15
        assert op.chosen == op.evaluated
    assert O.choose_threshold(LABELS, SCORES, target) == threshold
    assert O.counts_at(LABELS, SCORES, threshold) == c
    assert list(op.flags([threshold, np.nextafter(threshold, 0)])) == [True, False]  # score >= thr


def test_the_rates_of_the_examples_by_hand():
    c = O.operating_point(LABELS, SCORES, "fpr=0.1", on="test").evaluated
    assert (c.precision, c.recall, c.fpr, c.f1) == (0.8, 0.8, 0.1, 0.8)
    d = c.to_dict()
    assert d == {"tp": 4, "fp": 1, "tn": 9, "fn": 1, "n": 15, "precision": 0.8, "recall": 0.8,
                 "fpr": 0.1, "f1": 0.8}


def test_ties_and_a_target_that_flags_nothing():
    # a normal image and an anomaly tie at 0.5: a threshold flags both or neither
    y, s = [0, 0, 1, 1], [0.2, 0.5, 0.5, 0.9]
    assert O.choose_threshold(y, s, "fpr=0.4") == 0.9          # 0.5 would flag one of two normals
    assert O.choose_threshold(y, s, "tpr=0.9") == 0.5          # both anomalies: the tie comes along
    assert O.counts_at(y, s, 0.5) == O.Counts(tp=2, fp=1, tn=1, fn=0)
    # the highest score is a normal image: allowing no false alarm flags nothing
    thr = O.choose_threshold([0, 1], [1.0, 0.5], "fpr=0.4")
    assert thr > 1.0 and thr == np.nextafter(1.0, np.inf)
    c = O.counts_at([0, 1], [1.0, 0.5], thr)
    assert (c.tp, c.fp, c.tn, c.fn) == (0, 0, 1, 1)
    assert math.isnan(c.precision) and c.to_dict()["precision"] is None and c.recall == 0


def test_chosen_on_a_seeded_stratified_split_and_counted_on_the_rest():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(100, int), np.ones(50, int)]
    scores = rng.normal(size=150) + 1.5 * labels
    op = O.operating_point(labels, scores, "fpr=0.1", seed=3)
    assert op.chosen_on == "validation" and op.held_out and (op.seed, op.fraction) == (3, 0.2)
    chosen, rest = set(op.chosen_idx.tolist()), set(op.evaluated_idx.tolist())
    assert not chosen & rest and chosen | rest == set(range(150))  # disjoint; every image once
    assert (labels[op.chosen_idx] == 0).sum() == 20 and (labels[op.chosen_idx] == 1).sum() == 10
    assert op.n_chosen == 30 and op.n_evaluated == 120
    # the threshold is chosen on the split alone and counted on the rest alone
    ch, ev = op.chosen_idx, op.evaluated_idx
    assert op.threshold == O.choose_threshold(labels[ch], scores[ch], "fpr=0.1")
    assert op.chosen == O.counts_at(labels[ch], scores[ch], op.threshold)
    assert op.evaluated == O.counts_at(labels[ev], scores[ev], op.threshold)
    assert op.chosen.fpr <= 0.1 and op.evaluated.n == 120
    # seeded: the same seed draws the same split, another seed another
    assert np.array_equal(O.operating_point(labels, scores, "fpr=0.1", seed=3).chosen_idx, ch)
    assert not np.array_equal(O.operating_point(labels, scores, "fpr=0.1", seed=4).chosen_idx, ch)
    assert np.array_equal(O.validation_split(labels, 3, 0.2), ch)
    d = op.to_dict(indices=True)
    assert d["chosen_indices"] == ch.tolist() and d["rule"] == O.RULE == "score >= threshold means anomaly"
    assert d["counts"]["n"] == 120 and "seed 3" in d["description"] and json.dumps(d)


def test_validation_split_lives_in_operating_and_experiments_re_exports_it():
    from deepad import experiments
    assert experiments.validation_split is O.validation_split
    labels = np.r_[np.zeros(30, int), np.ones(70, int)]
    idx = O.validation_split(labels, 1)  # OC-SVM's: 10% of each class
    assert (labels[idx] == 0).sum() == 3 and (labels[idx] == 1).sum() == 7


def test_too_few_images_to_hold_out_fall_back_to_the_whole_test_set_and_say_so():
    labels = np.r_[np.zeros(20, int), 1]  # one anomaly: it cannot be on both sides
    scores = np.r_[np.linspace(0, 1, 20), 2.0]
    op = O.operating_point(labels, scores, "tpr=0.5", seed=0)
    assert op.chosen_on == "test" and not op.held_out and op.threshold == 2.0
    assert "too few" in op.note and "in-sample" in op.describe()
    # a split with few normal images cannot resolve a small FPR, and the note says so
    op = O.operating_point(LABELS, SCORES, "fpr=0.05", seed=0)
    assert op.chosen_on == "validation" and "2 normal images" in op.note


def test_a_run_needs_both_kinds_of_test_images():
    with pytest.raises(DeepadError, match="no anomalies"):
        O.operating_point(np.zeros(5, int), np.arange(5.0), "fpr=0.1")
    with pytest.raises(DeepadError, match="no normal images"):
        O.operating_point(np.ones(5, int), np.arange(5.0), "tpr=0.9")
    with pytest.raises(DeepadError, match="NaN"):
        O.operating_point([0, 1], [0.0, float("nan")], "f1")
    with pytest.raises(DeepadError, match="same length"):
        O.counts_at([0, 1, 1], [0.0, 1.0], 0.5)


def test_precision_recall_curve_and_average_precision_by_hand():
    # highest first: 0.9 a, 0.8 n, 0.7 a, 0.6 a, 0.5 n (3 anomalies of 5)
    y, s = [1, 0, 1, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.5]
    pr = O.pr_curve(y, s)
    assert pr.thresholds.tolist() == [0.9, 0.8, 0.7, 0.6, 0.5]
    assert pr.precision == pytest.approx([1, 1 / 2, 2 / 3, 3 / 4, 3 / 5])
    assert pr.recall == pytest.approx([1 / 3, 1 / 3, 2 / 3, 1, 1])
    # AP = sum of (recall gained) x precision = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/4 = 29/36
    assert pr.average_precision == pytest.approx(29 / 36)
    assert pr.no_skill == O.no_skill_precision(y) == pytest.approx(3 / 5)
    r, p = O.pr_points(pr)
    assert r[0] == 0 and p[0] == 1 and r.tolist()[1:] == pr.recall.tolist()
    # a tie of a normal image and an anomaly is one point: 1/2 * 1/2 + 1/2 * 2/3 = 7/12
    tie = O.pr_curve([1, 0, 1], [0.5, 0.5, 0.2])
    assert tie.precision == pytest.approx([1 / 2, 2 / 3]) and tie.average_precision == pytest.approx(7 / 12)
    from deepad import metrics as M  # the same number as scikit-learn's average precision
    rng = np.random.default_rng(1)
    yy = (rng.random(300) < 0.3).astype(int)
    ss = np.round(rng.normal(size=300) + yy, 1)
    assert O.pr_curve(yy, ss).average_precision == pytest.approx(M.auprc(yy, ss))


@pytest.mark.parametrize("text, kind, value", [
    ("fpr=0.05", "fpr", 0.05), (" TPR = 0.95 ", "tpr", 0.95), ("fpr=5%", "fpr", 0.05),
    ("f1", "f1", None), ("F1", "f1", None), ("0.0213", "value", 0.0213), ("-3", "value", -3.0)])
def test_targets_are_read_as_typed(text, kind, value):
    t = O.parse_target(text)
    assert (t.kind, t.value) == (kind, pytest.approx(value) if value is not None else None)
    assert O.parse_target(t.text) == t


@pytest.mark.parametrize("text, message", [
    ("fpr=0", "outside (0, 1)"), ("fpr=1", "outside (0, 1)"), ("tpr=1.5", "outside (0, 1)"),
    ("fpr=-0.1", "outside (0, 1)"), ("tpr=nan", "outside (0, 1)"), ("fpr=abc", "cannot read the rate"),
    ("precision=0.9", "unknown target 'precision'"), ("f1=0.5", "f1 takes no value"),
    ("fpr", "fpr needs a rate"), ("", "give a target"), ("abc", "cannot read 'abc'"),
    ("inf", "not a finite number")])
def test_bad_targets_are_clear(text, message):
    with pytest.raises(DeepadError) as e:
        O.parse_target(text, name="--threshold")
    assert message in str(e.value) and str(e.value).startswith("--threshold: ")
    assert "\n" not in str(e.value)


def test_flips_between_two_thresholds():
    # moving from 0.95 down to 0.65 flags 0.9, 0.8, 0.7 (normal) and 0.65 (an anomaly)
    f = O.flips(SCORES, LABELS, 0.95, 0.65)
    assert SCORES[f["flagged"]].tolist() == [0.9, 0.8, 0.7, 0.65] and len(f["unflagged"]) == 0
    assert (f["new_false_alarms"], f["new_catches"]) == (3, 1)
    back = O.flips(SCORES, LABELS, 0.65, 0.95)
    assert SCORES[back["unflagged"]].tolist() == [0.65, 0.7, 0.8, 0.9]
    assert (back["cleared_false_alarms"], back["new_misses"]) == (3, 1)
    assert len(O.flips(SCORES, LABELS, 0.95, 0.95)["flagged"]) == 0


def test_pr_figures_and_the_report_show_the_no_skill_line_and_the_point():
    from deepad import plots, plots_static
    from deepad.report import html_report
    curves = [{"name": "HSC", "labels": LABELS, "scores": SCORES}]
    fig = plots.pr_figure(curves, {"HSC": 0.95})
    names = [t.name for t in fig.data]
    assert names[0] == "no skill (precision 0.333, the anomaly rate)" and list(fig.data[0].y) == [1 / 3] * 2
    assert names[1] == f"HSC (AP {O.pr_curve(LABELS, SCORES).average_precision:.3f})"
    assert (fig.data[2].x[0], fig.data[2].y[0]) == (0.8, 0.8)  # recall, precision at 0.95
    roc = plots.roc_figure(curves, {"HSC": 0.95})
    assert (roc.data[-1].x[0], roc.data[-1].y[0]) == (0.1, 0.8) and roc.data[-1].showlegend is False
    ax = plots_static.pr_static(curves, {"HSC": 0.95}).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == names[:2]
    assert plots_static.pr_png(curves).startswith(b"\x89PNG")
    page = html_report("t", [("ROC and precision-recall curves", [roc, fig])])
    assert page.count('<div class="cell">') == 2 and "Precision-recall curves" in page


def test_explore_shows_the_operating_point_control_and_its_counts():
    from streamlit.testing.v1 import AppTest

    from deepad.store import RunStore
    from tests.conftest import APP
    from ui import operating as opui
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["methods"] = "bce"  # one quick run on the bundled digits, trained here
    at.query_params["behind"] = "True"  # the images behind the numbers (and their flips) shown
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="op_kind").value == "tpr" and at.select_slider(key="op_rate").value == 0.95
    key = at.table[0].value.to_dict("records")[0]["run key"]  # the metrics stay the first table
    run = RunStore().get(key)

    def shown_counts():
        table = next(m.value for m in at.markdown if m.value.startswith("| measure | BCE |"))
        rows = {r[0]: r[1] for r in ([c.strip() for c in line.strip("|").split("|")]
                                     for line in table.splitlines()[2:])}
        assert list(rows) == list(opui.ROWS.values())  # every measure, one column for the one run
        counts = {k: int(rows[opui.ROWS[k]]) for k in ("TP", "FP", "TN", "FN")}
        return counts, int(rows["images it was chosen on"]), int(rows["images counted"])

    def expected(target):
        return O.operating_point(run.labels, run.scores, target, seed=run.config.seed)

    counts, chosen, counted = shown_counts()
    op = expected("tpr=0.95")
    assert counts == {"TP": op.evaluated.tp, "FP": op.evaluated.fp, "TN": op.evaluated.tn,
                      "FN": op.evaluated.fn}
    assert (chosen, counted) == (op.n_chosen, op.n_evaluated) and chosen + counted == len(run.labels)
    assert any("anomalous when its score is ≥ the threshold" in c.value and "validation split" in c.value
               for c in at.caption)
    assert any("No test image changes flag" in c.value for c in at.caption)
    # another kind of target: the rate follows it, the link keeps it, images flip
    at.radio(key="op_kind").set_value("fpr").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.select_slider(key="op_rate").value == 0.05
    assert (at.query_params["op_kind"], at.query_params["op_rate"]) == ("fpr", "0.05")
    op = expected("fpr=0.05")
    assert shown_counts()[0]["FP"] == op.evaluated.fp and shown_counts()[0]["TP"] == op.evaluated.tp
    flips = O.flips(run.scores, run.labels, expected("tpr=0.95").threshold, op.threshold)
    n = len(flips["flagged"]) + len(flips["unflagged"])
    assert n and any(m.value.startswith("**Images that change flag**") and f"{len(flips['unflagged'])} no "
                     f"longer flagged" in m.value for m in at.markdown)
    at.radio(key="op_kind").set_value("f1").run()
    assert not at.exception and at.select_slider(key="op_rate").disabled
    # the point in the interactive charts: ROC and PR each mark it
    at.toggle(key="interactive").set_value(True).run()
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert [f["layout"]["title"]["text"] for f in figs[:2]] == ["ROC curves", "Precision-recall curves"]
    assert all(f["data"][-1]["name"] == "BCE: operating point" for f in figs[:2])
    # a link opens at its operating point; a value the control does not offer falls back
    link = AppTest.from_file(APP, default_timeout=300)
    for k, v in {"methods": "bce", "op_kind": "fpr", "op_rate": "0.1"}.items():
        link.query_params[k] = v
    link.run()
    assert not link.exception and (link.session_state["op_kind"], link.session_state["op_rate"]) == ("fpr", 0.1)
    bad = AppTest.from_file(APP, default_timeout=300)
    for k, v in {"methods": "bce", "op_rate": "7"}.items():
        bad.query_params[k] = v
    bad.run()
    assert not bad.exception and bad.session_state["op_rate"] == 0.95
    assert any("op_rate=7" in i.value for i in bad.info)


# ---------------------------------------------------------------- the command line

@pytest.fixture
def digits_run(tmp_path):
    """A BCE run on the bundled digits (1 epoch) and ten of its test images as PNG files."""
    from PIL import Image

    from deepad import get_or_train, make_config
    from deepad.data import sources
    res = get_or_train(make_config(dataset="digits", normal_class=0, method="bce", oe="photos",
                                   oe_size=8, epochs=1, seed=1))
    test = sources.get("digits").load("test")
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(10):
        Image.fromarray(test.images[i, 0].numpy()).save(folder / f"{i:02d}.png")
    return res.run, folder


def test_score_with_an_operating_point(digits_run, capsys):
    from deepad import cli
    run, folder = digits_run
    assert cli.main(["score", "--run", run.key, str(folder), "--threshold", "fpr=0.1", "--json"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    op = out["operating_point"]
    want = O.operating_point(run.labels, run.scores, "fpr=0.1", seed=run.config.seed)
    assert op["target"] == "fpr=0.1" and op["threshold"] == want.threshold
    assert (op["chosen_on"], op["seed"], op["fraction"], op["held_out"]) == ("validation", 1, 0.2, True)
    assert op["counts"] == want.evaluated.to_dict() and op["rule"] == "score >= threshold means anomaly"
    assert op["n_chosen"] + op["n_evaluated"] == len(run.labels)
    assert op["chosen_indices"] == want.chosen_idx.tolist()
    assert not set(op["chosen_indices"]) & set(want.evaluated_idx.tolist())
    rows = out["rows"]
    assert len(rows) == 10 and all(r["threshold"] == op["threshold"] for r in rows)
    assert all(r["anomalous"] == (r["score"] >= op["threshold"]) for r in rows)
    assert "validation split" in cap.err and "seed 1" in cap.err
    # another split seed, a raw score, the CSV's columns
    assert cli.main(["score", "--run", run.key, str(folder), "--threshold", "f1", "--split-seed", "5",
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["operating_point"]["seed"] == 5
    assert cli.main(["score", "--run", run.key, str(folder), "--threshold", "0.5", "--json"]) == 0
    given = json.loads(capsys.readouterr().out)["operating_point"]
    assert (given["chosen_on"], given["threshold"], given["n_chosen"]) == ("given", 0.5, 0)
    assert cli.main(["score", "--run", run.key, str(folder), "--threshold", "tpr=0.9"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "path,score,threshold,anomalous"


def test_score_threshold_bad_input_is_one_line_and_exit_2(digits_run, capsys):
    from deepad import cli
    from deepad.store import RunStore
    run, folder = digits_run
    for bad, message in (("fpr=1.5", "outside (0, 1)"), ("recall=0.9", "unknown target"),
                         ("fpr", "needs a rate")):
        assert cli.main(["score", "--run", run.key, str(folder), "--threshold", bad]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    # a run whose stored test labels hold no anomalies has nothing to choose a threshold on
    from deepad import make_config
    cfg = make_config(dataset="digits", normal_class=0, method="bce", oe="photos", oe_size=8,
                      epochs=1, seed=2)
    RunStore().put(cfg, metrics=dict(run.metrics), history=run.history, weights=run.weights(),
                   scores={"scores": run.scores, "labels": np.zeros_like(run.labels),
                           "indices": run.indices, "classes": run.test_classes})
    assert cli.main(["score", "--run", cfg.key, str(folder), "--threshold", "fpr=0.05"]) == 2
    err = capsys.readouterr().err
    assert "no anomalies" in err and len(err.strip().splitlines()) == 1
