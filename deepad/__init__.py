"""deepad: deep anomaly detection with outlier exposure on images.

Reproduces and extends Ruff et al., "Rethinking Assumptions in Deep Anomaly Detection" (2020).

    from deepad import make_config, get_or_train, Detector
    result = get_or_train(make_config(dataset="mnist", normal_class=0, oe="photos", oe_size=64))
    result.metrics["auroc"]

Conventions: anomaly scores are higher for more anomalous inputs; test label 1 = anomaly.

The names below are imported on first use (PEP 562), so `import deepad` and a command answered
from the run store stay light (deepad.heavy).
"""

__version__ = "0.2.0"

_EXPORTS = {"RunConfig": "config", "make_config": "config", "CODE_VERSION": "config",
            "get_or_train": "experiments", "train_run": "experiments",
            "load_detector": "experiments", "RunResult": "experiments", "RunStore": "store",
            "Detector": "train", "Callback": "train", "Cancelled": "train",
            "DeepadError": "errors", "DataError": "errors", "RunFailed": "errors"}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'deepad' has no attribute '{name}'")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
