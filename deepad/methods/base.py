"""What a method is: a network builder, a training loss and an anomaly score.

Conventions, everywhere in deepad: y = 1 marks an OE (anomalous) sample and y = 0 a nominal one;
scores are float64 and higher means more anomalous.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..heavy import nn, torch

# The paper's three families (its table's column groups); the dashboard groups methods by them.
FAMILIES = ("unsupervised", "unsupervised-oe", "supervised-oe")


class Method:
    """Base class. Subclasses set the class attributes and implement build/loss/score.

    `oe` is "required" (trains against OE), "never" (ignores OE) or "optional".
    `params` are method hyper-parameters with their defaults (e.g. focal's gamma); numbers only
    (flags are 0/1), they become part of the run config. `preset_params` gives other defaults per
    preset ({"quick": {...}, "paper": {...}}); what the user passes wins.
    `train_overrides` replace the protocol's training settings (lr, batch_size, weight_decay) for
    every preset; `recipe()` can also set the epochs and milestones per preset and data profile.

    Hooks, in the order the trainer calls them (all optional except build/loss/score):
    adapt_preprocessing -> build -> prepare -> [steps_per_epoch x loss per epoch | fit_direct]
    -> finish; load_state on restore. `select_on_test` methods get a labelled validation split of
    the test set (the original protocol of some baselines; recorded in the run's metrics).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    family: ClassVar[str]
    oe: ClassVar[str] = "required"
    summary: ClassVar[str] = ""
    params: ClassVar[dict] = {}
    preset_params: ClassVar[dict] = {}
    train_overrides: ClassVar[dict] = {}
    # True: trained by `fit_direct` (no SGD loop), e.g. a kernel method.
    direct: ClassVar[bool] = False

    def __init__(self, preset: str | None = None, **params):
        unknown = set(params) - set(self.params)
        if unknown:
            raise ValueError(f"{self.name} has no parameter(s) {sorted(unknown)}; "
                             f"it takes {sorted(self.params) or 'none'}")
        self.hp = {**self.params, **self.preset_params.get(preset or "quick", {}), **params}

    def recipe(self, profile: str, preset: str) -> dict:
        """Training settings replacing the protocol's for this data profile ('mnist', 'cifar',
        'imagenet', 'tiny') and preset: any of epochs, milestones, lr, batch_size, weight_decay."""
        return dict(self.train_overrides)

    def adapt_preprocessing(self, prep):
        """The data set's Preprocessing as this method wants it (e.g. without augmentation)."""
        return prep

    def steps_per_epoch(self, batches: int) -> int:
        """SGD steps in one epoch given the number of nominal batches (e.g. x transformations)."""
        return batches

    def select_on_test(self) -> bool:
        """Whether hyper-parameters are chosen on labelled test data (the original protocol)."""
        return False

    def fit_direct(self, model: nn.Module, nominal: torch.Tensor, validation=None) -> dict:
        """Train without the SGD loop (`direct` methods): nominal is the preprocessed float
        training set; validation (x, y) or None. Returns facts to record (e.g. the chosen gamma)."""
        raise NotImplementedError

    def finish(self, model: nn.Module, nominal_batches) -> None:
        """Called once after training (model in eval mode) with preprocessed nominal batches,
        e.g. to fit score statistics on the training data."""

    def load_state(self, model: nn.Module, state: dict) -> nn.Module:
        """Load saved weights into a freshly built model (override when shapes depend on data)."""
        model.load_state_dict(state)
        return model

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
