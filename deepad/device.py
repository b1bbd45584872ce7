"""Device and precision choice."""

from __future__ import annotations

import json
import os
import time

from .errors import DeepadError
from .heavy import torch
from .machine import machine_id, speed_flags
from .paths import cache_root

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then the CPU."""
    if name not in DEVICES:
        raise DeepadError(f"unknown device '{name}'; choose one of {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeepadError("--device cuda asked for, but this machine has no usable CUDA GPU; "
                          "use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeepadError("--device mps asked for, but Apple MPS is not available; use --device auto or cpu")
    return torch.device(name)


def cpu_has_bf16() -> bool:
    """Whether oneDNN can run bf16 on this CPU at all (AVX-512 BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


# bf16 must beat fp32 by this much on the probe to be taken (the probe's own noise is ~5%)
BF16_MARGIN = 1.15
# below this many input pixels a step is overhead-bound and bf16 is not worth a probe
SMALL_INPUT = 16 * 16


def cpu_bf16_pays(shape: tuple | None = None) -> bool:
    """Whether bf16 autocast trains faster than fp32 on this CPU.

    With AMX it does (2.1-2.4x on the CIFAR-10 LeNet step). With AVX-512 BF16 but no AMX it
    depends on the CPU and is measured, not assumed: 1.74-1.84x faster on an AMD EPYC (Zen 4),
    20-30% *slower* on an Emerald Rapids Xeon under KVM that hides AMX (benchmarks/step_options.py,
    BENCHMARKS.md). So there a short probe (`bf16_probe`, ~2 s, once per machine and thread
    count, remembered in DEEPAD_CACHE/machine-probes.json) times the step both ways. Inputs of
    under 16x16 pixels (the bundled digits) are overhead-bound: fp32, no probe. DEEPAD_CPU_BF16=1
    or 0 overrides all of this."""
    forced = os.environ.get("DEEPAD_CPU_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if not cpu_has_bf16():
        return False
    if "amx_bf16" in speed_flags():
        return True
    if shape is not None and _pixels(shape) < SMALL_INPUT:
        return False
    probe = bf16_probe()
    return probe["bf16"] >= BF16_MARGIN * probe["fp32"]


def _pixels(shape) -> int:
    return int(shape[-1]) * int(shape[-2]) if len(shape) >= 2 else int(shape[-1])


_PROBES: dict = {}


def _probe_file():
    return cache_root() / "machine-probes.json"


def bf16_probe() -> dict:
    """img/s of the CIFAR-10 LeNet's train step (32 nominal + 32 OE images, Adam) in fp32 and
    under bf16 autocast, with this process's torch threads: {'fp32': ..., 'bf16': ..., 'key': ...}.
    Measured once per machine, thread count and torch version, then read back."""
    key = f"{machine_id()}; {torch.get_num_threads()} threads; torch {torch.__version__}"
    if key in _PROBES:
        return _PROBES[key]
    path = _probe_file()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    hit = known.get(key)
    if not (isinstance(hit, dict) and all(isinstance(hit.get(p), (int, float)) for p in ("fp32", "bf16"))):
        hit = {**_time_step_both_ways(), "measured": time.time()}
        known[key] = hit
        try:  # best effort: a read-only cache only means measuring again next time
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(known, indent=1))
            os.replace(tmp, path)
        except OSError:
            pass
    _PROBES[key] = {**hit, "key": key}
    return _PROBES[key]


def _time_step_both_ways(batch: int = 32, steps: int = 2) -> dict:
    from .nets import LeNet
    best = {"fp32": 0.0, "bf16": 0.0}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LeNet(in_channels=3, size=32).to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        x = torch.randn(2 * batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)

        def step(bf16: bool):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(x).float().pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        step(False)
        step(True)  # warm-up: oneDNN builds its kernels on the first step of each precision
        for prec in ("fp32", "bf16", "fp32", "bf16"):  # alternated, the best of two
            t0 = time.perf_counter()
            for _ in range(steps):
                step(prec == "bf16")
            best[prec] = max(best[prec], steps * 2 * batch / (time.perf_counter() - t0))
    return best


def resolve_precision(precision: str, device: torch.device, shape: tuple | None = None) -> str:
    """'auto': bf16 autocast for training where it is faster than fp32 (a CUDA GPU with bf16, a
    CPU where cpu_bf16_pays for inputs of this shape), fp32 elsewhere. Scoring always runs in
    fp32 (bf16 scores tie)."""
    if precision not in PRECISIONS:
        raise DeepadError(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_bf16_pays(shape) else "fp32"
    return "fp32"
