"""Hypersphere classifier (HSC), the paper's main method.

h(z) = sqrt(||z||^2 + 1) - 1 (pseudo-Huber), normal probability p = exp(-h(phi(x))).
Loss per sample: nominal h; OE -log(1 - exp(-h) + 1e-9). Score: 1 - exp(-h), in float64 so that
large distances do not all round to 1.0 (the ranking, hence AUROC, equals that of ||phi(x)||).
"""

from ..heavy import nets, torch
from .base import Method, pseudo_huber


class HSC(Method):
    name = "hsc"
    title = "HSC"
    family = "unsupervised-oe"
    oe = "required"
    summary = "hypersphere classifier: nominal near the centre, OE pushed out (pseudo-Huber distance)"

    def build(self, shape):
        return nets.backbone(shape)

    def loss(self, model, x, y):
        h = pseudo_huber(model(x).float())
        oe_term = -torch.log(-torch.expm1(-h) + 1e-9)
        return torch.where(y > 0.5, oe_term, h).mean()

    def score(self, model, x):
        h = pseudo_huber(model(x).double())
        return -torch.expm1(-h)

    def export_score(self, model, x):
        return 1 - torch.exp(-pseudo_huber(model(x).double()))  # ONNX has no expm1
