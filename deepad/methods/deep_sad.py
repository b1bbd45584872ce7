"""Deep SAD as the paper's code runs it: centre at the origin, no pretraining, biases on.

Loss: nominal ||phi||^2; OE 1 / (||phi||^2 + 1e-9) (eta = 1). Score: ||phi||^2.
"""

from ..heavy import nets
from .base import Method


class DeepSAD(Method):
    name = "deep-sad"
    title = "Deep SAD"
    family = "unsupervised-oe"
    oe = "required"
    summary = "semi-supervised Deep SVDD: nominal pulled to the centre, OE repelled by 1/distance"

    def build(self, shape):
        return nets.backbone(shape)

    def loss(self, model, x, y):
        d = model(x).float().pow(2).sum(1)
        return (y * (1.0 / (d + 1e-9)) + (1 - y) * d).mean()

    def score(self, model, x):
        return model(x).double().pow(2).sum(1)
