"""Get or train one run: the single entry point that the CLI, the dashboard and sweeps share."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import numpy as np

from . import metrics as M
from .config import CODE_VERSION, RunConfig
from .data.tasks import build_task
from .errors import RunFailed
from .heavy import torch
from .machine import machine_id
from .operating import validation_split  # lives there now; deepad.experiments re-exports it
from .store import RunStore, StoredRun
from .train import Detector


@dataclass
class RunResult:
    """A finished run: `cached` says whether it came from the store without training."""

    run: StoredRun
    cached: bool

    @property
    def key(self) -> str:
        return self.run.key

    @property
    def config(self) -> RunConfig:
        return self.run.config

    @property
    def metrics(self) -> dict:
        return self.run.metrics

    def to_json(self) -> dict:
        m = self.run.metrics
        return {"run_key": self.key, "cached": self.cached, "auroc": m["auroc"], "auprc": m["auprc"],
                "fpr_at_95_tpr": m["fpr_at_95_tpr"], "train_seconds": m["train_seconds"],
                "eval_seconds": m.get("eval_seconds"), "device": m.get("device"),
                "precision": m.get("precision"), "config": self.config.to_dict()}


def _versions() -> dict:
    import deepad
    return {"deepad": deepad.__version__, "code_version": CODE_VERSION, "torch": torch.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def train_run(cfg: RunConfig, *, device: str = "auto", callbacks=(),
              task=None) -> tuple[Detector, dict, dict]:
    """Train and evaluate `cfg` without touching the store: (detector, metrics, score arrays).
    `task`: the run's data when the caller has them already (a Ray worker gets them from the
    driver); else they are read here (build_task)."""
    task = build_task(cfg) if task is None else task
    det = Detector.from_config(cfg, preprocessing=task.prep, device=device, callbacks=callbacks)
    val_idx = None
    validation = None
    if det.selects_on_test:
        val_idx = validation_split(task.test_labels, cfg.seed)
        validation = (task.test[val_idx], task.test_labels[val_idx])
    det.fit(task.train, task.oe, validation=validation)
    t0 = time.perf_counter()
    scores = det.score_samples(task.test)
    eval_seconds = time.perf_counter() - t0
    if not np.isfinite(scores).all():
        raise RunFailed("the trained model gives NaN or infinite scores; the run is not stored")
    m = M.summary(task.test_labels, scores)
    if getattr(det, "info_", None):
        m["method_info"] = det.info_
    if val_idx is not None:
        # The original protocol peeks at labelled test data to pick hyper-parameters. Say so, and
        # give the AUROC on the test images that were not used for the choice.
        rest = np.setdiff1d(np.arange(len(scores)), val_idx)
        m["selected_on_test"] = (f"hyper-parameters chosen by AUROC on {len(val_idx)} labelled test "
                                 f"images (10%, the original protocol); auroc_heldout excludes them")
        m["auroc_heldout"] = M.auroc(task.test_labels[rest], scores[rest])
    m.update(train_seconds=det.train_seconds_, eval_seconds=eval_seconds, device=str(det.device_),
             precision=det.precision_, n_train=int(len(task.train)),
             n_oe=int(len(task.oe)) if task.oe is not None else 0, n_test=int(len(task.test)),
             final_loss=det.history_[-1], versions=_versions(), machine=machine_id(),
             created=time.time())
    arrays = {"scores": scores, "labels": task.test_labels.astype(np.int8),
              "indices": np.arange(len(scores), dtype=np.int64),
              "classes": task.test_classes.astype(np.int64)}
    return det, m, arrays


def get_or_train(cfg: RunConfig, *, callbacks=(), store: RunStore | None = None,
                 device: str = "auto") -> RunResult:
    """The stored run for `cfg`, training it first if needed.

    Concurrent callers (threads or processes) asking for the same config train it once: the first
    takes the per-key lock and trains, the others wait and then read the stored run. A run that
    fails is recorded in the index as failed and RunFailed is raised; nothing is cached.
    """
    store = store or RunStore()

    def train():
        try:
            det, m, arrays = train_run(cfg, device=device, callbacks=callbacks)
        except RunFailed as e:
            store.record_failure(cfg, str(e))
            raise
        except torch.OutOfMemoryError as e:
            store.record_failure(cfg, f"out of memory: {e}")
            raise RunFailed(f"out of memory while training {cfg.key}; use a smaller batch or "
                            f"another device") from None
        return {"metrics": m, "history": det.history_, "scores": arrays,
                "weights": det.state_dict()}
    run, cached = store.put_once(cfg, train)
    return RunResult(run, cached=cached)


def load_detector(run: StoredRun, device: str = "auto") -> Detector:
    """The trained detector of a stored run (weights loaded without executing code)."""
    from .data import sources
    cfg = run.config
    src = sources.locate(cfg.dataset, cfg.dataset_id)
    shape = tuple(src.load("test").images.shape[1:])
    return Detector.restore(cfg.method, shape, run.weights(), preprocessing=src.preprocessing(),
                            device=device, method_params=dict(cfg.method_params))
