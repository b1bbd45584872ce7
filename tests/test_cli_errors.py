"""The command line's error contract and its listings.

Bad input: exit code 2, one line `error: ...` on stderr that names the offending value or flag, no
traceback, and no run in the run store (DEEPAD_CACHE). Most cases call `deepad.cli.main` in-process
(fast); a few run `python -m deepad` in a subprocess to check the real exit code, stderr and stdout.

The shared data folder is $DEEPAD_SHARED_DATA, else ../shared/data from the repository root (MNIST
raw files); tests that need it skip when it is absent.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepad.cli import main
from deepad.data import sources

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("DEEPAD_SHARED_DATA", REPO / ".." / "shared" / "data")).resolve()
STATUSES = ("on disk", "bundled", "needs download", "generated")


# --------------------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Bad (and one small good) data folders, written once for the module."""
    root = tmp_path_factory.mktemp("folders")
    rng = np.random.default_rng(0)

    def png(path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path)

    f = {name: root / name for name in ("flat5", "empty", "txt", "fakepng", "onecls", "tiny3",
                                       "tinydir", "data_empty")}
    for i in range(5):
        png(f["flat5"] / f"{i}.png")
    f["empty"].mkdir()
    f["data_empty"].mkdir()
    f["txt"].mkdir()
    (f["txt"] / "readme.txt").write_text("not an image")
    (f["txt"] / "notes.md").write_text("not an image either")
    f["fakepng"].mkdir()
    for i in range(3):
        (f["fakepng"] / f"{i}.png").write_text("this is text, not a PNG")
    for i in range(3):
        png(f["onecls"] / "cat" / f"{i}.png")
    png(f["tiny3"] / "a" / "0.png")  # 2 classes, too few images for a test split
    png(f["tiny3"] / "a" / "1.png")
    png(f["tiny3"] / "b" / "0.png")
    f["tinydir"].mkdir()
    f["missing"] = root / "no-such-folder"
    f["afile"] = root / "afile.png"
    png(f["afile"])
    f["badbin"] = root / "tiny_images.bin"
    f["badbin"].write_bytes(b"\0" * 5000)  # not a multiple of 3072
    f["goodbin"] = root / "tiny" / "tiny_images.bin"
    f["goodbin"].parent.mkdir()
    f["goodbin"].write_bytes(b"\0" * 3072 * 2)  # two black images
    return f


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh run store, offline, with the shared data as the data root."""
    c = tmp_path / "cache"
    monkeypatch.setenv("DEEPAD_CACHE", str(c))
    monkeypatch.setenv("DEEPAD_OFFLINE", "1")
    monkeypatch.setenv("DEEPAD_DATA", str(DATA))
    return c


def _env(cache: Path, data: Path = DATA) -> dict:
    env = dict(os.environ)
    env.update(DEEPAD_CACHE=str(cache), DEEPAD_OFFLINE="1", DEEPAD_DATA=str(data))
    return env


def _cli(args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deepad", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def _last_line(err: str) -> str:
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def assert_no_runs(cache: Path) -> None:
    if not cache.exists():
        return
    assert not list(cache.glob("runs/*/manifest.json")), "a run was written to the store"
    db = cache / "index.sqlite"
    if db.exists():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "runs" in tables:
                assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0, \
                    "the index has rows"
        finally:
            con.close()


def assert_bad_input(rc, err, needles, cache) -> None:
    assert rc == 2, f"exit code {rc}, stderr:\n{err}"
    assert "Traceback" not in err, err
    last = _last_line(err)
    assert last.startswith("error:"), f"last stderr line is not an error line: {last!r}\n{err}"
    assert "\n" not in last
    for n in needles:
        assert n.lower() in last.lower(), f"{n!r} not in {last!r}"
    assert_no_runs(cache)


# --------------------------------------------------------------------------- bad input, in-process

# (id, args, needles that the error line must contain); {name} is a path from `folders`.
BAD = [
    ("dataset-unknown", ["--dataset", "nosuch"], ["unknown data set", "'nosuch'"]),
    ("method-unknown", ["--method", "nosuch"], ["unknown method", "'nosuch'"]),
    ("oe-unknown", ["--oe", "nosuch"], ["unknown data set", "'nosuch'"]),
    ("class-index", ["--normal-class", "12"], ["digits", "class 12"]),
    ("class-negative", ["--normal-class", "-1"], ["digits", "class -1"]),
    ("class-name", ["--normal-class", "zebra"], ["digits", "'zebra'"]),
    ("oe-size-0", ["--oe-size", "0"], ["OE size", "got 0"]),
    ("oe-size-neg", ["--oe-size", "-3"], ["OE size", "got -3"]),
    ("oe-size-abc", ["--oe-size", "abc"], ["OE size", "'abc'"]),
    ("oe-size-float", ["--oe-size", "1.5"], ["OE size", "'1.5'"]),
    ("oe-size-photos", ["--oe-size", "100000"], ["OE size 100000", "OE pool"]),
    ("oe-size-folder", ["--oe", "folder:{flat5}", "--oe-size", "100000"],
     ["OE size 100000", "5 image files", "{flat5}"]),
    ("oe-size-noise", ["--oe", "noise-uniform", "--oe-size", "20000"], ["OE size 20000"]),
    ("blur-neg", ["--blur-sigma", "-1"], ["blur sigma", "-1"]),
    ("blur-nan", ["--blur-sigma", "nan"], ["blur sigma", "nan"]),
    ("blur-inf", ["--blur-sigma", "inf"], ["blur sigma", "inf"]),
    ("blur-abc", ["--blur-sigma", "abc"], ["blur sigma", "'abc'"]),
    ("blur-huge", ["--blur-sigma", "1e9"], ["blur sigma", "1e9"]),  # was an OOM traceback
    ("epochs-0", ["--epochs", "0"], ["epochs", "got 0"]),
    ("epochs-neg", ["--epochs", "-1"], ["epochs", "got -1"]),
    ("epochs-float", ["--epochs", "1.5"], ["epochs", "'1.5'"]),
    ("seed-x", ["--seed", "x"], ["seed", "'x'"]),
    ("seed-neg", ["--seed", "-1"], ["seed", "-1"]),  # was a numpy traceback
    ("seed-huge", ["--seed", str(10 ** 20)], ["seed", str(10 ** 20)]),  # was a torch traceback
    ("oe-classes-0", ["--oe-classes", "0"], ["OE classes", "got 0"]),
    ("oe-classes-999", ["--oe-classes", "999"], ["OE classes 999", "photos"]),
    ("oe-classes-abc", ["--oe-classes", "abc"], ["OE classes", "'abc'"]),
    ("oe-classes-noise", ["--oe", "noise-uniform", "--oe-classes", "2"], ["OE classes 2"]),
    ("oe-folder-empty", ["--oe", "folder:{empty}"], ["no images found", "{empty}"]),
    ("oe-folder-txt", ["--oe", "folder:{txt}"], ["no images found", "{txt}"]),
    ("oe-folder-fakepng", ["--oe", "folder:{fakepng}"], ["could be read", "{fakepng}"]),
    ("oe-folder-missing", ["--oe", "folder:{missing}"], ["does not exist", "{missing}"]),
    ("oe-folder-is-file", ["--oe", "folder:{afile}"], ["not a folder", "{afile}"]),
    ("oe-folder-no-path", ["--oe", "folder:"], ["'folder:' needs a path"]),
    ("dataset-flat-folder", ["--dataset", "folder:{flat5}"], ["class sub-folder", "{flat5}"]),
    ("dataset-one-class", ["--dataset", "folder:{onecls}"], ["1 class sub-folder", "{onecls}"]),
    ("dataset-folder-missing", ["--dataset", "folder:{missing}"], ["does not exist", "{missing}"]),
    ("dataset-too-few-images", ["--dataset", "folder:{tiny3}"], ["test split", "at least 3 images"]),
    ("dataset-photos", ["--dataset", "photos"], ["'photos'", "OE pool", "--oe"]),
    ("dataset-noise", ["--dataset", "noise-uniform"], ["'noise-uniform'", "OE pool"]),
    ("dataset-empty", ["--dataset", ""], ["empty data-set name"]),
    ("hsc-without-oe", ["--method", "hsc", "--oe", "none"], ["'hsc'", "--oe"]),
    ("tiny-missing", ["--oe", "tiny-images:{missing}"], ["does not exist", "{missing}"]),
    ("tiny-dir", ["--oe", "tiny-images:{tinydir}"], ["is a folder", "{tinydir}"]),
    ("tiny-bad-size", ["--oe", "tiny-images:{badbin}"], ["not an 80M Tiny Images", "{badbin}"]),
    ("tiny-missing-exclude", ["--oe", "tiny-images:{goodbin},exclude={missing}"],
     ["exclude file", "{missing}"]),
    ("gamma-abc", ["--method", "focal", "--gamma", "abc"], ["--gamma", "'abc'"]),
    ("gamma-nan", ["--method", "focal", "--gamma", "nan"], ["--gamma", "'nan'"]),  # was exit 1
    ("gamma-neg", ["--method", "focal", "--gamma", "-1"], ["--gamma", "'-1'"]),  # trained before
    ("gamma-wrong-method", ["--method", "hsc", "--gamma", "2"], ["hsc", "gamma"]),
    ("param-unknown", ["--method", "ocsvm", "--param", "bogus=1"], ["ocsvm", "'bogus'", "nu"]),
    ("param-no-value", ["--method", "ocsvm", "--param", "nu"], ["--param", "NAME=VALUE"]),
    ("param-abc", ["--method", "ocsvm", "--param", "nu=abc"], ["--param nu", "'abc'"]),
    ("param-out-of-range", ["--method", "ocsvm", "--param", "nu=2"], ["nu", "got 2"]),
    ("argparse-unknown-flag", ["--bogus"], ["--bogus"]),
    ("argparse-bad-choice", ["--preset", "nope"], ["--preset", "'nope'"]),
    ("argparse-bad-budget", ["--budget", "nope"], ["--budget", "'nope'"]),
    ("argparse-missing-value", ["--epochs"], ["--epochs"]),
]


@pytest.mark.parametrize("args,needles", [pytest.param(a, n, id=i) for i, a, n in BAD])
def test_bad_input(args, needles, folders, cache, capsys):
    fmt = {k: str(v) for k, v in folders.items()}
    args = [a.format(**fmt) for a in args]
    needles = [n.format(**fmt) for n in needles]
    rc = main(["run", "--epochs", "1", *args] if "--epochs" not in args else ["run", *args])
    err = capsys.readouterr().err
    assert_bad_input(rc, err, needles, cache)


def test_torchvision_set_not_on_disk(folders, cache, monkeypatch, capsys):
    """Offline and not under DEEPAD_DATA: name the data set, the folder and the alternatives,
    as nominal data and as OE."""
    monkeypatch.setenv("DEEPAD_DATA", str(folders["data_empty"]))
    for args in (["--dataset", "fashion-mnist"], ["--dataset", "mnist", "--method", "ae"],
                 ["--oe", "fashion-mnist"]):
        rc = main(["run", "--epochs", "1", *args])
        err = capsys.readouterr().err
        name = args[1]
        assert_bad_input(rc, err, [f"'{name}'", str(folders["data_empty"]), "DEEPAD_OFFLINE",
                                   "digits", "folder:PATH"], cache)


def test_unwritable_store(tmp_path, monkeypatch, capsys):
    """DEEPAD_CACHE that is a file: a clear error, exit 2, the file untouched."""
    bad = tmp_path / "cache-is-a-file"
    bad.write_text("x")
    monkeypatch.setenv("DEEPAD_CACHE", str(bad))
    monkeypatch.setenv("DEEPAD_OFFLINE", "1")
    rc = main(["run", "--epochs", "1", "--oe-size", "8"])
    err = capsys.readouterr().err
    assert rc == 2 and _last_line(err).startswith("error:") and "DEEPAD_CACHE" in _last_line(err)
    assert bad.read_text() == "x"


def test_no_subcommand(capsys):
    assert main([]) == 2
    last = _last_line(capsys.readouterr().err)
    assert last.startswith("error:") and "cmd" in last


def test_deep_svdd_ignores_oe_settings(cache, capsys):
    """OE settings with a method that never uses OE: a note, not an error (as for --oe)."""
    from deepad.config import make_config
    notes = []
    cfg = make_config(method="deep-svdd", oe="none", oe_size="5", blur_sigma="1", notes=notes)
    assert cfg.oe == "none" and cfg.oe_size is None and cfg.blur_sigma == 0 and notes


# --------------------------------------------------------------------------- subprocess contract

SUBPROCESS_BAD = [
    ("dataset-unknown", ["run", "--dataset", "nosuch"], ["nosuch"]),
    ("seed-neg-json", ["run", "--seed", "-1", "--json"], ["seed", "-1"]),
    ("argparse", ["run", "--bogus"], ["--bogus"]),
]


@pytest.mark.parametrize("args,needles", [pytest.param(a, n, id=i) for i, a, n in SUBPROCESS_BAD])
def test_bad_input_subprocess(args, needles, tmp_path):
    cache = tmp_path / "cache"
    p = _cli(args, _env(cache))
    assert_bad_input(p.returncode, p.stderr, needles, cache)
    assert p.stdout == "", "bad input printed to stdout"
    assert len([ln for ln in p.stderr.splitlines() if ln.strip()]) == 1, p.stderr


def test_fashion_mnist_missing_subprocess(folders, tmp_path):
    cache = tmp_path / "cache"
    p = _cli(["run", "--dataset", "fashion-mnist"], _env(cache, folders["data_empty"]))
    assert_bad_input(p.returncode, p.stderr,
                     ["fashion-mnist", str(folders["data_empty"]), "digits"], cache)


# --------------------------------------------------------------------------- listings and runs

def test_datasets_lists_every_source(tmp_path):
    if not (DATA / "MNIST").is_dir():
        pytest.skip(f"shared data not found at {DATA} (set DEEPAD_SHARED_DATA)")
    p = _cli(["datasets"], _env(tmp_path / "cache"))
    assert p.returncode == 0, p.stderr
    status = {}
    for line in p.stdout.splitlines():
        parts = line.split(maxsplit=1)
        if parts and parts[0] in sources.REGISTRY:
            status[parts[0]] = next((s for s in STATUSES if parts[1].startswith(s)), None)
    assert set(status) == set(sources.REGISTRY), p.stdout
    assert all(status.values()), status
    assert status["mnist"] == "on disk"
    assert status["digits"] == "bundled" and status["noise-uniform"] == "generated"
    assert not (tmp_path / "cache").exists(), "listing data sets wrote to the run store"


def test_datasets_json_and_needs_download(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("DEEPAD_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("DEEPAD_OFFLINE", "1")
    assert main(["datasets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capfd.readouterr().out)}
    assert set(rows) == set(sources.REGISTRY)
    assert rows["mnist"]["status"] == "needs download"
    assert rows["photos"]["role"] == "OE only"


def test_methods_lists_all(tmp_path):
    p = _cli(["methods"], _env(tmp_path / "cache"))
    assert p.returncode == 0, p.stderr
    listed = {line.split()[0] for line in p.stdout.splitlines() if line.strip()}
    assert {"hsc", "deep-sad", "bce", "focal", "deep-svdd", "ae"} <= listed


def test_run_json_one_object(tmp_path, monkeypatch, capfd):
    cache = tmp_path / "cache"
    args = ["run", "--json", "--dataset", "digits", "--oe", "photos", "--oe-size", "64",
            "--epochs", "2"]
    p = _cli(args, _env(cache))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().count("\n") == 0, f"more than one line on stdout:\n{p.stdout}"
    out = json.loads(p.stdout)
    for k in ("run_key", "cached", "auroc", "auprc", "fpr_at_95_tpr", "train_seconds", "config"):
        assert k in out, k
    for k in ("auroc", "auprc", "fpr_at_95_tpr"):
        assert isinstance(out[k], float) and 0.0 <= out[k] <= 1.0, (k, out[k])
    assert out["cached"] is False and out["train_seconds"] >= 0
    assert out["config"]["oe"] == "photos" and out["config"]["oe_size"] == 64
    assert out["config"]["epochs"] == 2
    assert len(list(cache.glob("runs/*/manifest.json"))) == 1

    # The same request again (in-process): served from the store, same key, one JSON object.
    monkeypatch.setenv("DEEPAD_CACHE", str(cache))
    monkeypatch.setenv("DEEPAD_OFFLINE", "1")
    capfd.readouterr()
    assert main(args) == 0
    again = json.loads(capfd.readouterr().out)
    assert again["cached"] is True and again["run_key"] == out["run_key"]


def test_deep_svdd_ignores_oe(cache, capfd):
    rc = main(["run", "--json", "--method", "deep-svdd", "--oe", "photos", "--epochs", "2"])
    cap = capfd.readouterr()
    assert rc == 0, cap.err
    out = json.loads(cap.out)
    assert out["config"]["oe"] == "none" and out["config"]["method"] == "deep-svdd"
    notes = [ln for ln in cap.err.splitlines() if ln.startswith("note:")]
    assert any("outlier exposure" in n and "ignor" in n for n in notes), cap.err
