"""Convolutional autoencoder (the Deep SVDD paper's "DCAE" baseline), unsupervised: no OE.
baselines.md section 6.

- Network (nets.AutoEncoder): the encoder is the bias-free Deep SVDD network (plus a BatchNorm1d
  bottleneck for CIFAR-10), the decoder reshapes the code and upsamples it with 5x5
  ConvTranspose + BN (affine False, eps 1e-4) + LeakyReLU + nearest x2 stages to a sigmoid
  output; Xavier init for CIFAR-10 (6.2, 6.3). Other sides use a generic decoder (see the class).
- Preprocessing: that of Deep SVDD (2.6; `gcn=1`): no augmentation, no Normalize; inside the
  model, GCN (l1) per image then min-max scaling to [0, 1] with the nominal training data's
  constants (computed in `prepare`, saved as buffers `pre.lo`, `pre.hi`), so the target lies in
  the sigmoid's range. `gcn=0`: raw pixels in [0, 1].
- Loss: batch mean of the per-sample sum of squared reconstruction errors (the original's; the
  sum, not the mean, keeps the weight decay's weight relative to the loss as in the recipe).
  Score: the per-sample mean squared error of the preprocessed image (the sum divided by the
  number of values: same ranking, baselines.md 6.1); higher = more anomalous.

Presets (`recipe`): `paper` is the original pretraining recipe (2.7 / 6.1): Adam lr 1e-4, batch
200, 350 epochs with the milestone at 250 and weight decay 0.5e-6 for colour (CIFAR-type) data,
150 epochs with the milestone at 50 and weight decay 0.5e-3 for grayscale (MNIST-type) data.
`quick`: the same network, preprocessing, loss and batch size with 25 epochs (milestone 20,
baselines.md 6.5) at lr 1e-3 instead of 1e-4: at 1e-4 the autoencoder is still far from
converged after 25 epochs (see `train_overrides`); 8x8 digits (a few hundred images) get 100
epochs.

Why the earlier version ranked MNIST zeros as anomalous (AUROC 0.25 in the contract test): its
output was unbounded (no sigmoid), it trained on raw pixels, its loss was the per-pixel mean at
lr 1e-4, so after a few steps it was barely trained and its error was mostly ||x||^2, the amount
of ink, and zeros have the most ink. The GCN normalises the contrast of every image, the sigmoid
output matches the [0, 1] target, and the loss and learning rate now train the decoder in a few
steps.
"""

from __future__ import annotations

from dataclasses import replace

from ..heavy import nets, no_grad
from .base import Method
from .deep_svdd import collect


class AE(Method):
    name = "ae"
    title = "Autoencoder"
    family = "unsupervised"
    oe = "never"
    summary = "reconstructs nominal images; anomalies reconstruct badly"
    # gcn: 1 = GCN (l1) + min-max to [0, 1] (Deep SVDD's preprocessing), 0 = raw [0, 1] pixels.
    params = {"gcn": 1.0}
    # The learning rate of the quick preset (and of short trainings such as the contract test).
    train_overrides = {"lr": 1e-3}

    def __init__(self, preset=None, **params):
        super().__init__(preset, **params)
        if self.hp["gcn"] not in (0, 1):
            raise ValueError(f"ae gcn is a flag, 0 or 1; got {self.hp['gcn']:g}")

    def recipe(self, profile, preset):
        gray = profile in ("mnist", "tiny")
        wd = 0.5e-3 if gray else 0.5e-6
        if preset == "paper":
            epochs, milestone = (150, 50) if gray else (350, 250)
            return {"epochs": epochs, "milestones": (milestone,), "lr": 1e-4, "batch_size": 200,
                    "weight_decay": wd}
        epochs = 100 if profile == "tiny" else 25
        return {"epochs": epochs, "milestones": (round(0.8 * epochs),), "lr": 1e-3, "batch_size": 200,
                "weight_decay": wd}

    def adapt_preprocessing(self, prep):
        return replace(prep, augment=False, mean=None, std=None, pad=0)

    def build(self, shape):
        if len(shape) != 3:
            raise ValueError(f"the autoencoder works on images (C, H, W), got shape {tuple(shape)}")
        return nets.Reconstructor(tuple(shape))

    @no_grad
    def prepare(self, model, nominal_batches):
        model.pre.fit(collect(nominal_batches), gcn=bool(self.hp["gcn"]))

    def loss(self, model, x, y):
        target = model.pre(x).float()
        return (model.net(target).float() - target).pow(2).flatten(1).sum(1).mean()

    def score(self, model, x):
        target = model.pre(x).double()
        return (model.net(model.pre(x)).double() - target).pow(2).flatten(1).mean(1)
