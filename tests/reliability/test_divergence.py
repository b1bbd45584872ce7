"""Divergence: inside a sweep, one run's loss becomes NaN (HSC's loss is patched to NaN for seed 2
only; the sweep runs in this process with one worker). That run is recorded as failed with its
reason, never cached, and the sweep goes on past it. The trainer's own NaN check is
tests/test_train.py::test_nan_loss_fails_clearly; a failed run retried and then cached is
tests/test_store.py::test_failed_run_is_recorded_not_cached."""

from __future__ import annotations

import pytest
import torch

from deepad import RunStore, get_or_train
from deepad.cli import main
from deepad.errors import RunFailed
from deepad.grids import Grid
from deepad.methods.hsc import HSC


def test_a_diverging_run_fails_and_the_sweep_goes_on(monkeypatch, capsys):
    real = HSC.loss

    def loss(self, model, x, y):  # the trainer seeds torch with the run's seed
        out = real(self, model, x, y)
        return out * float("nan") if torch.initial_seed() == 2 else out

    monkeypatch.setattr(HSC, "loss", loss)
    args = ["sweep", "--dataset", "digits", "--oe", "photos", "--oe-size", "64", "--normal-class",
            "0", "--method", "hsc", "--seed", "1-3", "--epochs", "2", "--workers", "1",
            "--device", "cpu"]
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 1, err  # a sweep with a failed run says so in its exit code
    configs = Grid(dataset="digits", oe="photos", oe_size=[64], method=["hsc"], seed=[1, 2, 3],
                   epochs=2).configs()
    bad = configs[1]
    assert bad.seed == 2
    assert "3 runs: 2 trained, 0 cached, 1 failed" in err, err
    assert f"failed: {bad.key}: training diverged: the loss became nan in epoch 1" in err

    store = RunStore()
    failed = store.query(status="failed")
    assert [r["key"] for r in failed] == [bad.key]
    assert "loss became nan" in failed[0]["error"]
    assert failed[0]["auroc"] is None
    assert store.get(bad.key) is None and not (store.runs / bad.key).exists()  # never cached
    done = {r["key"]: r for r in store.query()}
    assert set(done) == {configs[0].key, configs[2].key}  # the run after it finished too
    for c in (configs[0], configs[2]):
        assert store.get(c.key).metrics["auroc"] == pytest.approx(done[c.key]["auroc"])

    # asking again retries it (nothing cached to serve) and fails the same way
    with pytest.raises(RunFailed, match="diverged"):
        get_or_train(bad, device="cpu")
    assert store.get(bad.key) is None
    # a resumed sweep skips the finished runs and retries only the failed one
    assert main(args) == 1
    assert "3 runs: 0 trained, 2 cached, 1 failed" in capsys.readouterr().err
