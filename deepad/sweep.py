"""Sweeps: the product of lists of run settings, trained into the same store as single runs.

A sweep is resumable by construction: every finished run is stored atomically under its config
key, cached runs are skipped, and the per-key lock keeps two processes from training the same run.
Killing a sweep loses at most the runs in flight. Failed runs are recorded in the index with their
error and the sweep goes on.

Executors: `local` (a pool of worker processes on this machine, each calling get_or_train) and
`ray` (each run a Ray task that trains and returns its artifacts; the driver writes them into the
store, so workers need no shared disk).
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .config import RunConfig, make_config
from .data import sources
from .errors import DeepadError
from .store import RunStore

GRID_FIELDS = ("normal_class", "method", "oe_size", "blur_sigma", "oe_classes", "seed")


def parse_ints(text, *, name: str, allow_all: bool = False) -> list:
    """'1-10' | '0,1,5' | '1-3,8' | 'all' (when allowed, returned as ['all'])."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if allow_all and part.lower() == "all":
            out.append("all")
            continue
        lo, sep, hi = part.partition("-") if not part.startswith("-") else (part, "", "")
        try:
            if sep:
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise DeepadError(f"--{name}: cannot read '{part}'; give numbers, ranges like 1-10, "
                              f"or lists like 0,1,5" + (" or 'all'" if allow_all else "")) from None
    if not out:
        raise DeepadError(f"--{name} is empty; give at least one value")
    return list(dict.fromkeys(out))


def parse_floats(text, *, name: str) -> list[float]:
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if part:
            try:
                out.append(float(part))
            except ValueError:
                raise DeepadError(f"--{name}: '{part}' is not a number; give e.g. 0,1,2,4") from None
    if not out:
        raise DeepadError(f"--{name} is empty; give at least one value")
    return list(dict.fromkeys(out))


def _pow2(n):
    return [2 ** i for i in range(n + 1)]


def _data(name):
    return str(sources.data_root() / name)


def presets() -> dict[str, dict]:
    """The paper's grids (paper-protocol.md section 8), with the paper's training budget.

    Data sets the paper used that are not available offline are named by their usual place under
    DEEPAD_DATA; override them with --oe / --dataset (e.g. a folder of natural images instead of
    80 Million Tiny Images)."""
    tiny = f"tiny-images:{_data('tiny_images.bin')}"
    in30 = f"folder:{_data('imagenet30')}"
    in22k = f"folder:{_data('imagenet22k')}"
    all10 = list(range(10))
    return {
        "paper/mnist-oe-classes": dict(dataset="mnist", oe="emnist-letters", normal_class=all10,
                                       method=["hsc", "bce"], oe_classes=[1, 2, 3, 5, 10, 15, 20, 26],
                                       seed=list(range(1, 11))),
        "paper/mnist-blur": dict(dataset="mnist", oe="emnist-letters", normal_class=all10,
                                 method=["hsc", "bce"], blur_sigma=[0, 1, 2, 4, 8, 16, 32],
                                 seed=list(range(1, 6))),
        "paper/cifar10-oe": dict(dataset="cifar10", oe=tiny, normal_class=all10,
                                 method=["hsc", "deep-sad", "bce", "focal"], seed=list(range(1, 11))),
        "paper/cifar10-oe-sizes": dict(dataset="cifar10", oe=tiny, normal_class=all10,
                                       method=["hsc", "bce"], oe_size=_pow2(21) + ["all"],
                                       seed=list(range(1, 11))),
        "paper/cifar10-oe-classes": dict(dataset="cifar10", oe="cifar100", normal_class=all10,
                                         method=["hsc", "bce"],
                                         oe_classes=[1, 2, 4, 8, 16, 32, 64, 100],
                                         seed=list(range(1, 11))),
        "paper/cifar10-blur": dict(dataset="cifar10", oe=tiny, normal_class=all10,
                                   method=["hsc", "bce"], oe_size=[128],
                                   blur_sigma=[0, 1, 2, 4, 8, 16, 32], seed=list(range(1, 11))),
        # the table's unsupervised columns (baselines.md), and Geo+ with OE
        "paper/cifar10-baselines": dict(dataset="cifar10", oe="none", normal_class=all10,
                                        method=["ocsvm", "deep-svdd", "geo", "itae", "geo-plus"],
                                        seed=list(range(1, 6))),
        "paper/cifar10-geo-plus-oe": dict(dataset="cifar10", oe=tiny, normal_class=all10,
                                          method=["geo-plus"], seed=list(range(1, 6))),
        "paper/imagenet30-oe": dict(dataset=in30, oe=in22k, normal_class=list(range(30)),
                                    method=["hsc", "deep-sad", "bce", "focal"],
                                    seed=list(range(1, 11))),
        "paper/imagenet30-oe-sizes": dict(dataset=in30, oe=in22k, normal_class=list(range(30)),
                                          method=["hsc", "bce"], oe_size=_pow2(18) + ["all"],
                                          seed=list(range(1, 6))),
        "paper/imagenet30-blur": dict(dataset=in30, oe=in22k, normal_class=list(range(30)),
                                      method=["hsc", "bce"], oe_size=[64],
                                      blur_sigma=[0, 1, 2, 4, 8, 16, 32], seed=list(range(1, 6))),
    }


