"""The reproduction ships with the app: on a fresh clone (empty run store, no data, no network)
the pages open on real CIFAR-10 and MNIST results from results/, and the claims page gives
verdicts. The bundle stays under 25 MB and holds the runs behind BENCHMARKS.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import open_page

from deepad import claims
from deepad.results import Results, bundle_paths, open_bundles
from deepad.store import RunStore

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
LIMIT = 25 * 2 ** 20


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPAD_RESULTS", raising=False)  # the default: the shipped results/
    monkeypatch.setenv("DEEPAD_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("DEEPAD_CACHE", str(tmp_path / "empty-store"))
    monkeypatch.setenv("DEEPAD_DATASET_CACHE", str(tmp_path / "no-decoded"))
    paths = bundle_paths()
    assert paths and all(p.parent == RESULTS for p in paths), paths
    return paths


def _settings(rows, dataset, **match):
    """{(method, class, oe_size, blur_sigma, oe kind)} of the 5-epoch reproduction rows."""
    return {(r["method"], r["normal_class"], r["oe_size"], float(r["blur_sigma"]),
             "none" if r["oe"] == "none" else "noise" if r["oe"].startswith("noise") else "photos")
            for r in rows if r["dataset"] == dataset and r["epochs"] == 5
            and all(r[k] == v for k, v in match.items())}


def test_the_shipped_bundles_are_small_and_hold_the_reproduction(fresh):
    """Every cell of the reproduction's grids (benchmarks/reproduce_plan.py) has at least one
    seed in the shipped bundles: the CIFAR-10 table, the OE-size and blur curves, the MNIST
    grid; no weights; under 25 MB."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import reproduce_plan as plan
    assert sum(p.stat().st_size for p in fresh) <= LIMIT
    bundles, errors = open_bundles(fresh)
    assert errors == []
    assert not any(run.has_weights for b in bundles for run in b.runs.values())  # no models
    rows = Results(RunStore(), bundles).rows()
    cifar, mnist = _settings(rows, "cifar10"), _settings(rows, "mnist")

    def oe(m):
        return "none" if m == "deep-svdd" else "photos"
    want_table = {(m, k, None, 0.0, oe(m)) for m in plan.TABLE_METHODS for k in range(10)}
    want_sizes = {(m, k, None if n == "all" else n, 0.0, "photos") for m in plan.CURVE_METHODS
                  for k in plan.CURVE_CLASSES for n in plan.OE_SIZES}
    want_blur = {(m, k, plan.BLUR_OE_SIZE, s, "photos") for m in plan.CURVE_METHODS
                 for k in plan.CURVE_CLASSES for s in plan.SIGMAS}
    want_mnist = {(m, k, None, 0.0, kind) for m in plan.TABLE_METHODS for k in range(10)
                  for kind in ((oe(m),) if m == "deep-svdd" else ("photos", "noise"))}
    for name, want, have in (("table", want_table, cifar), ("oe-sizes", want_sizes, cifar),
                             ("blur", want_blur, cifar), ("mnist", want_mnist, mnist)):
        assert want <= have, (name, sorted(want - have, key=str)[:5])


def test_every_run_behind_benchmarks_md_ships(fresh):
    """BENCHMARKS.md's generated sections are built from the runs listed in
    benchmarks/results/reproduce_<stage>.csv: every stored one of them is in the shipped
    bundles, with the AUROC the CSV (and so the table) gives."""
    import csv
    bundles, _ = open_bundles(fresh)
    shipped = {k: run.metrics["auroc"] for b in bundles for k, run in b.runs.items()}
    listed = 0
    for f in sorted((REPO / "benchmarks" / "results").glob("reproduce_*.csv")):
        if f.name.endswith("_curve.csv"):
            continue
        with open(f, newline="") as fh:
            done = [r for r in csv.DictReader(fh) if r.get("status") == "done"]
        missing = [r["run_key"] for r in done if r["run_key"] not in shipped]
        assert not missing, (f.name, len(missing), missing[:5])
        for r in done:
            assert float(r["auroc"]) == pytest.approx(shipped[r["run_key"]], abs=1e-5), (f.name, r)
        listed += len(done)
    assert listed >= 250


@pytest.mark.parametrize("page, prefix, widget", [
    ("views/oe_samples.py", "oes", "oes_sizes"),
    ("views/blur.py", "blur", "blur_sigmas"),
    ("views/table.py", "tab", "tab_methods"),
])
def test_a_fresh_clone_opens_each_page_on_real_cifar10_results(fresh, page, prefix, widget):
    at = open_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.session_state[f"{prefix}_dataset"] == "cifar10"
    assert len(at.session_state[widget]) >= 2
    shown = at.get("plotly_chart") or at.dataframe
    assert shown
    text = " ".join(c.value for c in at.caption)
    assert "reproduction" in text  # runs from the shipped bundle, said so
    assert not any(b.label.startswith("Compute") and not b.disabled for b in at.button
                   if "0 of" in b.label)


def test_mnist_results_are_a_click_away(fresh):
    at = open_page("views/table.py", {"tab_dataset": "mnist", "tab_methods": "hsc,bce,deep-svdd"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert len(table) == 11  # ten digits and the mean
    assert table.iloc[:10].notna().all().all()


def test_the_claims_page_gives_at_least_six_verdicts(fresh):
    at = open_page("views/claims.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    decided = [m.value for m in at.markdown
               if claims.HOLDS in m.value or claims.FAILS in m.value]
    verdicts = claims.evaluate(Results(RunStore(), open_bundles(fresh)[0]).rows())
    assert sum(v.verdict != claims.UNKNOWN for v in verdicts) >= 6, [
        (v.id, v.verdict, v.evidence) for v in verdicts]
    assert len(decided) >= 6
