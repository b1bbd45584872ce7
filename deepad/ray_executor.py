"""The Ray executor: each run is a Ray task that trains and returns its artifacts; the driver
writes them into its own run store (so workers need no shared disk) under the per-key lock.

Ray is optional: `pip install -r requirements-ray.txt`. With `address` None a local Ray instance
is started (or the one the caller already initialised is used); 'auto' or HOST:PORT joins a
cluster. A GPU is requested per task when the cluster has GPUs and the device allows it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .config import RunConfig
from .errors import DeepadError
from .store import RunStore


def _train_remote(cfg_dict: dict, device: str) -> dict:
    """Runs on a Ray worker: train one config, return everything the store needs (numpy only)."""
    import torch

    from .errors import DeepadError as _DE
    from .experiments import train_run
    cfg = RunConfig.from_dict(cfg_dict)
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    try:
        det, metrics, arrays = train_run(cfg, device=device)
    except _DE as e:
        return {"status": "failed", "error": str(e)}
    except Exception as e:  # noqa: BLE001 - reported to the driver, recorded there
        return {"status": "failed", "error": f"{type(e).__name__}: {e}"}
    return {"status": "ok", "metrics": metrics, "history": det.history_, "scores": arrays,
            "weights": {k: v.numpy() for k, v in det.state_dict().items()}}


def run_ray(configs: list[RunConfig], *, address: str | None = None, device: str = "auto",
            store: RunStore | None = None, on_outcome=None):
    from .outcome import Outcome
    try:
        import ray
    except ImportError:
        raise DeepadError("the Ray executor needs Ray; install it with "
                          "`pip install -r requirements-ray.txt` or use --executor local") from None
    import torch
    store = store or RunStore()
    started = False
    if not ray.is_initialized():
        pkg_root = str(Path(__file__).resolve().parents[1])
        env = {k: v for k, v in os.environ.items() if k.startswith("DEEPAD_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_root, os.environ.get("PYTHONPATH")]))
        try:
            ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False,
                     include_dashboard=False)
        except Exception as e:  # noqa: BLE001 - connection problems come in many types
            raise DeepadError(f"could not start or join a Ray cluster at {address or 'local'} "
                              f"({type(e).__name__}: {e}); check --address") from None
        started = True
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        task = ray.remote(num_cpus=1, num_gpus=1 if gpus and device != "cpu" else 0,
                          max_retries=0)(_train_remote)
        refs = {task.remote(cfg.to_dict(), device): cfg for cfg in configs}
        pending, outcomes = list(refs), []
        t0 = {r: time.perf_counter() for r in refs}
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            ref = done[0]
            cfg = refs[ref]
            try:
                payload = ray.get(ref)
            except Exception as e:  # noqa: BLE001 - a lost worker, say
                payload = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
            if payload["status"] != "ok":
                store.record_failure(cfg, payload["error"])
                o = Outcome(cfg.key, "failed", error=payload["error"])
            else:
                run, cached = store.put_once(cfg, lambda p=payload: {
                    "metrics": p["metrics"], "history": p["history"], "scores": p["scores"],
                    "weights": {k: torch.from_numpy(v.copy()) for k, v in p["weights"].items()}})
                o = Outcome(cfg.key, "cached" if cached else "trained", run.metrics["auroc"],
                            seconds=time.perf_counter() - t0[ref])
            outcomes.append(o)
            if on_outcome:
                on_outcome(o)
        return outcomes
    finally:
        if started:
            ray.shutdown()
