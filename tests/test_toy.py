"""The 2-D toy study behind the ideas page: data, fits, boundaries, figures, page."""

import json
from pathlib import Path

import numpy as np
import pytest

from deepad import plots
from deepad.toy import (
    SHAPES,
    ToySetup,
    fit_toy,
    hsc_radius,
    make_points,
    nominal_points,
)


@pytest.fixture(scope="module")
def blob():
    return fit_toy(ToySetup(shape="blob", n_oe=32, seed=1))


def test_shapes_are_distinct_and_seeded():
    rng = np.random.default_rng
    pts = {s: nominal_points(s, 300, rng(0)) for s in SHAPES}
    assert all(p.shape == (300, 2) and np.abs(p).max() < 3 for p in pts.values())
    r = np.linalg.norm(pts["ring"], axis=1)
    assert 1.2 < r.mean() < 1.8 and r.std() < 0.3  # a ring, not a blob
    assert np.linalg.norm(pts["blob"], axis=1).mean() < 1.0
    a, b = make_points(ToySetup(seed=3)), make_points(ToySetup(seed=3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def _score_at(fit, x, y):
    j = np.abs(fit.grid_x - x).argmin()
    i = np.abs(fit.grid_y - y).argmin()
    return fit.scores[i, j]


@pytest.mark.parametrize("method", ["hsc", "deep-svdd", "bce"])
def test_boundaries_enclose_the_nominal_blob(blob, method):
    f = blob.fits[method]
    assert _score_at(f, 0, 0) < f.threshold  # the nominal centre is inside
    if method != "bce":  # closed regions: far points in every direction are outside
        for x, y in ((3.8, 3.8), (-3.8, 3.8), (3.8, -3.8), (-3.8, -3.8), (0, 3.9), (3.9, 0)):
            assert _score_at(f, x, y) > f.threshold, (x, y)
    assert f.auroc > 0.8


def test_hsc_radius_matches_its_score():
    for thr in (0.1, 0.5, 0.9):
        r = hsc_radius(thr)
        h = np.sqrt(r ** 2 + 1) - 1
        assert 1 - np.exp(-h) == pytest.approx(thr)


def test_without_oe_only_the_unsupervised_method_trains():
    res = fit_toy(ToySetup(n_oe=0, epochs=20))
    assert res.fits["hsc"] is None and res.fits["bce"] is None
    assert res.fits["deep-svdd"] is not None
    fig = plots.toy_figure(res)
    assert sum(t.type == "contour" for t in fig.data) == 2  # Deep SVDD's landscape + boundary
    assert any("trains only with OE points" in a.text for a in fig.layout.annotations)


def test_figures_have_a_landscape_and_a_boundary_per_method(blob):
    fig = plots.toy_figure(blob)
    contours = [t for t in fig.data if t.type == "contour"]
    assert len(contours) == 6
    assert {t.name for t in contours} == {f"{m} {k}" for m in ("deep-svdd", "hsc", "bce")
                                          for k in ("score", "boundary")}
    out = plots.hsc_output_figure(blob)
    assert [t.name for t in out.data] == ["nominal", "oe", "test anomalies", "boundary"]
    # in HSC's output space, nominal points sit nearer the centre than OE points
    z = blob.fits["hsc"].outputs
    assert np.linalg.norm(z["nominal"], axis=1).mean() < np.linalg.norm(z["oe"], axis=1).mean()


def test_added_anomalies_join_the_oe():
    a = make_points(ToySetup(n_oe=4))[1]
    b = make_points(ToySetup(n_oe=4, extra_oe=((2.0, 2.0), (-1.0, 3.0))))[1]
    assert len(b) == len(a) + 2 and np.allclose(b[-1], [-1.0, 3.0])


def test_ideas_page_renders_and_takes_added_anomalies():
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.query_params["methods"] = "deep-svdd"
    at.run()
    at.switch_page("views/ideas.py").run()
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert sum(t["type"] == "contour" for t in specs[0]["data"]) == 6
    at.button(key="toy_add").click().run()
    assert not at.exception and at.session_state["toy_added"] == "2,2"
    assert at.query_params["toy_added"] == "2,2"