def preset_size(spec: dict) -> int:
    return math.prod(len(spec.get(f, [None])) for f in GRID_FIELDS)


@dataclass
class Grid:
    """Lists of values per field; `configs()` is their product, validated."""

    dataset: str = "digits"
    oe: str | None = None
    normal_class: list = field(default_factory=lambda: [0])
    method: list = field(default_factory=lambda: ["hsc"])
    oe_size: list = field(default_factory=lambda: ["all"])
    blur_sigma: list = field(default_factory=lambda: [0.0])
    oe_classes: list = field(default_factory=lambda: [None])
    seed: list = field(default_factory=lambda: [1])
    oe_jpeg: int | None = None  # RunConfig.oe_jpeg for every run (not an axis)
    preset: str = "quick"
    epochs: int | None = None
    precision: str = "auto"
    method_params: dict = field(default_factory=dict)

    def configs(self, notes: list | None = None) -> list[RunConfig]:
        notes = notes if notes is not None else []
        classes = self.normal_class
        if "all" in classes:
            classes = list(range(len(sources.get(self.dataset).classes())))
        out, seen = [], set()
        from . import methods as _methods
        known = {m: set(_methods.REGISTRY[m].params) for m in self.method if m in _methods.REGISTRY}
        unused = set(self.method_params) - set().union(*known.values()) if known else set()
        if unused and len(known) == len(self.method):
            raise DeepadError(f"no method of this sweep takes the parameter(s) {sorted(unused)}; "
                              f"see `python -m deepad methods` for each method's parameters")
        for k, m, n, sigma, kc, seed in itertools.product(
                classes, self.method, self.oe_size, self.blur_sigma, self.oe_classes, self.seed):
            from . import methods
            info = methods.info(m) if m in methods.names() else None
            oe = self.oe if self.oe is not None else (
                "photos" if info is not None and info.oe == "required" else "none")
            local = []
            cfg = make_config(dataset=self.dataset, normal_class=k, oe=oe, oe_size=n,
                              oe_classes=kc, blur_sigma=sigma, oe_jpeg=self.oe_jpeg, method=m, seed=seed,
                              preset=self.preset, epochs=self.epochs, precision=self.precision,
                              notes=local, **{p: v for p, v in self.method_params.items()
                                               if p in known.get(m, ())})
            for note in local:
                if note not in notes:
                    notes.append(note)
            if cfg.key not in seen:  # e.g. deep-svdd ignores the OE axes: one run, not many
                seen.add(cfg.key)
                out.append(cfg)
        return out


