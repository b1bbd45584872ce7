"""`deepad mlflow-export`: stored runs logged to MLflow (a local file store here) with their config,
metrics, loss history, key and plots; exported once however often it is asked; bad input refused
with one line and nothing logged. Two runs on the bundled digits, trained once for the module."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

pytest.importorskip("mlflow")

import deepad  # noqa: E402
from deepad import RunConfig, RunStore, get_or_train, make_config  # noqa: E402
from deepad.cli import main  # noqa: E402
from deepad.mlflow_export import MAX_VALUE, config_params  # noqa: E402

EPOCHS = 2


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A store with two short runs (normal classes 0 and 1); tests work on copies of it."""
    root = tmp_path_factory.mktemp("mlflow-template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPAD_DATASET_CACHE", str(root / "decoded"))
        mp.setenv("DEEPAD_OFFLINE", "1")
        store = RunStore(root / "cache")
        for k in (0, 1):
            cfg = make_config(dataset="digits", normal_class=k, oe="photos", oe_size=32,
                              method="hsc", epochs=EPOCHS, seed=5)
            get_or_train(cfg, store=store)
    return root / "cache"


@pytest.fixture
def store(template, tmp_path, monkeypatch):
    root = tmp_path / "cache"
    shutil.copytree(template, root)
    monkeypatch.setenv("DEEPAD_CACHE", str(root))
    return RunStore(root)


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _runs(monkeypatch, uri, experiment="deepad"):
    """(a client of the file store, the runs of `experiment` there)."""
    from mlflow.tracking import MlflowClient
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 wants it to read a file store
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return client, ([] if exp is None else client.search_runs([exp.experiment_id]))


