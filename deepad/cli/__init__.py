"""The command line: `python -m deepad run|datasets|methods ...`.

Bad input exits with code 2 and one line on stderr naming the problem and the fix; a run that fails
in training exits with 1. With --json, stdout carries exactly one JSON object and everything else
(progress, notes) goes to stderr.
"""

from __future__ import annotations

import contextlib
import sys

from ..errors import DeepadError
from ..parsing import parse_method_params  # noqa: F401 - where scripts found it before
from .common import STDOUT, _Parser
from .mlflow import _mlflow_parser, cmd_mlflow_export
from .models import _score_parsers, cmd_export, cmd_score
from .run import _run_parser, cmd_datasets, cmd_methods, cmd_run
from .stored import _bundle_parser, _table_parser, cmd_bundle, cmd_runs, cmd_table
from .sweeps import _sweep_grid, _sweep_parser, cmd_sweep  # noqa: F401 - _sweep_grid: tests


def build_parser() -> _Parser:
    """The whole command line's parser (every sub-command)."""
    ap = _Parser(prog="python -m deepad", description="Deep anomaly detection with outlier exposure.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    _run_parser(sub)
    _sweep_parser(sub)
    _table_parser(sub)
    _score_parsers(sub)
    _bundle_parser(sub)
    _mlflow_parser(sub)
    p = sub.add_parser("datasets", help="list data sets, their classes and where they are")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("methods", help="list methods")
    p.add_argument("--json", action="store_true")
    return ap


def main(argv=None) -> int:
    STDOUT[0] = sys.stdout
    ap = build_parser()
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed
        return e.code if isinstance(e.code, int) else 2
    handler = {"run": cmd_run, "datasets": cmd_datasets, "methods": cmd_methods,
               "sweep": cmd_sweep, "table": cmd_table, "score": cmd_score, "runs": cmd_runs,
               "export": cmd_export, "bundle": cmd_bundle,
               "mlflow-export": cmd_mlflow_export}[a.cmd]
    try:
        # With --json, anything a library prints must not reach stdout.
        ctx = contextlib.redirect_stdout(sys.stderr) if getattr(a, "json", False) else contextlib.nullcontext()
        with ctx:
            return handler(a)
    except DeepadError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; finished runs are in the cache", file=sys.stderr)
        return 130