# ------------------------------------------------------------------ executing

@dataclass
class Outcome:
    key: str
    status: str  # "trained" | "cached" | "failed"
    auroc: float | None = None
    error: str | None = None
    seconds: float = 0.0


def _threads_per_worker(workers: int) -> int:
    """cores / workers, capped by OMP_NUM_THREADS when the user set it (e.g. to share the machine
    with another job: two jobs with 2 threads each on 2 cores run several times slower)."""
    n = max(1, (os.cpu_count() or 1) // max(1, workers))
    cap = os.environ.get("OMP_NUM_THREADS", "").strip()
    if cap.isdigit() and int(cap) >= 1:
        n = min(n, int(cap))
    return n


def _local_task(cfg_dict: dict, device: str, threads: int) -> Outcome:
    """Runs in a worker process: get or train one run into the shared store."""
    import torch

    from .errors import DeepadError as _DE
    from .experiments import get_or_train
    torch.set_num_threads(threads)
    cfg = RunConfig.from_dict(cfg_dict)
    t0 = time.perf_counter()
    try:
        res = get_or_train(cfg, device=device)
        return Outcome(cfg.key, "cached" if res.cached else "trained", res.metrics["auroc"],
                       seconds=time.perf_counter() - t0)
    except _DE as e:
        RunStore().record_failure(cfg, str(e))
        return Outcome(cfg.key, "failed", error=str(e), seconds=time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 - one bad run must not stop a sweep
        msg = f"{type(e).__name__}: {e}"
        RunStore().record_failure(cfg, msg)
        return Outcome(cfg.key, "failed", error=msg, seconds=time.perf_counter() - t0)


def default_workers() -> int:
    try:
        import torch
        if torch.cuda.is_available():
            return torch.cuda.device_count()
    except Exception:  # pragma: no cover
        pass
    return 1


def run_local(configs: list[RunConfig], *, workers: int = 1, device: str = "auto",
              on_outcome=None) -> list[Outcome]:
    """Train the configs with `workers` processes (1: in this process)."""
    threads = _threads_per_worker(workers)
    outcomes = []
    if workers <= 1:
        for cfg in configs:
            o = _local_task(cfg.to_dict(), device, threads)
            outcomes.append(o)
            if on_outcome:
                on_outcome(o)
        return outcomes
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    ctx = mp.get_context("spawn")  # no fork after torch has started its threads
    with ProcessPoolExecutor(workers, mp_context=ctx) as ex:
        futs = [ex.submit(_local_task, c.to_dict(), device, threads) for c in configs]
        for f in as_completed(futs):
            o = f.result()
            outcomes.append(o)
            if on_outcome:
                on_outcome(o)
    return outcomes


def run_sweep(configs: list[RunConfig], *, executor: str = "local", workers: int | None = None,
              address: str | None = None, device: str = "auto", store: RunStore | None = None,
              on_outcome=None) -> list[Outcome]:
    """Skip the cached configs, train the rest with the chosen executor; one Outcome per config."""
    store = store or RunStore()
    outcomes, todo = [], []
    for cfg in configs:
        if cfg.key in store and store.get(cfg.key) is not None:
            o = Outcome(cfg.key, "cached", store.get(cfg.key).metrics["auroc"])
            outcomes.append(o)
            if on_outcome:
                on_outcome(o)
        else:
            todo.append(cfg)
    if not todo:
        return outcomes
    if executor == "local":
        outcomes += run_local(todo, workers=workers or default_workers(), device=device,
                              on_outcome=on_outcome)
    elif executor == "ray":
        from .ray_executor import run_ray
        outcomes += run_ray(todo, address=address, device=device, store=store, on_outcome=on_outcome)
    else:
        raise DeepadError(f"unknown executor '{executor}'; choose local or ray")
    return outcomes


# ------------------------------------------------------------------ summaries

def summarize(rows: list[dict], *, by: list[str]) -> list[dict]:
    """Mean and standard deviation of AUROC over index rows grouped by the `by` fields."""
    groups: dict = {}
    for r in rows:
        if r.get("auroc") is None:
            continue
        groups.setdefault(tuple(r[f] for f in by), []).append(r["auroc"])

    def sort_key(t):
        return tuple((v is None, str(type(v)), v if v is not None else 0) for v in t)
    out = []
    for key in sorted(groups, key=sort_key):
        v = np.asarray(groups[key])
        out.append({**dict(zip(by, key)), "auroc_mean": float(v.mean()),
                    "auroc_std": float(v.std()), "runs": len(v)})
    return out


def varying_fields(rows: list[dict], exclude=("seed",)) -> list[str]:
    """The config fields that take more than one value among the rows (the grid's axes)."""
    fields = ["dataset", "oe", "normal_class", "method", "oe_size", "oe_classes", "blur_sigma",
              "seed", "epochs", "precision"]
    return [f for f in fields if f not in exclude and len({r[f] for r in rows}) > 1] or ["method"]


def format_table(summary: list[dict], fmt: str = "markdown") -> str:
    if not summary:
        return "(no finished runs match)"
    cols = list(summary[0])
    def cell(v):
        if isinstance(v, float):
            return f"{v:.4f}"
        return "all" if v is None else str(v)
    if fmt == "csv":
        import csv
        import io
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        for r in summary:
            w.writerow([cell(r[c]) for c in cols])
        return buf.getvalue().rstrip("\n")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r[c]) for c in cols) + " |" for r in summary]
    return "\n".join(lines)


