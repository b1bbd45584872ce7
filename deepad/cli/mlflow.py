"""`mlflow-export`: log stored runs to an MLflow tracking server (deepad.mlflow_export).

The runs are chosen with the filter flags of `table` and `runs` (and run keys); runs of result
bundles can be added with --bundle. MLflow is imported only when the command runs.
"""

from __future__ import annotations

import json
import sys

from ..errors import DeepadError
from .common import stdout
from .stored import _add_filters, _filters, _matches


def _mlflow_parser(sub):
    p = sub.add_parser("mlflow-export", help="log stored runs to an MLflow tracking server",
                       description="Log each stored run that matches the filters (all runs "
                                   "without any) as an MLflow run: its config as params, AUROC, "
                                   "AUPRC, FPR at 95% TPR and the training loss per epoch as "
                                   "metrics, its run key and deepad's version as tags, its ROC "
                                   "curve and score histogram as PNG artifacts. Runs already on "
                                   "the tracking server (by their key) are skipped. Needs MLflow: "
                                   "pip install -r requirements-mlflow.txt")
    p.add_argument("--tracking-uri", required=True, metavar="URI",
                   help="the MLflow tracking URI, e.g. http://127.0.0.1:5000 or file:///tmp/mlruns")
    p.add_argument("--experiment", default="deepad", metavar="NAME",
                   help="the MLflow experiment to log into (made when missing; default deepad)")
    _add_filters(p)
    p.add_argument("--run", action="append", default=[], metavar="KEY",
                   help="a run key (repeatable; with filters, runs that match either)")
    p.add_argument("--bundle", action="append", default=[], metavar="FILE",
                   help="also the runs of this result bundle (repeatable); a key stored locally "
                        "is taken from the store")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: exported, skipped, experiment_id, tracking_uri")
    return p


def _results(bundle_files: list):
    """The local store and the named bundles as one collection (deepad.results.Results)."""
    from ..results import Results, bundle_paths, open_bundles
    bundles, errors = open_bundles(bundle_paths(",".join(bundle_files))) if bundle_files else ([], [])
    if errors:
        raise DeepadError(errors[0])
    return Results(bundles=bundles)


def _chosen(a) -> list:
    """(run, source) pairs of the runs the flags name, in index order; one error when none."""
    filters = _filters(a)
    res = _results(a.bundle)
    rows = res.rows()
    keys = [r["key"] for r in rows if _matches(r, filters)] if filters or not a.run else []
    chosen = {}
    for key in keys + [k.strip() for k in a.run]:
        run = res.get(key)
        if run is None and key not in keys:
            raise DeepadError(f"no stored run {key}; see `python -m deepad runs` for the keys")
        if run is not None:
            chosen.setdefault(run.key, (run, res.source(run.key)))
    if not chosen:
        raise DeepadError("no stored runs match these filters; see `python -m deepad runs` for "
                          "what is stored, or train some with `python -m deepad run`")
    return list(chosen.values())


def cmd_mlflow_export(a) -> int:
    from ..mlflow_export import client_class, export_runs
    client_class()  # says how to install MLflow before anything else is read
    runs = _chosen(a)

    def progress(n, total, key):
        print(f"exported {n}/{total}: {key}", file=sys.stderr)
    res = export_runs(runs, a.tracking_uri, a.experiment, progress=progress)
    if a.json:
        print(json.dumps({k: res[k] for k in ("exported", "skipped", "experiment",
                                              "experiment_id", "tracking_uri", "keys")}),
              file=stdout())
        return 0
    print(f"exported {res['exported']}, already there {res['skipped']} (MLflow experiment "
          f"'{res['experiment']}', id {res['experiment_id']}, at {res['tracking_uri']})",
          file=stdout())
    return 0
