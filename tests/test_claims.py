"""The paper's claims as computed verdicts: the paper's own numbers pass, numbers that contradict
a claim fail it, too few runs say so, and each claim's command finds exactly its runs."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from deepad import claims, make_config
from deepad.analysis import PAPER_CIFAR10
from deepad.cli import _sweep_grid, _sweep_parser

POOL = "folder:/data/elsewhere/tiny-imagenet-200-val/images"
POOL_ID = "ab" * 16


def row(dataset, k, method, seed, auroc, *, size=None, blur=0.0, epochs=5, oe=POOL, params=None):
    no_oe = method in claims.UNSUPERVISED
    cfg = {"milestones": [2, 4], "method_params": params or {}}
    return {"key": f"{dataset}-{k}-{method}-{seed}-{size}-{blur}-{epochs}", "status": "done",
            "dataset": dataset, "dataset_id": None, "normal_class": k, "method": method,
            "seed": seed, "auroc": auroc, "oe": "none" if no_oe else oe,
            "oe_id": None if no_oe or not oe.startswith("folder:") else POOL_ID,
            "oe_jpeg": None, "oe_classes": None, "oe_size": None if no_oe else size,
            "blur_sigma": 0.0 if no_oe else blur, "epochs": epochs, "lr": 1e-3, "batch_size": 128,
            "weight_decay": 5e-7, "config": json.dumps(cfg)}


def table_rows(means: dict, dataset="cifar10", seeds=(1, 2), spread=0.0):
    """Rows whose per-class AUROCs follow the paper's table shifted to the given means."""
    out = []
    for m, target in means.items():
        per = np.asarray(PAPER_CIFAR10[m]) - np.mean(PAPER_CIFAR10[m]) + target
        for k in range(10):
            for s in seeds:
                out.append(row(dataset, k, m, s, (per[k] + spread * (s - 1.5)) / 100))
    return out


def by_id(rows):
    return {v.id: v for v in claims.evaluate(rows)}


def test_the_papers_own_numbers_pass_the_ordering_and_the_targets():
    v = by_id(table_rows({m: claims.PAPER_MEANS[m] for m in
                          ("bce", "hsc", "focal", "deep-sad", "deep-svdd")}))
    assert v["ordering"].verdict == claims.HOLDS, v["ordering"].details
    assert v["published"].verdict == claims.HOLDS
    assert "10 classes" in v["ordering"].criterion and v["ordering"].runs == 100
    assert v["ordering"].view["page"] == "table" and v["ordering"].view["seeds"] == [1, 2]
    assert abs(v["ordering"].numbers["bce"] - 96.1) < 1e-6


def test_a_gap_between_the_oe_methods_breaks_the_ordering():
    # the 5-epoch table measured here: HSC 4 points under BCE
    v = by_id(table_rows({"bce": 89.2, "focal": 88.7, "hsc": 85.0, "deep-sad": 79.3,
                          "deep-svdd": 61.5}))
    assert v["ordering"].verdict == claims.FAILS
    assert any("spread 4.2" in d for d in v["ordering"].details)
    assert v["published"].verdict == claims.FAILS and "-10.9" in v["published"].evidence
    assert "5 epochs" in v["ordering"].budget and "2 seeds" in v["ordering"].budget


def test_the_published_numbers_are_compared_with_the_largest_budget_stored():
    # the 5-epoch table of every method, and HSC and BCE alone at the quick preset's 25 epochs
    five = table_rows({"bce": 89.2, "focal": 88.7, "hsc": 85.0, "deep-sad": 79.3}, seeds=(1,))
    quick = [{**r, "key": r["key"] + "-25", "epochs": 25, "config": json.dumps(
        {"milestones": [12, 19], "method_params": {}})}
             for r in table_rows({"bce": 92.4, "hsc": 90.3}, seeds=(1,))]
    v = by_id(five + quick)
    assert v["published"].verdict == claims.FAILS
    assert "HSC 90.3 vs 95.9 (-5.6)" in v["published"].evidence and v["published"].runs == 20
    assert "25 epochs" in v["published"].budget
    assert v["ordering"].numbers["hsc"] == pytest.approx(85.0)  # the ordering needs every method
    # a grid that covers fewer classes does not win by its budget
    v = by_id(five + [r for r in quick if r["normal_class"] < 9])
    assert "HSC 85.0 vs 95.9" in v["published"].evidence and "5 epochs" in v["published"].budget


