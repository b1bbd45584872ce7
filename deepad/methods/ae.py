"""Convolutional autoencoder, unsupervised: no OE. Loss and score: the per-sample mean squared
reconstruction error (same ranking as the sum); score higher = more anomalous."""

from ..nets import AutoEncoder
from .base import Method


class AE(Method):
    name = "ae"
    title = "Autoencoder"
    family = "unsupervised"
    oe = "never"
    summary = "reconstructs nominal images; anomalies reconstruct badly"
    train_overrides = {"lr": 1e-4}

    def build(self, shape):
        return AutoEncoder(shape)

    def loss(self, model, x, y):
        return (model(x).float() - x.float()).pow(2).mean()

    def score(self, model, x):
        return (model(x).double() - x.double()).pow(2).flatten(1).mean(1)
