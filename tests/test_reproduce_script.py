"""benchmarks/reproduce.py end to end on tiny settings (the bundled 8x8 digits as nominal data, the
bundled photo patches as OE, 1 epoch): it trains through the run store, writes CSVs whose run keys
are in the store, PNG plots and Markdown whose checks follow from the CSV, and --report-only
rebuilds the same files without training. It checks the script, not the paper's numbers."""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepad.store import RunStore

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "reproduce.py"
TINY = ["--dataset", "digits", "--oe", "photos", "--epochs", "1", "--seeds", "1"]


def _run(args, timeout=600):
    # conftest points DEEPAD_CACHE, DEEPAD_DATA, DEEPAD_OFFLINE and the decoded-data cache at this
    # test's folders through os.environ: hand them to the subprocess
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, env=dict(os.environ),
                          capture_output=True, text=True, timeout=timeout)


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _mean(rows, **match):
    v = [float(r["auroc"]) for r in rows if all(r[k] == str(x) for k, x in match.items())]
    assert v, match
    return 100 * float(np.mean(v))


def _stored_keys(store):
    return {p.name for p in store.runs.iterdir()} if store.runs.exists() else set()


def test_curve_stages_train_plot_check_and_rebuild_from_the_store(tmp_path):
    res = tmp_path / "results"
    args = ["--stage", "oe-sizes,blur", *TINY, "--classes", "0", "--methods", "hsc",
            "--oe-sizes", "1,32,all", "--sigmas", "0,4,32", "--results", str(res)]
    r = _run(args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "done 1, cached 0, failed 0, left 2" in r.stderr  # progress on stderr
    store = RunStore(os.environ["DEEPAD_CACHE"])

    sizes = _csv(res / "reproduce_oe-sizes.csv")
    assert list(sizes[0]) == ["run_key", "dataset", "method", "normal_class", "oe", "oe_size",
                              "blur_sigma", "seed", "epochs", "auroc", "train_seconds", "status"]
    assert [r["oe_size"] for r in sizes] == ["1", "32", "all"]
    for row in sizes + _csv(res / "reproduce_blur.csv"):
        assert row["status"] == "done" and row["epochs"] == "1" and row["dataset"] == "digits"
        run = store.get(row["run_key"])  # every number traceable to a stored run
        assert run is not None and f"{run.metrics['auroc']:.6f}" == row["auroc"]
    for stem in ("oe-sizes", "blur"):
        png = (res / f"reproduce_{stem}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000

    # the '32 is enough' line, computed here from the CSV
    at32, full = _mean(sizes, oe_size=32), _mean(sizes, oe_size="all")
    d = at32 - full
    md = (res / "reproduce_oe-sizes.md").read_text()
    assert (f"AUROC at 32 OE samples {at32:.1f} vs all {full:.1f} ({d:+.1f}): "
            f"**{'holds' if d >= -3 else 'does not hold'}**") in md
    assert "--stage oe-sizes,blur" in md and "HSC: 1 epoch" in md
    assert "![AUROC vs number of OE samples](reproduce_oe-sizes.png)" in md
    blur = _csv(res / "reproduce_blur.csv")
    assert [r["blur_sigma"] for r in blur] == ["0", "4", "32"] and {r["oe_size"] for r in blur} == {"128"}
    b0, b32 = _mean(blur, blur_sigma=0), _mean(blur, blur_sigma=32)
    assert (f"σ=0 {b0:.1f} → σ=32 {b32:.1f} ({b32 - b0:+.1f}): AUROC "
            f"**{'falls' if b32 < b0 else 'does not fall'}**") in (res / "reproduce_blur.md").read_text()

    # --report-only trains nothing and gives the same CSVs
    before = _stored_keys(store)
    again = tmp_path / "again"
    r2 = _run([*args[:-1], str(again), "--report-only"])
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert _stored_keys(store) == before
    assert "done 1" not in r2.stderr
    for stem in ("oe-sizes", "blur"):
        assert (again / f"reproduce_{stem}.csv").read_text() == (res / f"reproduce_{stem}.csv").read_text()
        assert (again / f"reproduce_{stem}.png").exists()

    # a curve run on one class of two: the checks compare like with like and say they are partial
    part = tmp_path / "part"
    r3 = _run([*args[:args.index("--classes")], "--classes", "0,1",
               *args[args.index("--classes") + 2:-1], str(part), "--report-only"])
    assert r3.returncode == 0, r3.stderr[-3000:]
    md = (part / "reproduce_oe-sizes.md").read_text()
    assert (f"AUROC at 32 OE samples {at32:.1f} vs all {full:.1f} ({d:+.1f}): "
            f"**{'holds' if d >= -3 else 'does not hold'}** (on the 1 of 2 class-seed pairs "
            f"stored at both: provisional)") in md
    assert "(provisional: not every run is stored)" in md
    assert (f"σ=0 {b0:.1f} → σ=32 {b32:.1f} ({b32 - b0:+.1f})"
            in (part / "reproduce_blur.md").read_text())


def test_table_reports_missing_cells_and_its_checks(tmp_path):
    res = tmp_path / "results"
    r = _run(["--stage", "table", *TINY, "--classes", "0,1", "--methods", "hsc,bce",
              "--results", str(res)])
    assert r.returncode == 0, r.stderr[-3000:]
    rows = _csv(res / "reproduce_table.csv")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"done"}
    md = (res / "reproduce_table.md").read_text()
    # the mean row and the target check follow from the CSV (mean over classes of class means)
    for m, ref in (("hsc", 95.9), ("bce", 96.1)):
        v = np.mean([_mean(rows, method=m, normal_class=k) for k in (0, 1)])
        assert f"{v:.1f} vs {ref} ({v - ref:+.1f}) (on 2 of 10 classes: provisional)" in md
    assert re.search(r"Target: HSC/BCE mean within 3 points of 95\.9/96\.1: \*\*(met|not met) "
                     r"\(provisional", md)
    assert "Deep SVDD far below: not evaluated" in md

    # a report over more classes than are stored marks the rest as missing, trains nothing
    r2 = _run(["--stage", "table", *TINY, "--classes", "0-2", "--methods", "hsc,bce",
               "--results", str(res), "--report-only"])
    assert r2.returncode == 0, r2.stderr[-3000:]
    rows = _csv(res / "reproduce_table.csv")
    assert [r["status"] for r in rows].count("missing") == 2
    assert re.search(r"^\| 2 \| missing \|[^\n]*\| missing \|", (res / "reproduce_table.md").read_text(),
                     re.M)

    # --into puts the section between its markers in a document and keeps the text around them
    doc = tmp_path / "DOC.md"
    doc.write_text("# Doc\n\nbefore\n\n<!-- reproduce:results/reproduce_table.md -->\nold text\n"
                   "<!-- /reproduce:results/reproduce_table.md -->\n\nafter\n")
    r3 = _run(["--stage", "table", *TINY, "--classes", "0-2", "--methods", "hsc,bce",
               "--results", str(res), "--report-only", "--into", str(doc)])
    assert r3.returncode == 0, r3.stderr[-3000:]
    text = doc.read_text()
    assert "old text" not in text and text.startswith("# Doc\n\nbefore\n") and text.endswith("\nafter\n")
    assert "#### CIFAR-10 one-vs-rest table" not in text  # digits here; the heading is one level down
    md_lines = (res / "reproduce_table.md").read_text().splitlines()
    heading = next(ln for ln in md_lines if ln.startswith("#"))
    assert ("#" + heading) in text.splitlines()
    assert next(ln for ln in md_lines if ln.startswith("| 2 |")) in text.splitlines()

    # a document without the markers is left as it was, and the message says what to add
    plain = tmp_path / "PLAIN.md"
    plain.write_text("nothing to replace\n")
    r4 = _run(["--stage", "table", *TINY, "--classes", "0-2", "--methods", "hsc,bce",
               "--results", str(res), "--report-only", "--into", str(plain)])
    assert r4.returncode == 2 and "<!-- reproduce:PATH -->" in r4.stderr
    assert "results/reproduce_table.md" in r4.stderr
    assert plain.read_text() == "nothing to replace\n"


def test_embed_moves_headings_down_and_image_links_to_the_document(tmp_path):
    mod = _load_script()
    md = "### Title\n\n```bash\n# a comment\n```\n\n![curve](reproduce_blur.png)\n"
    out = mod.embed(md, tmp_path / "benchmarks" / "results" / "reproduce_blur.md", tmp_path / "B.md")
    assert out.splitlines() == ["#### Title", "", "```bash", "# a comment", "```", "",
                                "![curve](benchmarks/results/reproduce_blur.png)"]


def test_full_stage_records_the_test_auroc_during_training(tmp_path):
    res = tmp_path / "results"
    args = ["--stage", "full", *TINY, "--results", str(res)]
    r = _run(args)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = _csv(res / "reproduce_full.csv")
    assert [r["epochs"] for r in rows] == ["150", "1"]  # digits' paper preset, then --epochs 1
    curve = _csv(res / "reproduce_full_curve.csv")
    mod = _load_script()
    store = RunStore(os.environ["DEEPAD_CACHE"])
    for row, budget in zip(rows, ("paper", "quick")):
        pts = [c for c in curve if c["run_key"] == row["run_key"]]
        assert {c["budget"] for c in pts} == {budget}
        assert [int(c["epoch"]) for c in pts] == mod.curve_epochs(int(row["epochs"]))
        # HSC has no finishing pass: the last point is the stored run's AUROC
        assert float(pts[-1]["auroc"]) == pytest.approx(store.get(row["run_key"]).metrics["auroc"], abs=1e-6)
        assert all(np.isfinite(float(c["train_loss"])) for c in pts)
    assert mod.curve_epochs(200)[:6] == [1, 2, 3, 5, 10, 15] and mod.curve_epochs(200)[-1] == 200
    md = (res / "reproduce_full.md").read_text()
    assert "Test AUROC during training" in md and "![test AUROC during training](reproduce_full.png)" in md
    assert (res / "reproduce_full.png").read_bytes().startswith(b"\x89PNG")
    # --report-only keeps the curve (it is not recomputed: the runs are stored)
    r2 = _run([*args, "--report-only"])
    assert r2.returncode == 0 and _csv(res / "reproduce_full_curve.csv") == curve


def test_param_reaches_the_methods_that_take_it(tmp_path):
    res = tmp_path / "results"
    r = _run(["--stage", "table", *TINY, "--classes", "0", "--methods", "deep-svdd,hsc",
              "--param", "pretrain_epochs=1", "--results", str(res)])
    assert r.returncode == 0, r.stderr[-3000:]
    store = RunStore(os.environ["DEEPAD_CACHE"])
    params = {row["method"]: dict(store.get(row["run_key"]).config.method_params)
              for row in _csv(res / "reproduce_table.csv")}
    assert params["deep-svdd"]["pretrain_epochs"] == 1 and "pretrain_epochs" not in params["hsc"]
    assert "+ 1 autoencoder pretraining epochs" in (res / "reproduce_table.md").read_text()


def test_dry_run_counts_the_full_default_grid_and_writes_nothing(tmp_path):
    res = tmp_path / "results"
    r = _run(["--stage", "all", "--dataset", "digits", "--oe", "photos", "--dry-run",
              "--results", str(res)])
    assert r.returncode == 0, r.stderr[-3000:]
    counts = {m.group(1): (int(m.group(2)), int(m.group(3)))
              for m in re.finditer(r"^(\S+)\s+(\d+) (?:distinct )?runs.*?(\d+) cached", r.stdout, re.M)}
    # 10 classes x 5 methods x 2 seeds; 3 x 2 x 12 sizes x 2; 3 x 2 x 7 sigmas x 2;
    # 10 x (4 OE methods x 2 pools + Deep SVDD once) x 2; paper + quick. Distinct: stages share
    # runs (blur at sigma 0 = oe-sizes at 128; oe-sizes 'all' = the table's HSC/BCE; full's quick
    # run = a table run: 25), and here, with digits for both, the mnist stage's photo-OE runs are
    # the table's (100 more); on CIFAR-10 and MNIST the distinct count is 485.
    assert counts == {"table": (100, 0), "oe-sizes": (144, 0), "blur": (84, 0), "mnist": (180, 0),
                      "full": (2, 0), "all": (385, 0)}, r.stdout
    assert not res.exists()


def _load_script():
    import importlib.util
    spec = importlib.util.spec_from_file_location("reproduce_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("args, words", [
    (["--stage", "tables"], "unknown stage"),
    (["--stage", "table", "--epochs", "0"], "--epochs"),
    (["--stage", "table", "--seeds", "x"], "--seeds"),
    (["--stage", "table", "--workers", "two"], "--workers"),
    (["--stage", "full", "--full-class", "0,1"], "--full-class"),
    (["--stage", "table", "--methods", "nope"], "nope"),
    (["--stage", "table", "--dry-run", "--report-only"], "exclude"),
    (["--epochs", "2"], "--stage"),
    (["--stage", "table", "--param", "nope"], "--param"),
    (["--stage", "table", "--param", "nope=1"], "nope"),
    (["--stage", "table", "--into", "no/such/BENCH.md"], "--into"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, words, capsys):
    main = _load_script().main  # in this process: argument checks need no subprocess
    try:
        rc = main([*args, "--dataset", "digits", "--oe", "photos", "--dry-run"]
                  if "--dry-run" not in args else [*args, "--dataset", "digits", "--oe", "photos"])
    except SystemExit as e:  # argparse's own errors (a missing --stage)
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], err


def _small_train_pool(root: Path, n: int = 600) -> None:
    """A stand-in for tiny-imagenet-200-train-32/images.zip: n 16x16 JPEGs in 6 class folders,
    laid out as the real one (<wnid>/<wnid>_N.JPEG)."""
    import io
    import zipfile

    from PIL import Image
    rng = np.random.default_rng(0)
    (root / "tiny-imagenet-200-train-32").mkdir(parents=True)
    with zipfile.ZipFile(root / "tiny-imagenet-200-train-32" / "images.zip", "w") as z:
        for i in range(n):
            wnid = f"n0{i % 6}"
            base = rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)
            img = Image.fromarray(base).resize((16, 16), Image.BILINEAR)
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=75)
            z.writestr(f"{wnid}/{wnid}_{i}.JPEG", buf.getvalue())


