"""The in-memory form every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

from ..heavy import torch


@dataclass
class ImageSet:
    """Images as a uint8 tensor of shape (N, C, H, W) with integer labels of shape (N,).

    `classes[k]` is the name of label k. Data sets without classes use a single class.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]

    def __post_init__(self):
        assert self.images.dtype == torch.uint8 and self.images.ndim == 4, (
            f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        assert self.labels.shape == (self.images.shape[0],), "one label per image"

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])
