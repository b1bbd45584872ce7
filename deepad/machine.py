"""The machine a run was trained on, as far as its training speed goes: the CPU model, its cores
and the instruction sets that decide how fast deepad trains on it (AMX and AVX-512 BF16 for bf16
autocast, AVX-512 and AVX2 for fp32). Read from /proc/cpuinfo; nothing here imports torch.

Each run records `machine_id()` in its metrics, so an estimate can tell runs timed on this
machine from runs timed elsewhere (imported from a bundle, say) and scale the latter."""

from __future__ import annotations

import functools
import os
import platform

SPEED_FLAGS = ("amx_bf16", "avx512_bf16", "avx512f", "avx2")

# Training speed of each class of CPU relative to the project's reference CPU (a 2-core Sapphire
# Rapids Xeon with AMX, where BENCHMARKS.md's typical costs were measured), from the
# CIFAR-10 LeNet's training throughput (benchmarks/throughput.py --quick, img/s): AMX bf16 2,635;
# AVX-512 BF16 without AMX (an Emerald Rapids Xeon under KVM that hides AMX) 737 in bf16, 633 in
# fp32; an AMD EPYC (Zen 4) of the same class 1,285 in bf16 (which its probe takes: 0.49); no
# AVX-512 about 2.5x under the reference (fp32 only). Rough on purpose: a run timed on this
# machine replaces them.
RELATIVE_SPEED = {"amx_bf16": 1.0, "avx512_bf16": 0.28, "avx512f": 0.4, "avx2": 0.4, "": 0.25}


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset]:
    model, flags = "", frozenset()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags


def cpu_model() -> str:
    return _cpuinfo()[0]


def cpu_flags() -> frozenset:
    """All the flags /proc/cpuinfo gives for this CPU (empty where it cannot be read)."""
    return _cpuinfo()[1]


def speed_flags() -> list[str]:
    """Which of SPEED_FLAGS this CPU has, fastest first."""
    flags = cpu_flags()
    return [f for f in SPEED_FLAGS if f in flags]


def machine_id() -> str:
    """'Intel(R) Xeon(R) Processor; 2 cores; amx_bf16 avx512_bf16 avx512f avx2': equal on two
    machines that train at about the same speed."""
    return f"{cpu_model()}; {os.cpu_count() or 1} cores; {' '.join(speed_flags()) or 'no AVX2'}"


def speed_class(mid: str | None) -> str:
    """The fastest of SPEED_FLAGS a machine_id names ('' for none); None for an unknown machine."""
    if not mid:
        return None
    tail = mid.rsplit(";", 1)[-1].split()
    return next((f for f in SPEED_FLAGS if f in tail), "")


_HERE = object()


def relative_speed(mid=_HERE) -> float:
    """RELATIVE_SPEED of a machine_id (this machine's without an argument). None, a run whose
    machine is not recorded (trained before deepad recorded it), counts as the reference CPU,
    which trained the shipped results."""
    cls = speed_class(machine_id() if mid is _HERE else mid)
    return 1.0 if cls is None else RELATIVE_SPEED[cls]
