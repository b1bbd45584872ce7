"""What an executor reports for each run of a sweep."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    key: str
    status: str  # "trained" | "cached" | "failed"
    auroc: float | None = None
    error: str | None = None
    seconds: float = 0.0
