"""One stored run's files: checksums, the safetensors layout check, durable writes, and the
verified run a reader gets (StoredRun). The store (store.py) decides where runs live."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import RunConfig
from .errors import DeepadError

REQUIRED = ("config.json", "metrics.json", "scores.npz", "history.json")
OPTIONAL = ("weights.safetensors", "extremes.npz")
FILES = REQUIRED + ("weights.safetensors",)  # what a run trained here holds


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_safetensors(path: Path) -> bool:
    """Whether the file has a safetensors layout: an 8-byte little-endian header length, then
    that many bytes of JSON, inside the file. Cheap; never parses tensors or executes anything."""
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else 0
        if not 0 < n <= min(100 * 2 ** 20, os.path.getsize(path) - 8):
            return False
        try:
            return isinstance(json.loads(f.read(n)), dict)
        except ValueError:
            return False


def fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@dataclass
class StoredRun:
    """A verified run read from the store."""

    key: str
    config: RunConfig
    metrics: dict
    history: list
    path: Path
    _scores: dict | None = field(default=None, repr=False)

    def _load_scores(self):
        if self._scores is None:
            with np.load(self.path / "scores.npz", allow_pickle=False) as z:
                self._scores = {k: z[k] for k in z.files}
        return self._scores

    @property
    def scores(self) -> np.ndarray:
        """float64 (m,) test scores, higher = more anomalous."""
        return self._load_scores()["scores"]

    @property
    def labels(self) -> np.ndarray:
        """(m,) 1 = anomaly."""
        return self._load_scores()["labels"]

    @property
    def indices(self) -> np.ndarray:
        """(m,) position of each score in the data set's test split."""
        return self._load_scores()["indices"]

    @property
    def test_classes(self) -> np.ndarray:
        return self._load_scores()["classes"]

    @property
    def has_weights(self) -> bool:
        return (self.path / "weights.safetensors").exists()

    def extremes(self) -> dict | None:
        """{'indices', 'images'} of the test images kept with an imported run, or None."""
        p = self.path / "extremes.npz"
        if not p.exists():
            return None
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def weights(self) -> dict:
        """The model's state dict, read with safetensors (no code is ever executed)."""
        if not self.has_weights:
            raise DeepadError(f"run {self.key} came without its model (imported from a result "
                              f"bundle made without --weights): its metrics and scores are here, "
                              f"but nothing can be scored with it; import a bundle made with "
                              f"--weights, or delete the run and train it here")
        from safetensors.torch import load_file
        try:
            return load_file(str(self.path / "weights.safetensors"))
        except Exception as e:  # safetensors raises its own error types
            raise DeepadError(f"the weights of run {self.key} are unreadable ({type(e).__name__}); "
                              f"delete the run (its folder {self.path}) and ask for it again") from None
