"""Deep SVDD (one-class), unsupervised: no OE. Ruff et al., ICML 2018; baselines.md section 2.

- Network: the bias-free LeNets of Deep SVDD (`nets.backbone(shape, svdd=True)`: no bias anywhere, BN
  with affine False and eps 1e-4, LeakyReLU; MNIST 8-4 -> 32, CIFAR-10 32-64-128 -> 128).
- Preprocessing (2.6; `gcn=1`, the default): the data set's augmentation and Normalize are turned
  off (the Deep SVDD code uses none), and inside the model, on pixels in [0, 1]: global contrast
  normalisation per image over all C x H x W values (subtract the image mean, divide by the mean
  absolute value of the centred image, "l1"), then min-max scaling to [0, 1] with the minimum and
  maximum over the nominal training images after GCN. The two constants are computed in `prepare`
  and kept as buffers (`pre.lo`, `pre.hi`), so they are saved with the weights and applied to the
  test images as well. `gcn=0` leaves the pixels in [0, 1]. Feature vectors (2-D toy data) get
  no GCN (it is meant for images).
- Pretraining (2.5; `pretrain=1`): `prepare` trains the matching autoencoder (nets.AutoEncoder,
  whose encoder is this network) on the preprocessed nominal images with the loss "batch mean of
  the per-sample sum of squared errors": Adam lr 1e-4, batch 200, shuffled each epoch (from the
  seeded global torch generator, so a seed fixes the result), MultiStepLR x0.1 at one milestone,
  weight decay (Adam's coupled L2) 0.5e-3 for grayscale (MNIST-type) data and 0.5e-6 for colour
  (CIFAR-type) data (2.7). `pretrain_epochs=-1` is the paper's: 350 epochs with the milestone at
  250 for colour data, 150 at 50 for grayscale data; any other value N trains N epochs with the
  milestone at round(3N/4) (2.9 suggests 20 with the milestone at 15). Then every encoder entry,
  BN running statistics included, is copied into this network (the AE's bottleneck BN and decoder
  are dropped). `pretrain=0`: PyTorch's default initialisation.
- Centre (2.2): c = mean of phi over the nominal training data in one pass in eval mode, after
  pretraining, with |c_j| < 0.1 pushed to +-0.1 (sign kept); c is never updated.
- Loss: mean ||phi(x) - c||^2 over the batch; score ||phi(x) - c||^2 (one-class objective).

Presets (`recipe`, 2.7 / 2.9): `paper` trains 150 epochs, milestone 50, Adam lr 1e-4, batch 200,
weight decay 0.5e-6 after the paper's pretraining. `quick` keeps the network, preprocessing,
pretraining and centre rule with 20 pretraining + 20 Deep SVDD epochs (milestones at 15), same
lr, batch and weight decay (2.9); for 8x8 digits (a few hundred images) 20 + 100 epochs. Measured
here (shared 2-core CPU, one thread): MNIST digit 0 AUROC 0.966 in ~90 s; CIFAR-10 class 0 0.616
(the paper: 61.7) in ~15 min wall under heavy CPU contention.

Deviations from the original code: the trainer drops the last partial batch of each Deep SVDD
epoch (the original keeps it; the pretraining here keeps it too); MultiStepLR steps after each
epoch (current PyTorch order), so a milestone lands one epoch later than in the original; the
pretraining progress is not reported to the trainer's callbacks.
"""

from __future__ import annotations

from dataclasses import replace

from ..heavy import nets, nn, no_grad, torch
from .base import Method


def collect(nominal_batches) -> torch.Tensor:
    """The trainer's nominal batches (an iterable, one pass) as one tensor."""
    xs = [x for x in nominal_batches]
    return torch.cat(xs) if len(xs) > 1 else xs[0]


def pretrain_schedule(epochs: float, channels: int) -> tuple[int, int, float]:
    """(epochs, milestone, weight decay) of the autoencoder training (baselines.md 2.7):
    epochs -1 = the paper's (350 @ 250 for colour data, 150 @ 50 for grayscale data), otherwise
    `epochs` with the milestone at 3/4; weight decay 0.5e-3 grayscale, 0.5e-6 colour."""
    gray = channels == 1
    wd = 0.5e-3 if gray else 0.5e-6
    if epochs < 0:
        return (150, 50, wd) if gray else (350, 250, wd)
    n = int(epochs)
    return n, max(1, round(0.75 * n)), wd


