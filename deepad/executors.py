"""Executors: train a list of configs into the run store, skipping what is stored, locally (a
pool of worker processes) or on Ray (deepad.ray_executor). A sweep is resumable by construction:
every finished run is stored atomically under its key, stored runs are skipped, and the per-key
lock keeps two processes from training the same run. A failed run is recorded and the rest go on."""

from __future__ import annotations

import os
import time

from .config import RunConfig
from .errors import DeepadError
from .outcome import Outcome  # noqa: E402,F401 - what a sweep reports per run
from .store import RunStore


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
              on_outcome=None, cpus_per_run: int = 1,
              gpus_per_run: float | None = None) -> list[Outcome]:
    """Skip the cached configs, train the rest with the chosen executor; one Outcome per config.
    cpus_per_run / gpus_per_run: the Ray executor's resources per task (see ray_executor)."""
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
        outcomes += run_ray(todo, address=address, device=device, store=store, on_outcome=on_outcome,
                            cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run)
    else:
        raise DeepadError(f"unknown executor '{executor}'; choose local or ray")
    return outcomes