def test_missing_classes_or_methods_are_not_enough_runs():
    rows = [r for r in table_rows({"bce": 96, "hsc": 95.9, "focal": 95.8, "deep-sad": 94.5,
                                   "deep-svdd": 64.8}) if r["normal_class"] < 9]
    v = by_id(rows)
    assert v["ordering"].verdict == claims.UNKNOWN and "9/10 classes" in v["ordering"].evidence
    assert by_id([])["ordering"].verdict == claims.UNKNOWN
    assert all(x.verdict == claims.UNKNOWN for x in claims.evaluate([]))
    assert len(claims.evaluate([])) == 9


def _sizes(at32: dict, at_all: dict, sizes=(1, 8, 32, 128)):
    rows = []
    for m in ("hsc", "bce"):
        for k in range(3):
            for s in (1, 2):
                for n in sizes:
                    rows.append(row("cifar10", k, m, s, (at32[m] - 10 + 10 * (n >= 32)) / 100, size=n))
                rows.append(row("cifar10", k, m, s, at_all[m] / 100, size=None))
    return rows


def test_enough_oe_samples():
    ok = by_id(_sizes({"hsc": 93, "bce": 94}, {"hsc": 95, "bce": 95}))["oe-32"]
    assert ok.verdict == claims.HOLDS and ok.numbers["hsc"]["pairs"] == 6
    assert ok.view["page"] == "oe-samples" and None in ok.view["oe_sizes"]
    bad = by_id(_sizes({"hsc": 80, "bce": 84}, {"hsc": 88, "bce": 96}))["oe-32"]
    assert bad.verdict == claims.FAILS and "-12.0" in bad.evidence
    assert by_id(_sizes({"hsc": 80, "bce": 84}, {"hsc": 88, "bce": 96}))["oe-64"].verdict == claims.UNKNOWN


def test_blur_and_resolution_and_many_oe():
    rows = []
    for m, (a0, a32) in {"hsc": (82, 60), "bce": (85, 63)}.items():
        for k in range(3):
            for sigma in (0, 1, 32):
                rows.append(row("cifar10", k, m, 1, (a0 if sigma == 0 else a32 + 2 * (sigma == 1)) / 100,
                                size=128, blur=float(sigma)))
    v = by_id(rows)
    assert v["blur"].verdict == claims.HOLDS and v["blur"].numbers["hsc"]["last_sigma"] == 32
    for m in ("hsc", "bce"):
        for k in range(10):
            rows.append(row("mnist", k, m, 1, (95.0 + 0.2 * (m == "bce")) / 100))
            rows.append(row("cifar10", k, m, 1, (90.0 + 1.0 * (m == "bce")) / 100))
    v = by_id(rows)
    assert v["resolution"].verdict == claims.HOLDS and v["resolution"].provisional
    assert abs(v["resolution"].numbers["mnist"] - 0.2) < 1e-9
    assert v["many-oe"].verdict == claims.HOLDS
    flipped = [dict(r, auroc=r["auroc"] + 0.05) if r["dataset"] == "mnist" and r["method"] == "bce"
               else r for r in rows]
    assert by_id(flipped)["resolution"].verdict == claims.FAILS


def test_a_claims_command_finds_exactly_its_runs():
    """The command printed beside a verdict builds the configs of the runs behind it."""
    cfgs = [make_config(dataset="digits", normal_class=k, oe="photos", oe_size=n, method=m,
                        seed=s, epochs=2, check_data=False)
            for m in ("hsc", "bce") for k in (0, 1) for n in (4, 32, None) for s in (1, 2)]
    rows = [dict(row("digits", c.normal_class, c.method, c.seed, 0.9, size=c.oe_size, epochs=2,
                     oe="photos"), key=c.key, config=json.dumps(c.to_dict()), oe_id=None)
            for c in cfgs]
    v = claims.enough_in(rows, "digits", 32)
    assert v.verdict == claims.HOLDS
    cmd = claims.sweep_command(v.view)
    argv = cmd.split("python -m deepad ", 1)[1].split()
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd")
    _sweep_parser(sub)
    grid = _sweep_grid(ap.parse_args(argv))
    assert {c.key for c in grid.configs()} == {c.key for c in cfgs}


