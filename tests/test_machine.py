"""The machine: each run records the one it was trained on; estimates before training
(deepad.estimate) count runs timed on this machine as measured and scale runs timed on another CPU
(imported from a bundle, say), saying so; precision 'auto' takes bf16 on a CPU only where it is
faster: with AMX, or where a short probe measured it faster (AVX-512 BF16 without AMX)."""

from types import SimpleNamespace

import pytest

from deepad import estimate, machine
from deepad.config import make_config

AMX = "Xeon A; 2 cores; amx_bf16 avx512_bf16 avx512f avx2"
NO_AMX = "Xeon B; 2 cores; avx512_bf16 avx512f avx2"


def _row(seconds, mid, method="hsc", epochs=5):
    return {"dataset": "cifar10", "method": method, "epochs": epochs, "train_seconds": seconds,
            "machine": mid}


def _cfgs(n, method="hsc"):
    """What an estimate reads of a config (a RunConfig of CIFAR-10 needs its files on disk)."""
    return [SimpleNamespace(dataset="cifar10", normal_class=c, method=method, epochs=10, seed=1)
            for c in range(n)]


def test_runs_timed_here_are_measured_and_win_over_runs_timed_elsewhere():
    rows = [_row(50, NO_AMX), _row(60, NO_AMX), _row(10, AMX)]
    e = estimate.estimate(_cfgs(2), rows, here=NO_AMX)
    assert (e.measured, e.scaled, e.rough) == (2, 0, 0)
    assert e.seconds == pytest.approx(2 * 10 * 11)  # median 55 s / 5 epochs, 10 epochs each
    assert "measured on this machine" in e.text()


def test_runs_timed_on_a_faster_cpu_are_scaled_to_this_one_and_say_so():
    e = estimate.estimate(_cfgs(3), [_row(10, AMX)], here=NO_AMX)
    ratio = machine.RELATIVE_SPEED["amx_bf16"] / machine.RELATIVE_SPEED["avx512_bf16"]
    assert ratio > 2
    assert (e.measured, e.scaled, e.rough) == (3, 3, 0)
    assert e.seconds == pytest.approx(3 * 10 * 2 * ratio)
    assert "another CPU" in e.text() and "measured on this machine" not in e.text()
    # an unrecorded machine (a run older than the record) counts as the reference CPU
    assert estimate.estimate(_cfgs(3), [_row(10, None)], here=NO_AMX).seconds == pytest.approx(e.seconds)


def test_without_a_run_like_them_the_guess_is_scaled_to_this_cpu():
    fast = estimate.estimate(_cfgs(1, "bce"), [_row(10, AMX)], here=AMX)
    slow = estimate.estimate(_cfgs(1, "bce"), [_row(10, AMX)], here="CPU C; 2 cores; no AVX2")
    assert fast.rough == slow.rough == 1
    assert slow.seconds > 3 * fast.seconds
    assert "rough guess" in slow.text()
    # the 8x8 digits cost Python overhead, not arithmetic: the same guess on any CPU (so they
    # still train by themselves on Explore)
    digits = [make_config(dataset="digits", normal_class=0, method="hsc", seed=1)]
    assert estimate.estimate(digits, [], here=AMX).seconds == \
        estimate.estimate(digits, [], here="CPU C; 2 cores; no AVX2").seconds


def test_machine_id_names_the_cpu_and_its_speed_flags():
    mid = machine.machine_id()
    assert machine.cpu_model() in mid and "cores" in mid
    assert machine.speed_class(mid) in machine.RELATIVE_SPEED
    assert machine.speed_class(None) is None and machine.speed_class("X; 1 cores; no AVX2") == ""


def test_a_trained_run_records_its_machine_in_metrics_and_index(tmp_path):
    from deepad.experiments import get_or_train
    from deepad.store import RunStore
    store = RunStore(tmp_path / "store")
    cfg = make_config(dataset="digits", normal_class=0, method="hsc", epochs=1, seed=1)
    res = get_or_train(cfg, store=store)
    assert res.metrics["machine"] == machine.machine_id()
    assert store.query()[0]["machine"] == machine.machine_id()


CPU = __import__("torch").device("cpu")