# ------------------------------------------------------------------ background sweeps

def _sweeps_dir():
    from .data.sources import cache_root
    return cache_root() / "sweeps"


def start_background(configs: list[RunConfig], *, workers: int = 1, device: str = "auto") -> str:
    """Start `deepad sweep` over `configs` in a detached process (it keeps running when the
    caller, e.g. a dashboard page, goes away). Returns the job id; see `background_jobs`."""
    import json
    import subprocess
    import uuid
    from pathlib import Path
    d = _sweeps_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DeepadError(f"cannot write to {d} ({e.strerror}); make DEEPAD_CACHE writable") from None
    job = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    spec = d / f"{job}.json"
    spec.write_text(json.dumps({"configs": [c.to_dict() for c in configs],
                                "keys": [c.key for c in configs], "started": time.time()}))
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    with open(d / f"{job}.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "deepad", "sweep", "--from-file", str(spec),
                                 "--workers", str(workers), "--device", device],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    (d / f"{job}.pid").write_text(str(proc.pid))
    return job


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a finished child that nobody waited for is a zombie: not running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def background_jobs(store: RunStore | None = None) -> list[dict]:
    """Background sweeps, newest first: id, total, done (stored), failed, running."""
    import json
    store = store or RunStore()
    d = _sweeps_dir()
    if not d.is_dir():
        return []
    failed_keys = {r["key"] for r in store.query(status="failed")}
    out = []
    for spec in sorted(d.glob("*.json"), reverse=True):
        try:
            info = json.loads(spec.read_text())
            pid = int((d / f"{spec.stem}.pid").read_text())
        except (OSError, ValueError):
            continue
        keys = info["keys"]
        done = sum(1 for k in keys if k in store)
        out.append({"id": spec.stem, "total": len(keys), "done": done, "keys": list(keys),
                    "failed": sum(1 for k in keys if k in failed_keys and k not in store),
                    "running": _alive(pid), "started": info.get("started")})
    return out


def configs_from_file(path: str) -> list[RunConfig]:
    import json
    try:
        return [RunConfig.from_dict(d) for d in json.loads(open(path).read())["configs"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DeepadError(f"cannot read the sweep file {path} ({e}); give a file written by "
                          f"deepad") from None
