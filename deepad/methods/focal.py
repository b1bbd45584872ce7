"""Focal loss classifier (the BCE network): FL_i = (1 - p_t)^gamma * BCE_i, p_t = exp(-BCE_i)
clamped to [1e-7, 1 - 1e-7]; mean over the batch. gamma = 0 is BCE. Score: sigmoid(logit)."""

from ..heavy import F, nets, torch
from .base import Method


class Focal(Method):
    name = "focal"
    title = "Focal"
    family = "supervised-oe"
    oe = "required"
    summary = "binary classifier with the focal loss (down-weights easy samples)"
    params = {"gamma": 2.0}

    def build(self, shape):
        return nets.Classifier(nets.backbone(shape))

    def loss(self, model, x, y):
        bce = F.binary_cross_entropy_with_logits(model(x).float(), y, reduction="none")
        p_t = torch.exp(-bce).clamp(1e-7, 1 - 1e-7)
        return ((1 - p_t) ** float(self.hp["gamma"]) * bce).mean()

    def score(self, model, x):
        return model(x).double().sigmoid()
