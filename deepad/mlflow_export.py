"""Stored runs logged to an MLflow tracking server or file store, for teams that compare runs there.

Each run becomes one finished MLflow run: config as params, metrics and per-epoch training loss as
metrics, key and deepad's version as tags, ROC curve and score histogram (deepad.plots_static) as
PNG artifacts. The key tag makes the export idempotent: a run whose key is on the tracking URI
already is left alone. MLflow is optional, so it is imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

from .errors import DeepadError

KEY_TAG = "deepad.key"
METRICS = ("auroc", "auprc", "fpr_at_95_tpr", "auroc_heldout")
LOSS = "train_loss"
# MLflow servers before 2.x refused param values over 500 characters; cut there (the full config
# goes along as config.json) so an export never fails on a long data-set path.
MAX_VALUE = 500
INSTALL = "pip install -r requirements-mlflow.txt"


def client_class():
    """MlflowClient, or a DeepadError that says how to install MLflow."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise DeepadError(f"MLflow is not installed; install it with `{INSTALL}` (or `pip "
                          f"install mlflow-skinny`)") from None
    return MlflowClient


def _env(**values):
    """Environment variables set for a while (MLflow reads its settings there on each use)."""
    from unittest import mock
    return mock.patch.dict(os.environ, values)


def _is_file(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file:")


def _reason(e: Exception) -> str:
    """A short plain reason from MLflow's (often very long) error text."""
    text = str(e)
    if "Failed to establish a new connection" in text or "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "no answer in time"
    return _cut((text.strip().splitlines() or [type(e).__name__])[0], 160)


def connect(uri: str, timeout: float = 5.0):
    """A client whose tracking URI answered one cheap request (no retries, a short timeout), so
    that an unreachable server is reported before anything is logged."""
    MlflowClient = client_class()
    with _env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=str(int(timeout))):
        try:
            client = MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)
        except Exception as e:  # MLflow raises many types (its own, requests', OSError)
            fix = "make its folder writable" if _is_file(uri) else "start the server"
            raise DeepadError(f"cannot reach the MLflow tracking URI {uri} ({_reason(e)}); {fix} "
                              f"or give another --tracking-uri") from None
    return client


def _experiment_id(client, name: str) -> str:
    """The experiment's id, made when missing; a deleted one cannot take runs."""
    if (exp := client.get_experiment_by_name(name)) is None:
        return client.create_experiment(name)
    if exp.lifecycle_stage == "deleted":
        raise DeepadError(f"the MLflow experiment '{name}' is deleted; restore it (`mlflow "
                          f"experiments restore`) or choose another --experiment")
    return exp.experiment_id


def present_keys(client) -> set:
    """Keys of the runs already exported anywhere on this tracking URI (finished, not deleted)."""
    ids = [e.experiment_id for e in _pages(client.search_experiments)]
    query = f"tags.`{KEY_TAG}` LIKE '%' AND attributes.status = 'FINISHED'"
    return {r.data.tags.get(KEY_TAG) for r in _pages(client.search_runs, ids, query)} if ids else set()


