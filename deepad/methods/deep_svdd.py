"""Deep SVDD (one-class), unsupervised: no OE.

Bias-free network (Deep SVDD's LeNets); centre c = mean of phi over the nominal training data from
one pass before training, in eval mode, with |c_j| < 0.1 pushed to +-0.1 (sign kept). Loss: mean
||phi(x) - c||^2 over nominal data; score ||phi(x) - c||^2. Trained with Adam at lr 1e-4 as in
the Deep SVDD paper. Not done here (see the baselines): autoencoder pretraining and the
GCN + min-max preprocessing; the data set's own preprocessing is used instead.
"""

import torch
from torch import nn

from ..nets import backbone
from .base import Method


class _Centred(nn.Module):
    def __init__(self, phi):
        super().__init__()
        self.phi = phi
        self.register_buffer("center", torch.zeros(phi.rep_dim))

    def forward(self, x):
        return self.phi(x)


class DeepSVDD(Method):
    name = "deep-svdd"
    title = "Deep SVDD"
    family = "unsupervised"
    oe = "never"
    summary = "maps nominal data into a small hypersphere around a fixed centre (no OE)"
    train_overrides = {"lr": 1e-4}

    def build(self, shape):
        return _Centred(backbone(shape, svdd=True))

    @torch.no_grad()
    def prepare(self, model, nominal_batches):
        was_training = model.training
        model.eval()
        total, n = None, 0
        for x in nominal_batches:
            z = model(x).float()
            total = z.sum(0) if total is None else total + z.sum(0)
            n += z.shape[0]
        c = total / n
        eps = 0.1
        c[(c.abs() < eps) & (c < 0)] = -eps
        c[(c.abs() < eps) & (c > 0)] = eps
        model.center.copy_(c)
        model.train(was_training)

    def loss(self, model, x, y):
        return (model(x).float() - model.center).pow(2).sum(1).mean()

    def score(self, model, x):
        return (model(x).double() - model.center.double()).pow(2).sum(1)
