"""Which stored view a page opens on first (views.stored_views' order): the most settings, seeds
aside, then the paper's CIFAR-10, then the most runs."""

from deepad import views


def _rows(dataset, classes, methods, seeds, oe="folder:/data/tiny"):
    return [{"dataset": dataset, "normal_class": c, "oe": oe, "oe_size": None, "blur_sigma": 0.0,
             "method": m, "seed": s, "epochs": 5, "auroc": 0.8, "config": {}}
            for c in classes for m in methods for s in seeds]


def test_a_second_seed_does_not_put_another_data_set_before_the_papers_table():
    trio = ["hsc", "bce", "focal"]
    rows = _rows("cifar10", range(10), trio, [1]) + _rows("mnist", range(10), trio, [1, 2])
    first = views.stored_views(rows, "table")
    assert [v["dataset"] for v in first] == ["cifar10", "mnist"]
    assert first[1]["runs"] == 60 and first[0]["runs"] == 30


def test_more_settings_win_over_the_headline_data_set():
    rows = (_rows("cifar10", range(3), ["hsc", "bce"], [1, 2, 3])
            + _rows("mnist", range(10), ["hsc", "bce"], [1]))
    assert [v["dataset"] for v in views.stored_views(rows, "table")] == ["mnist", "cifar10"]
    assert views.stored_views(rows, "table", limit=1)[0]["classes"] == list(range(10))


def test_among_the_same_settings_more_runs_come_first():
    rows = _rows("mnist", range(10), ["hsc"], [1], oe="uniform-noise") + \
        _rows("mnist", range(10), ["hsc"], [1, 2])
    got = views.stored_views(rows, "table")
    assert [v["oe"] for v in got] == ["folder:/data/tiny", "uniform-noise"]