def _pages(search, *args):
    """Every result of an MLflow search, page after page."""
    token = None
    while True:
        page = search(*args, max_results=1000, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _cut(value, limit: int = MAX_VALUE) -> str:
    s = value if isinstance(value, str) else json.dumps(value) if isinstance(value, list) else str(value)
    return s if len(s) <= limit else s[:limit - 3] + "..."


def config_params(cfg) -> dict:
    """The config as MLflow params: strings, lists as JSON, method_params flattened to
    `method_params.<name>` (each searchable on its own)."""
    out = {}
    for k, v in cfg.to_dict().items():
        if isinstance(v, dict):
            out.update((f"{k}.{name}", _cut(x)) for name, x in sorted(v.items()))
        else:
            out[k] = _cut(v)
    return out


def run_tags(run, source: str | None = None) -> dict:
    from . import __version__
    c = run.config
    tags = {KEY_TAG: run.key, "deepad.version": __version__, "deepad.dataset": c.dataset,
            "deepad.method": c.method, "deepad.normal_class": str(c.normal_class),
            "deepad.oe": c.oe, "mlflow.source.name": "deepad mlflow-export"}
    return {k: _cut(v) for k, v in {**tags, "deepad.source": source or "local store"}.items()}


def _metrics(run, Metric, stamp: int) -> list:
    out = [Metric(n, float(run.metrics[n]), stamp, 0) for n in METRICS
           if isinstance(run.metrics.get(n), (int, float))]
    return out + [Metric(LOSS, float(v), stamp, epoch)
                  for epoch, v in enumerate(run.history, start=1) if isinstance(v, (int, float))]


def _artifacts(run, folder: Path) -> None:
    """The run's ROC curve and score histogram, drawn as the dashboard draws them, and the full
    config (params are cut at MAX_VALUE characters)."""
    from .plots_static import histogram_png, roc_png
    c = run.config
    curve = {"name": f"{c.method}, class {c.normal_class}, seed {c.seed}", "labels": run.labels,
             "scores": run.scores}
    (folder / "roc.png").write_bytes(roc_png([curve]))
    (folder / "score_histogram.png").write_bytes(histogram_png([curve]))
    (folder / "config.json").write_text(json.dumps(c.to_dict(), indent=1, sort_keys=True))


def _log_one(client, experiment_id: str, run, source: str | None) -> str:
    """Log one run; a run left half-logged by an error is deleted, so that it is retried."""
    from mlflow.entities import Metric, Param
    c = run.config
    created = run.metrics.get("created")
    stamp = int(1000 * created) if isinstance(created, (int, float)) else int(1000 * time.time())
    name = f"{c.method} {c.dataset.split(':')[0]} class {c.normal_class} seed {c.seed}"
    rid = client.create_run(experiment_id, start_time=stamp, tags=run_tags(run, source),
                            run_name=name).info.run_id
    try:
        # the client splits a batch into the sizes the server takes
        client.log_batch(rid, metrics=_metrics(run, Metric, stamp),
                         params=[Param(k, v) for k, v in config_params(c).items()])
        with tempfile.TemporaryDirectory() as d:
            _artifacts(run, Path(d))
            client.log_artifacts(rid, d)
        client.set_terminated(rid, "FINISHED")
    except BaseException:
        with contextlib.suppress(Exception):
            client.delete_run(rid)
        raise
    return rid


def export_runs(runs, tracking_uri: str, experiment: str = "deepad", progress=None) -> dict:
    """Log `runs` (StoredRun or BundleRun, or (run, source) pairs) to the tracking URI; those whose
    key is there already are skipped. Returns {exported, skipped, experiment_id, ...}."""
    pairs = [r if isinstance(r, tuple) else (r, None) for r in runs]
    # MLflow 3 refuses a file store unless asked to take one; naming one asks for it
    with _env(**({"MLFLOW_ALLOW_FILE_STORE": "true"} if _is_file(tracking_uri) else {})):
        client = connect(tracking_uri)
        from mlflow.exceptions import MlflowException
        try:
            eid = _experiment_id(client, experiment)
            there = present_keys(client)
        except MlflowException as e:
            raise DeepadError(f"MLflow at {tracking_uri} refused the experiment '{experiment}' "
                              f"({_reason(e)}); check --experiment and the server") from None
        todo = list({r.key: (r, s) for r, s in pairs if r.key not in there}.values())
        done = []
        for run, source in todo:
            try:
                _log_one(client, eid, run, source)
            except MlflowException as e:
                raise DeepadError(f"MLflow refused run {run.key} ({_reason(e)}); {len(done)} "
                                  f"run(s) were exported before it; run the command again for "
                                  f"the rest") from None
            done.append(run.key)
            if progress:
                progress(len(done), len(todo), run.key)
    return {"exported": len(done), "skipped": len({r.key for r, _ in pairs}) - len(todo),
            "experiment": experiment, "experiment_id": eid, "tracking_uri": tracking_uri,
            "keys": done}
