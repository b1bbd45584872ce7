"""The Ray executor: each run is a Ray task that trains and returns its artifacts; the driver
writes them into its own run store (workers need no shared disk) under the per-key lock.

What travels: the driver's `deepad` package (ray_cluster.connect) and the decoded data
(ray_data): a node needs Python and the requirements, neither the code nor DEEPAD_DATA. Before
anything starts, a probe on every node checks the requirements (one line naming the package and
the node) and the data are checked against the object store's size.

Resources: `cpus_per_run` CPUs (and as many torch threads) per task; `gpus_per_run` a GPU
fraction, so that several of the paper's small networks share one GPU (auto: a quarter of a GPU
for MNIST- and CIFAR-sized data, a whole one for ImageNet-sized; none on a CPU-only cluster or
with device cpu). Faults: a task whose worker dies is retried once, then recorded as failed;
Ctrl-C cancels what is pending, keeps what was stored, and stops a local Ray it started.

Ray is optional: `pip install -r requirements-ray.txt`. With `address` None a local Ray instance
is started (or the one the caller already initialised is used); 'auto' or HOST:PORT joins a
cluster.
"""

from __future__ import annotations

import time

from .config import RunConfig
from .errors import DeepadError
from .store import RunStore

RETRIES = 1  # a task whose worker dies is run once more


def _train_remote(cfg_dict: dict, device: str, threads: int, data: dict, pool: dict | None) -> dict:
    """Runs on a Ray worker: train one config on the shipped data, return what the store needs
    (numpy only)."""
    import torch

    from .errors import DeepadError as _DE
    from .experiments import train_run
    from .ray_data import task_of
    cfg = RunConfig.from_dict(cfg_dict)
    torch.set_num_threads(max(1, int(threads)))
    try:
        det, metrics, arrays = train_run(cfg, device=device, task=task_of(cfg, data, pool))
    except _DE as e:
        return {"status": "failed", "error": str(e)}
    except Exception as e:  # noqa: BLE001 - reported to the driver, recorded there
        return {"status": "failed", "error": f"{type(e).__name__}: {e}"}
    return {"status": "ok", "metrics": metrics, "history": det.history_, "scores": arrays,
            "weights": {k: v.numpy() for k, v in det.state_dict().items()}}


def auto_gpus(configs: list[RunConfig]) -> float:
    """The GPU share of a run: the paper's LeNets (MNIST-, CIFAR-sized data) use a fraction of a
    modern GPU, the ImageNet ResNet a whole one."""
    from .claims.checks import profile_of
    return 1.0 if any(profile_of(c.dataset) == "imagenet" for c in configs) else 0.25


def run_ray(configs: list[RunConfig], *, address: str | None = None, device: str = "auto",
            store: RunStore | None = None, on_outcome=None, cpus_per_run: int = 1,
            gpus_per_run: float | None = None, check_nodes: bool = True):
    from .outcome import Outcome
    try:
        import ray
    except ImportError:
        raise DeepadError("the Ray executor needs Ray; install it with "
                          "`pip install -r requirements-ray.txt` or use --executor local") from None
    import torch

    from . import ray_cluster, ray_data
    if cpus_per_run < 1:
        raise DeepadError(f"--cpus-per-run must be at least 1, got {cpus_per_run}")
    if gpus_per_run is not None and not 0 <= gpus_per_run <= 8:
        raise DeepadError(f"--gpus-per-run must be between 0 and 8 (e.g. 0.25), got {gpus_per_run}")
    store = store or RunStore()
    started = ray_cluster.connect(address)
    refs: dict = {}
    try:
        if check_nodes:
            ray_cluster.check_nodes()
        t_ship = time.perf_counter()
        datasets, pools, total = ray_data.decode(configs)
        ray_data.check_fits(total, ray.cluster_resources().get("object_store_memory", 0))
        data_refs = {k: ray.put(v) for k, v in datasets.items()}
        pool_refs = {k: ray.put(v) for k, v in pools.items()}
        shipped = {"bytes": total, "seconds": time.perf_counter() - t_ship}
        has_gpus = ray.cluster_resources().get("GPU", 0) > 0 and device != "cpu"
        gpus = (auto_gpus(configs) if gpus_per_run is None else gpus_per_run) if has_gpus else 0
        task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus, max_retries=RETRIES,
                          retry_exceptions=False)(_train_remote)
        for cfg in configs:
            pk = ray_data.pool_key(cfg)
            ref = task.remote(cfg.to_dict(), device, cpus_per_run,
                              data_refs[ray_data.dataset_key(cfg)],
                              None if pk is None else pool_refs[pk])
            refs[ref] = cfg
        pending, outcomes = list(refs), []
        t0 = time.perf_counter()
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            ref = done[0]
            cfg = refs[ref]
            try:
                payload = ray.get(ref)
            except Exception as e:  # noqa: BLE001 - a worker lost twice, say
                payload = {"status": "failed", "error": f"{type(e).__name__}: "
                                                        f"{str(e).splitlines()[0][:300]}"}
            if payload["status"] != "ok":
                store.record_failure(cfg, payload["error"])
                o = Outcome(cfg.key, "failed", error=payload["error"])
            else:
                run, cached = store.put_once(cfg, lambda p=payload: {
                    "metrics": p["metrics"], "history": p["history"], "scores": p["scores"],
                    "weights": {k: torch.from_numpy(v.copy()) for k, v in p["weights"].items()}})
                o = Outcome(cfg.key, "cached" if cached else "trained", run.metrics["auroc"],
                            seconds=time.perf_counter() - t0)
            outcomes.append(o)
            if on_outcome:
                on_outcome(o)
        run_ray.last_shipped = shipped  # what the data cost to ship (benchmarks read it)
        return outcomes
    except KeyboardInterrupt:
        for ref in refs:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001, S110 - finished or lost already
                pass
        raise
    finally:
        if started:
            ray.shutdown()
            ray_cluster.release()


run_ray.last_shipped = None