@pytest.mark.parametrize("name, expect", [
    ("folder:/somewhere/tiny-imagenet-200-val/images", "folder:$DEEPAD_DATA/tiny-imagenet-200-val/images"),
    ("cifar10", "cifar10"), ("folder:/my/own photos", "folder:/my/own photos")])
def test_commands_name_data_portably(name, expect, monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPAD_DATA", str(tmp_path))
    assert claims.portable(name) == expect
    view = {"dataset": "cifar10", "classes": [0], "methods": ["hsc"], "oe": name, "seeds": [1],
            "epochs": 5, "oe_sizes": [None], "blur_sigmas": [0.0], "params": {}}
    assert ('"folder:/my/own photos"' in claims.sweep_command(view)) == (" " in name)


BIG = "folder:/data/elsewhere/tiny-imagenet-200-train-32/images.zip"


def _pool_rows(small_mean, big_mean, classes=range(10), methods=("hsc", "bce")):
    out = []
    for m in methods:
        for k in classes:
            for oe, n, mean in ((POOL, 10_000, small_mean), (BIG, 100_000, big_mean)):
                r = row("cifar10", k, m, 1, (mean + k * 0.1) / 100, oe=oe, epochs=25)
                r.update(key=r["key"] + oe[-8:], n_oe=n, oe_id=("cd" * 16 if oe == BIG else POOL_ID))
                out.append(r)
    return out


def test_the_larger_pool_claim_pairs_the_two_pools():
    v = by_id(_pool_rows(88.0, 91.5))["oe-pool"]
    assert v.verdict == claims.HOLDS and v.runs == 40
    assert v.numbers["hsc"]["diff"] == pytest.approx(3.5) and v.numbers["bce"]["pairs"] == 10
    assert "100,000 images" in v.evidence and "10,000 images" in v.evidence
    assert v.view["page"] == "table" and "images.zip" in v.view["oe"]
    assert by_id(_pool_rows(88.0, 88.4))["oe-pool"].verdict == claims.FAILS  # under 1 point
    assert by_id(_pool_rows(88.0, 95.0, classes=[0, 1]))["oe-pool"].verdict == claims.UNKNOWN
    assert by_id(table_rows({"hsc": 90, "bce": 91}))["oe-pool"].verdict == claims.UNKNOWN


def _variant_rows(gaps: dict):
    """HSC and BCE on classes 0-2 at 32 and all under each treatment; gaps: condition -> the
    32-sample AUROC minus the all-sample AUROC."""
    out = []
    for m in ("hsc", "bce"):
        for k in range(3):
            for cond, (batch, plain) in {"paper": (None, False), "once": (32, False),
                                         "plain": (None, True)}.items():
                for size in (32, None):
                    if cond == "once" and size is None:
                        continue
                    base = 90.0 - 2 * plain
                    au = base + (gaps[cond] if size == 32 else 0)
                    r = row("cifar10", k, m, 1, au / 100, size=size, epochs=25, oe=BIG)
                    r.update(key=f"{r['key']}-{cond}", oe_batch=batch, oe_augment=0 if plain else 1)
                    out.append(r)
    return out


def test_the_conditions_claim_says_which_treatment_makes_32_enough():
    v = by_id(_variant_rows({"paper": -8.0, "once": -1.5, "plain": -6.0}))["oe-32-conditions"]
    assert v.verdict == claims.HOLDS
    assert v.numbers["once per step"]["hsc"]["gap"] == pytest.approx(-1.5)
    assert v.numbers["not augmented"]["bce"]["all"] == pytest.approx(88.0)  # its own 'all'
    assert v.numbers["the paper's batches"]["hsc"]["gap"] == pytest.approx(-8.0)
    assert "--stage oe-enough" in v.command
    v = by_id(_variant_rows({"paper": -8.0, "once": -5.0, "plain": -6.0}))["oe-32-conditions"]
    assert v.verdict == claims.FAILS
    # the variants never leak into the paper's own claims: 'oe-32' sees only the paper's batches
    assert by_id(_variant_rows({"paper": -8.0, "once": -1.0, "plain": -1.0}))["oe-32"].verdict \
        != claims.HOLDS
    assert by_id(table_rows({"hsc": 90}))["oe-32-conditions"].verdict == claims.UNKNOWN
