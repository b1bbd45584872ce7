"""How long training will take, before it starts.

From the stored runs: the median training seconds per epoch of runs of the same method on the
same data set (classes of a data set are about the same size), times the epochs asked for. Runs
timed on this machine (each run records its machine.machine_id()) count first; runs timed on
another CPU (a bundle's, say) are scaled by the two CPUs' relative speeds (machine.py). Where no
such run is stored, a typical cost per epoch measured on this project's reference CPU
(BENCHMARKS.md), scaled the same way: an estimate the page labels as rough. Nothing here imports
torch.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from . import machine

# Seconds per epoch of one quick-preset run on the project's 2-core CPU with bf16, by data set
# (nominal images of one class + as many OE images): HSC/BCE-type methods; slower families get a
# factor. Rough on purpose: stored runs replace them as soon as there are some.
TYPICAL_EPOCH_S = {"digits": 0.05, "mnist": 1.4, "fashion-mnist": 1.4, "emnist-letters": 1.4,
                   "cifar10": 4.5, "cifar100": 1.0, "svhn": 6.0}
FOLDER_EPOCH_S = 5.0
# data sets whose steps cost Python overhead rather than arithmetic: not scaled between CPUs (the
# 8x8 digits, 100 quick epochs: 3.4 s on a CPU without AMX, as on the reference CPU)
UNSCALED = {"digits"}
METHOD_FACTOR = {"deep-svdd": 2.0, "ae": 1.0, "geo": 8.0, "geo-plus": 8.0, "itae": 4.0,
                 "ocsvm": 0.5}


@dataclass
class Estimate:
    seconds: float       # total, for the runs asked about
    runs: int
    measured: int        # runs estimated from stored runs of the same method and data set
    rough: int           # runs estimated from the typical costs
    scaled: int = 0      # of `measured`: from runs timed on another (or an unrecorded) CPU

    @property
    def minutes(self) -> float:
        return self.seconds / 60

    def text(self) -> str:
        """'about 12 min (measured on this machine from stored runs like them)'."""
        t = (f"about {self.seconds:.0f} s" if self.seconds < 90 else
             f"about {self.minutes:.0f} min" if self.minutes < 90 else
             f"about {self.minutes / 60:.1f} h")
        if self.rough == 0 and self.scaled == 0:
            how = "measured on this machine from stored runs like them"
        elif self.rough == 0:
            how = ("from stored runs like them timed on another CPU, scaled to this one's: rough "
                   "until a run is trained here")
        elif self.measured == 0:
            how = "a rough guess: no run like them is stored on this machine yet"
        else:
            how = f"{self.measured} of {self.runs} from stored runs like them, the rest guessed"
        return f"{t} ({how})"


def seconds_per_epoch(rows, here: str | None = None) -> dict:
    """{(data set, method): (median seconds per epoch on this machine, timed here)}: from the
    runs timed on this machine (`here`, machine.machine_id()) where there are any, else from the
    runs timed elsewhere (another CPU, a bundle's) scaled by the machines' relative speeds."""
    here = machine.machine_id() if here is None else here
    speed_here = machine.relative_speed(here)
    local: dict = {}
    other: dict = {}
    for r in rows:
        if not (r.get("train_seconds") and r.get("epochs")):
            continue
        s = r["train_seconds"] / r["epochs"]
        k = (r["dataset"], r["method"])
        if r.get("machine") == here:
            local.setdefault(k, []).append(s)
        else:
            scale = (1.0 if r["dataset"] in UNSCALED else
                     machine.relative_speed(r.get("machine")) / speed_here)
            other.setdefault(k, []).append(s * scale)
    out = {k: (statistics.median(v), False) for k, v in other.items()}
    out.update({k: (statistics.median(v), True) for k, v in local.items()})
    return out


def estimate(configs, rows=(), here: str | None = None) -> Estimate:
    """The training time of `configs` (RunConfigs), from stored runs' index rows (`rows`, e.g.
    RunStore.query(), or a bundle's) where they are like them, else from typical costs scaled to
    this machine (machine.relative_speed)."""
    configs = list(configs)
    here = machine.machine_id() if here is None else here
    speed_here = machine.relative_speed(here)
    spe = seconds_per_epoch(rows, here)
    total, measured, scaled, rough = 0.0, 0, 0, 0
    for c in configs:
        s, timed_here = spe.get((c.dataset, c.method), (None, False))
        if s is not None:
            measured += 1
            scaled += not timed_here
        else:
            rough += 1
            base = (FOLDER_EPOCH_S if c.dataset.startswith("folder:")
                    else TYPICAL_EPOCH_S.get(c.dataset, FOLDER_EPOCH_S))
            s = base * METHOD_FACTOR.get(c.method, 1.0) / (1.0 if c.dataset in UNSCALED else speed_here)
        total += s * c.epochs
    return Estimate(total, len(configs), measured, rough, scaled)
