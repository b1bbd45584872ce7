"""How long training will take, before it starts.

From the runs this machine has stored: the median training seconds per epoch of runs of the same
method on the same data set (classes of a data set are about the same size), times the epochs
asked for. Where no such run is stored, a typical cost per epoch measured on this project's
2-core CPU (BENCHMARKS.md), times 2.5 on a CPU without bf16 (fp32 only): an estimate the page
labels as rough. Nothing here imports torch.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

# Seconds per epoch of one quick-preset run on the project's 2-core CPU with bf16, by data set
# (nominal images of one class + as many OE images): HSC/BCE-type methods; slower families get a
# factor. Rough on purpose: stored runs replace them as soon as there are some.
TYPICAL_EPOCH_S = {"digits": 0.05, "mnist": 1.4, "fashion-mnist": 1.4, "emnist-letters": 1.4,
                   "cifar10": 4.5, "cifar100": 1.0, "svhn": 6.0}
FOLDER_EPOCH_S = 5.0
METHOD_FACTOR = {"deep-svdd": 2.0, "ae": 1.0, "geo": 8.0, "geo-plus": 8.0, "itae": 4.0,
                 "ocsvm": 0.5}
NO_BF16_FACTOR = 2.5


@dataclass
class Estimate:
    seconds: float       # total, for the runs asked about
    runs: int
    measured: int        # runs estimated from stored runs of the same method and data set
    rough: int           # runs estimated from the typical costs

    @property
    def minutes(self) -> float:
        return self.seconds / 60

    def text(self) -> str:
        """'about 12 min on this machine (from 8 stored runs like them)'."""
        t = (f"about {self.seconds:.0f} s" if self.seconds < 90 else
             f"about {self.minutes:.0f} min" if self.minutes < 90 else
             f"about {self.minutes / 60:.1f} h")
        if self.rough == 0:
            how = "measured on this machine from stored runs like them"
        elif self.measured == 0:
            how = "a rough guess: no run like them is stored on this machine yet"
        else:
            how = f"{self.measured} of {self.runs} from stored runs like them, the rest guessed"
        return f"{t} ({how})"


def seconds_per_epoch(rows) -> dict:
    """Median train_seconds / epochs of stored runs per (data set, method)."""
    per: dict = {}
    for r in rows:
        if r.get("train_seconds") and r.get("epochs") and r.get("source", "local store") == "local store":
            per.setdefault((r["dataset"], r["method"]), []).append(r["train_seconds"] / r["epochs"])
    return {k: statistics.median(v) for k, v in per.items()}


def _has_bf16() -> bool:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags"))
        return "avx512_bf16" in flags or "amx_bf16" in flags
    except (OSError, StopIteration):
        return False


def estimate(configs, rows=()) -> Estimate:
    """The training time of `configs` (RunConfigs), from stored runs' index rows (`rows`, e.g.
    RunStore.query()) where they are like them, else from typical costs."""
    configs = list(configs)
    spe = seconds_per_epoch(rows)
    total, measured, rough = 0.0, 0, 0
    slow = None
    for c in configs:
        s = spe.get((c.dataset, c.method))
        if s is not None:
            measured += 1
        else:
            rough += 1
            base = (FOLDER_EPOCH_S if c.dataset.startswith("folder:")
                    else TYPICAL_EPOCH_S.get(c.dataset, FOLDER_EPOCH_S))
            if slow is None:
                slow = 1.0 if _has_bf16() else NO_BF16_FACTOR
            s = base * METHOD_FACTOR.get(c.method, 1.0) * slow
        total += s * c.epochs
    return Estimate(total, len(configs), measured, rough)