def test_round_trip_and_export_again_logs_nothing(store, tmp_path, capsys, monkeypatch):
    uri = f"file://{tmp_path}/mlruns"
    code, out, err = _cli(capsys, "mlflow-export", "--tracking-uri", uri, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["exported"] == 2 and res["skipped"] == 0 and res["tracking_uri"] == uri
    client, runs = _runs(monkeypatch, uri)
    assert len(runs) == 2 and {r.info.experiment_id for r in runs} == {res["experiment_id"]}
    for r in runs:
        key = r.data.tags["deepad.key"]
        stored = store.get(key)
        assert r.data.tags["deepad.version"] == deepad.__version__
        assert r.data.tags["deepad.dataset"] == "digits" and r.data.tags["deepad.method"] == "hsc"
        assert r.info.status == "FINISHED"
        # params: the config, as strings
        expected = {k: json.dumps(v) if isinstance(v, list) else str(v)
                    for k, v in stored.config.to_dict().items() if k != "method_params"}
        expected.update((f"method_params.{k}", str(v)) for k, v in stored.config.method_params)
        assert r.data.params == expected
        (tmp_path / key).mkdir()
        got = client.download_artifacts(r.info.run_id, "config.json", str(tmp_path / key))
        with open(got) as f:
            assert RunConfig.from_dict(json.load(f)).key == key
        for m in ("auroc", "auprc", "fpr_at_95_tpr"):
            assert r.data.metrics[m] == pytest.approx(stored.metrics[m], rel=1e-12)
        loss = sorted(client.get_metric_history(r.info.run_id, "train_loss"), key=lambda x: x.step)
        assert [x.step for x in loss] == list(range(1, EPOCHS + 1)) == \
            list(range(1, len(stored.history) + 1))
        assert [x.value for x in loss] == pytest.approx(stored.history, rel=1e-12)
        arts = {a.path: a.file_size for a in client.list_artifacts(r.info.run_id)}
        assert {"roc.png", "score_histogram.png"} <= set(arts)
        assert arts["roc.png"] > 1000 and arts["score_histogram.png"] > 1000

    # again: already there, nothing new
    code, out, err = _cli(capsys, "mlflow-export", "--tracking-uri", uri)
    assert code == 0, err
    assert out.strip().startswith("exported 0, already there 2")
    assert len(_runs(monkeypatch, uri)[1]) == 2


def test_filters_and_run_keys_select_a_subset(store, tmp_path, capsys, monkeypatch):
    uri = f"file://{tmp_path}/mlruns"
    one = store.query(normal_class=1)[0]["key"]
    code, out, err = _cli(capsys, "mlflow-export", "--tracking-uri", uri, "--normal-class", "1",
                          "--experiment", "mine", "--json")
    assert code == 0, err
    assert json.loads(out)["keys"] == [one]
    assert [r.data.tags["deepad.key"] for r in _runs(monkeypatch, uri, "mine")[1]] == [one]
    # a run already on the tracking URI counts, whatever experiment it went to
    code, out, err = _cli(capsys, "mlflow-export", "--tracking-uri", uri, "--run", one, "--json")
    assert code == 0, err
    assert json.loads(out)["skipped"] == 1 and json.loads(out)["exported"] == 0
    code, out, err = _cli(capsys, "mlflow-export", "--tracking-uri", uri, "--json")
    assert code == 0, err
    assert json.loads(out)["exported"] == 1 and json.loads(out)["skipped"] == 1


def _refused(capsys, *argv):
    code, out, err = _cli(capsys, "mlflow-export", *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    return err


def test_unreachable_tracking_uri_is_refused_before_anything_is_logged(store, tmp_path, capsys,
                                                                       monkeypatch):
    err = _refused(capsys, "--tracking-uri", "http://127.0.0.1:9")
    assert "cannot reach" in err and "127.0.0.1:9" in err
    (tmp_path / "a-file").write_text("not a folder")
    uri = f"file://{tmp_path}/a-file/mlruns"
    assert "cannot reach" in _refused(capsys, "--tracking-uri", uri)
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_a_run_that_fails_half_way_is_removed_and_exported_next_time(store, tmp_path, capsys,
                                                                     monkeypatch):
    from mlflow.exceptions import MlflowException

    import deepad.mlflow_export as mx

    def broken(run, folder):
        raise MlflowException("the artifact store is full")
    uri = f"file://{tmp_path}/mlruns"
    with monkeypatch.context() as mp:
        mp.setattr(mx, "_artifacts", broken)
        err = _refused(capsys, "--tracking-uri", uri)
    assert "the artifact store is full" in err and "0 run(s) were exported" in err
    assert _runs(monkeypatch, uri)[1] == []  # the half-logged run was deleted
    code, out, err = _cli(capsys, "mlflow-export", "--tracking-uri", uri, "--json")
    assert code == 0, err
    assert json.loads(out)["exported"] == 2 and len(_runs(monkeypatch, uri)[1]) == 2


def test_no_matching_runs_and_bad_filters_are_refused(store, tmp_path, capsys):
    uri = f"file://{tmp_path}/mlruns"
    assert "no stored runs match" in _refused(capsys, "--tracking-uri", uri, "--dataset", "mnist")
    assert "no stored run 0123456789abcdef" in _refused(capsys, "--tracking-uri", uri, "--run",
                                                        "0123456789abcdef")
    assert "--seed" in _refused(capsys, "--tracking-uri", uri, "--seed", "x")
    assert "--colour" in _refused(capsys, "--tracking-uri", uri, "--colour", "red")
    assert not (tmp_path / "mlruns").exists()


def test_an_empty_store_is_refused(tmp_path, capsys):
    assert "no stored runs match" in _refused(capsys, "--tracking-uri", f"file://{tmp_path}/m")


def test_without_mlflow_says_how_to_install_it(capsys, monkeypatch, tmp_path):
    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.setitem(sys.modules, name, None)
    err = _refused(capsys, "--tracking-uri", f"file://{tmp_path}/m")
    assert "pip install -r requirements-mlflow.txt" in err


def test_params_are_flat_strings_of_bounded_length():
    cfg = RunConfig(dataset="folder:/" + "x" * 2 * MAX_VALUE, method_params=(("nu", 0.25),))
    params = config_params(cfg)
    assert params["method_params.nu"] == "0.25" and "method_params" not in params
    assert params["milestones"] == "[33, 67]" and params["oe_size"] == "None"
    assert all(isinstance(v, str) and len(v) <= MAX_VALUE for v in params.values())
    assert params["dataset"].startswith("folder:/xxx") and params["dataset"].endswith("...")
