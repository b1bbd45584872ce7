"""Binary cross-entropy (BCE) classifier: backbone + Linear(rep_dim -> 1); OE = 1, nominal = 0.

Score: sigmoid(logit), in float64.
"""


from ..heavy import F, nets
from .base import Method


class BCE(Method):
    name = "bce"
    title = "BCE"
    family = "supervised-oe"
    oe = "required"
    summary = "plain binary classifier, nominal vs OE (binary cross-entropy)"

    def build(self, shape):
        return nets.Classifier(nets.backbone(shape))

    def loss(self, model, x, y):
        return F.binary_cross_entropy_with_logits(model(x).float(), y)

    def score(self, model, x):
        return model(x).double().sigmoid()
