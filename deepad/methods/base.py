"""What a method is: a network builder, a training loss and an anomaly score.

Conventions, everywhere in deepad: y = 1 marks an OE (anomalous) sample and y = 0 a nominal one;
scores are float64 and higher means more anomalous.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

# The paper's three families (its table's column groups); the dashboard groups methods by them.
FAMILIES = ("unsupervised", "unsupervised-oe", "supervised-oe")


class Method:
    """Base class. Subclasses set the class attributes and implement build/loss/score.

    `oe` is "required" (trains against OE), "never" (ignores OE) or "optional".
    `params` are method hyper-parameters with their defaults (e.g. focal's gamma); they become part
    of the run config. `train_overrides` replace the protocol's training settings (lr, ...).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    family: ClassVar[str]
    oe: ClassVar[str] = "required"
    summary: ClassVar[str] = ""
    params: ClassVar[dict] = {}
    train_overrides: ClassVar[dict] = {}

    def __init__(self, **params):
        unknown = set(params) - set(self.params)
        if unknown:
            raise ValueError(f"{self.name} has no parameter(s) {sorted(unknown)}; "
                             f"it takes {sorted(self.params) or 'none'}")
        self.hp = {**self.params, **params}

    def build(self, shape: tuple[int, int, int]) -> nn.Module:
        raise NotImplementedError

    def prepare(self, model: nn.Module, nominal_batches) -> None:
        """Called once before training with an iterable of preprocessed nominal batches."""

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean loss over the batch x (N, C, H, W) with labels y (N,) in {0, 1}."""
        raise NotImplementedError

    def score(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Anomaly scores (N,), float64, higher = more anomalous."""
        raise NotImplementedError

    def export_score(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The same score written with operators every exporter knows (ONNX, TorchScript)."""
        return self.score(model, x)


def pseudo_huber(z: torch.Tensor) -> torch.Tensor:
    """h(z) = sqrt(||z||^2 + 1) - 1, row-wise: (N, d) -> (N,)."""
    return torch.sqrt(z.pow(2).sum(1) + 1) - 1


@dataclass(frozen=True)
class MethodInfo:
    name: str
    title: str
    family: str
    oe: str
    summary: str
    params: dict = field(default_factory=dict)
