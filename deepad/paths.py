"""Where deepad keeps things, from the environment: one place, no heavy imports.

DEEPAD_DATA     the data root (default cache/data): torchvision data sets, image folders
DEEPAD_CACHE    the run store and other caches (default cache/)
DEEPAD_DATASET_CACHE  decoded images and data-set fingerprints (default DEEPAD_CACHE/datasets)
"""

from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path:
    return Path(os.environ.get("DEEPAD_DATA", "cache/data"))


def cache_root() -> Path:
    return Path(os.environ.get("DEEPAD_CACHE", "cache"))


def decoded_root() -> Path:
    """Where decoded image folders are kept (DEEPAD_DATASET_CACHE, default DEEPAD_CACHE/datasets)."""
    return Path(os.environ.get("DEEPAD_DATASET_CACHE", cache_root() / "datasets"))