@pytest.fixture
def probe(monkeypatch, tmp_path):
    """deepad.device with a fresh probe memo, its file under tmp_path, no override, and a fake
    measurement whose result the test sets (and whose calls it counts)."""
    from deepad import device
    monkeypatch.setenv("DEEPAD_CACHE", str(tmp_path))
    monkeypatch.delenv("DEEPAD_CPU_BF16", raising=False)
    monkeypatch.setattr(device, "_PROBES", {})
    fake = SimpleNamespace(result={"fp32": 500.0, "bf16": 900.0}, calls=0)

    def measure():
        fake.calls += 1
        return dict(fake.result)
    monkeypatch.setattr(device, "_time_step_both_ways", measure)
    fake.device = device
    return fake


@pytest.mark.parametrize("flags, onednn, measured, want", [
    (["amx_bf16", "avx512_bf16", "avx512f", "avx2"], True, None, "bf16"),  # AMX: no probe
    (["avx512_bf16", "avx512f", "avx2"], True, (500, 900), "bf16"),    # Zen 4: bf16 1.8x faster
    (["avx512_bf16", "avx512f", "avx2"], True, (800, 600), "fp32"),    # Emerald Rapids under KVM
    (["avx512_bf16", "avx512f", "avx2"], True, (800, 850), "fp32"),    # within the probe's noise
    (["avx2"], False, None, "fp32"),
    (["amx_bf16", "avx512_bf16"], False, None, "fp32"),        # a torch build without oneDNN bf16
])
def test_auto_precision_takes_bf16_on_a_cpu_only_where_it_is_faster(monkeypatch, probe, flags,
                                                                   onednn, measured, want):
    device = probe.device
    monkeypatch.setattr(device, "speed_flags", lambda: flags)
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: onednn)
    if measured:
        probe.result = {"fp32": measured[0], "bf16": measured[1]}
    assert device.resolve_precision("auto", CPU, (3, 32, 32)) == want
    assert probe.calls == (1 if measured else 0)
    assert device.resolve_precision("bf16", CPU) == "bf16"
    assert device.resolve_precision("fp32", CPU) == "fp32"


def test_the_probe_is_skipped_for_small_inputs_and_overridden_by_the_environment(monkeypatch, probe):
    device = probe.device
    monkeypatch.setattr(device, "speed_flags", lambda: ["avx512_bf16", "avx512f", "avx2"])
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    assert device.resolve_precision("auto", CPU, (1, 8, 8)) == "fp32"  # the bundled digits
    assert probe.calls == 0
    monkeypatch.setenv("DEEPAD_CPU_BF16", "0")
    assert device.resolve_precision("auto", CPU, (3, 32, 32)) == "fp32"
    monkeypatch.setenv("DEEPAD_CPU_BF16", "1")
    assert device.resolve_precision("auto", CPU, (1, 8, 8)) == "bf16"
    assert probe.calls == 0


def test_the_probe_is_measured_once_per_machine_and_remembered_on_disk(monkeypatch, probe, tmp_path):
    import json
    device = probe.device
    first = device.bf16_probe()
    assert probe.calls == 1 and first["bf16"] == 900.0 and "threads" in first["key"]
    monkeypatch.setattr(device, "_PROBES", {})  # a new process: read back, not measured again
    assert device.bf16_probe()["fp32"] == 500.0 and probe.calls == 1
    stored = json.loads((tmp_path / "machine-probes.json").read_text())
    assert list(stored) == [first["key"]]
    (tmp_path / "machine-probes.json").write_text("{not json")  # damaged: measured again, repaired
    monkeypatch.setattr(device, "_PROBES", {})
    assert device.bf16_probe()["bf16"] == 900.0 and probe.calls == 2
    assert first["key"] in json.loads((tmp_path / "machine-probes.json").read_text())


def test_the_real_probe_times_both_precisions():
    from deepad import device
    if not device.cpu_has_bf16():
        pytest.skip("this CPU (or torch build) has no bf16 for oneDNN")
    got = device._time_step_both_ways()
    assert set(got) == {"fp32", "bf16"} and got["fp32"] > 0 and got["bf16"] > 0
