"""deepad: deep anomaly detection with outlier exposure on images.

Reproduces and extends Ruff et al., "Rethinking Assumptions in Deep Anomaly Detection" (2020).

    from deepad import make_config, get_or_train, Detector
    result = get_or_train(make_config(dataset="mnist", normal_class=0, oe="photos", oe_size=64))
    result.metrics["auroc"]

Conventions: anomaly scores are higher for more anomalous inputs; test label 1 = anomaly.
"""

__version__ = "0.1.0"

from .config import CODE_VERSION, RunConfig, make_config  # noqa: E402
from .errors import DataError, DeepadError, RunFailed  # noqa: E402
from .experiments import RunResult, get_or_train, load_detector, train_run  # noqa: E402
from .store import RunStore  # noqa: E402
from .train import Callback, Cancelled, Detector  # noqa: E402

__all__ = ["RunConfig", "make_config", "CODE_VERSION", "get_or_train", "train_run", "load_detector",
           "RunResult", "RunStore", "Detector", "Callback", "Cancelled", "DeepadError",
           "DataError", "RunFailed"]