def test_pool_and_oe_enough_stages_pair_their_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPAD_DATA", str(tmp_path / "data"))
    _small_train_pool(tmp_path / "data")
    res = tmp_path / "results"
    r = _run(["--stage", "pools,oe-enough", *TINY, "--classes", "0", "--methods", "hsc",
              "--results", str(res)])
    assert r.returncode == 0, r.stderr[-3000:]
    store = RunStore(os.environ["DEEPAD_CACHE"])

    pools = _csv(res / "reproduce_pools.csv")
    assert len(pools) == 2 and {p["status"] for p in pools} == {"done"}
    assert pools[0]["oe"] == "photos" and pools[1]["oe"].endswith("images.zip")
    md = (res / "reproduce_pools.md").read_text()
    diff = 100 * (float(pools[1]["auroc"]) - float(pools[0]["auroc"]))
    assert f"HSC: 100k − 10k = {diff:+.1f} points" in md  # the check follows from the CSV

    enough = _csv(res / "reproduce_oe-enough.csv")
    assert list(enough[0])[-2:] == ["oe_batch", "oe_augment"]
    assert len(enough) == 8 and {e["status"] for e in enough} == {"done"}
    cfgs = {(e["oe_size"], e["oe_batch"], e["oe_augment"]): store.get(e["run_key"]).config
            for e in enough}
    assert cfgs[("32", "32", "1")].oe_batch == 32 and cfgs[("32", "", "0")].oe_augment is False
    assert {k[0] for k in cfgs} == {"8", "32", "128", "512", "all"}
    md = (res / "reproduce_oe-enough.md").read_text()
    once = 100 * float(next(e["auroc"] for e in enough if e["oe_batch"] == "32"))
    every = 100 * float(next(e["auroc"] for e in enough if e["oe_size"] == "all"
                             and e["oe_augment"] == "1"))
    assert f"HSC, 32 samples, once per step (OE batches of 32): {once:.1f} vs {every:.1f}" in md
    assert ("**enough**" in md) or ("**not enough**" in md)
