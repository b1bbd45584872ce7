"""Commands answered from the run store never load the training stack (deepad.heavy): checked in a
fresh process, by what it imported, not by a timing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBE = ("import sys, json, runpy\n"
         "sys.argv = ['deepad'] + sys.argv[1:]\n"
         "code = 0\n"
         "try:\n    runpy.run_module('deepad', run_name='__main__')\n"
         "except SystemExit as e:\n    code = e.code\n"
         "from importlib.util import _LazyModule\n"
         "loaded = [m for m in ('torch', 'torchvision', 'sklearn', 'scipy') if m in sys.modules\n"
         "          and not isinstance(sys.modules[m], _LazyModule)]\n"
         "print('LOADED=' + json.dumps(loaded), file=sys.stderr)\n"
         "sys.exit(code)\n")
RUN = ["run", "--dataset", "digits", "--normal-class", "2", "--oe", "photos", "--oe-size", "16",
       "--method", "bce", "--epochs", "1", "--seed", "4", "--json"]


def _probe(args):
    r = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, env=os.environ.copy(),
                       capture_output=True, text=True, timeout=300)
    loaded = json.loads(r.stderr.rsplit("LOADED=", 1)[1].splitlines()[0])
    return r, loaded


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One stored run and a bundle of it, made by the real command line."""
    root = tmp_path_factory.mktemp("latency")
    env = {**os.environ, "DEEPAD_CACHE": str(root / "cache")}
    for args in (RUN, ["bundle", "export", "--out", str(root / "r.zip")]):
        subprocess.run([sys.executable, "-m", "deepad", *args], cwd=REPO, env=env, check=True,
                       capture_output=True, timeout=600)
    return root


@pytest.mark.parametrize("args", [RUN, ["runs"], ["table"], ["methods"], ["datasets"],
                                  ["--help"], ["bundle", "info", "BUNDLE"], ["runs", "--json"]],
                         ids=lambda a: " ".join(a[:2]))
def test_answers_from_the_store_import_no_training_stack(stored, args, monkeypatch):
    monkeypatch.setenv("DEEPAD_CACHE", str(stored / "cache"))
    args = [str(stored / "r.zip") if a == "BUNDLE" else a for a in args]
    r, loaded = _probe(args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert loaded == [], f"`deepad {' '.join(args)}` imported {loaded}"
    if args == RUN:
        assert json.loads(r.stdout)["cached"] is True


def test_training_does_load_torch(tmp_path, monkeypatch):
    """The probe can tell: a run that trains loads torch (its metrics and the bundled digits no
    longer need scikit-learn)."""
    monkeypatch.setenv("DEEPAD_CACHE", str(tmp_path / "cache"))
    r, loaded = _probe(RUN)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "torch" in loaded and "sklearn" not in loaded and "scipy" not in loaded
    assert json.loads(r.stdout)["cached"] is False
