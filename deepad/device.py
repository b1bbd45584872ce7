"""Device and precision choice."""

from __future__ import annotations

from .errors import DeepadError
from .heavy import torch
from .machine import speed_flags

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


def cpu_bf16_pays() -> bool:
    """Whether bf16 autocast trains faster than fp32 on this CPU: only with AMX. Measured on the
    CIFAR-10 LeNet train step (benchmarks/step_options.py, BENCHMARKS.md): with AMX bf16 is
    2.1-2.4x faster than fp32; with AVX-512 BF16 but no AMX (Cooper Lake, Zen 4, a VM that hides
    AMX) it is 20-30% *slower*, the conversions costing more than the narrower arithmetic saves."""
    return "amx_bf16" in speed_flags() and cpu_has_bf16()


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto': bf16 autocast for training where it is faster than fp32 (a CUDA GPU with bf16, a
    CPU with AMX: cpu_bf16_pays), fp32 elsewhere. Scoring always runs in fp32 (bf16 scores tie)."""
    if precision not in PRECISIONS:
        raise DeepadError(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_bf16_pays() else "fp32"
    return "fp32"