def fit_autoencoder(ae: nn.Module, x: torch.Tensor, *, epochs: int, milestone: int, lr: float = 1e-4,
                    weight_decay: float = 0.5e-6, batch_size: int = 200) -> list[float]:
    """Train `ae` to reconstruct x (already preprocessed, in [0, 1]) with the Deep SVDD code's
    recipe: Adam, MultiStepLR x0.1 at `milestone`, shuffled batches (last partial one kept), loss
    = batch mean of the per-sample sum of squared errors. Shuffling draws from the global torch
    generator (seeded by the trainer). Returns the mean loss per epoch; leaves `ae` in eval mode."""
    opt = torch.optim.Adam(ae.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [milestone], gamma=0.1)
    n = len(x)
    history = []
    ae.train()
    for _ in range(epochs):
        perm = torch.randperm(n).to(x.device)
        total = torch.zeros((), device=x.device)
        for i in range(0, n, batch_size):
            xb = x[perm[i:i + batch_size]]
            if len(xb) < 2:  # a lone last sample: BatchNorm1d cannot train on one
                continue
            loss = (ae(xb) - xb).pow(2).flatten(1).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(xb)
        sched.step()
        history.append(float(total) / n)
    ae.eval()
    return history


class DeepSVDD(Method):
    name = "deep-svdd"
    title = "Deep SVDD"
    family = "unsupervised"
    oe = "never"
    summary = "maps nominal data into a small hypersphere around a fixed centre (no OE)"
    # gcn: 1 = GCN (l1) + min-max to [0, 1] on the nominal training data (2.6), 0 = raw [0, 1] pixels.
    # pretrain: 1 = initialise from a trained autoencoder (2.5); pretrain_epochs: its epochs
    # (-1: the paper's, 350 colour / 150 grayscale).
    params = {"gcn": 1.0, "pretrain": 1.0, "pretrain_epochs": 20.0}
    preset_params = {"quick": {"pretrain_epochs": 20.0}, "paper": {"pretrain_epochs": -1.0}}
    train_overrides = {"lr": 1e-4}

    def __init__(self, preset=None, **params):
        super().__init__(preset, **params)
        for k in ("gcn", "pretrain"):
            if self.hp[k] not in (0, 1):
                raise ValueError(f"deep-svdd {k} is a flag, 0 or 1; got {self.hp[k]:g}")
        e = self.hp["pretrain_epochs"]
        if not (e == -1 or (e >= 1 and float(e).is_integer())):
            raise ValueError(f"deep-svdd pretrain_epochs must be a whole number >= 1 (or -1: the "
                             f"paper's); got {e:g}")
        self.pretrain_info: dict = {}

    def recipe(self, profile, preset):
        if preset == "paper":
            return {"epochs": 150, "milestones": (50,), "lr": 1e-4, "batch_size": 200,
                    "weight_decay": 0.5e-6}
        epochs = 100 if profile == "tiny" else 20
        return {"epochs": epochs, "milestones": (round(0.75 * epochs),), "lr": 1e-4,
                "batch_size": 200, "weight_decay": 0.5e-6}

    def adapt_preprocessing(self, prep):
        return replace(prep, augment=False, mean=None, std=None, pad=0)

    def build(self, shape):
        return nets.Centred(nets.backbone(shape, svdd=True))

    @no_grad
    def prepare(self, model, nominal_batches):
        was_training = model.training
        x = collect(nominal_batches)
        images = x.ndim == 4
        model.pre.fit(x, gcn=bool(self.hp["gcn"]) and images)
        if self.hp["pretrain"] and images and len(x) >= 2:
            self._pretrain(model, x)
        model.eval()
        total, n = None, 0
        for i in range(0, len(x), 512):
            z = model(x[i:i + 512]).float()
            total = z.sum(0) if total is None else total + z.sum(0)
            n += z.shape[0]
        c = total / n
        eps = 0.1
        c[(c.abs() < eps) & (c < 0)] = -eps
        c[(c.abs() < eps) & (c > 0)] = eps
        model.center.copy_(c)
        model.train(was_training)

    def _pretrain(self, model, x):
        xp = torch.cat([model.pre(x[i:i + 1024]) for i in range(0, len(x), 1024)])
        epochs, milestone, wd = pretrain_schedule(self.hp["pretrain_epochs"], x.shape[1])
        ae = nets.AutoEncoder(tuple(x.shape[1:])).to(x.device)
        if x.is_contiguous(memory_format=torch.channels_last):
            ae = ae.to(memory_format=torch.channels_last)
        with torch.enable_grad():
            history = fit_autoencoder(ae, xp, epochs=epochs, milestone=milestone, weight_decay=wd)
        model.phi.load_state_dict(ae.encoder.state_dict())
        self.pretrain_info = {"epochs": epochs, "milestone": milestone, "weight_decay": wd,
                              "final_loss": history[-1] if history else None}

    def loss(self, model, x, y):
        return (model(x).float() - model.center).pow(2).sum(1).mean()

    def score(self, model, x):
        return (model(x).double() - model.center.double()).pow(2).sum(1)


def __getattr__(name):  # the preprocessing module moved to deepad.nets (loaded lazily)
    if name in ("GCNMinMax", "gcn_l1"):
        return getattr(nets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
