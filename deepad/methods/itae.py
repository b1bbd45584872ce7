"""ITAE, the inverse-transform autoencoder (Huang et al., arXiv 1911.10676), unsupervised: no OE.

Baselines section 5. The transformations erase information: graying erases colour, a rotation by
k x 90 degrees erases orientation. A U-Net (nets/unet.py) learns to restore the upright original
from the transformed image, on nominal data only; images it cannot restore are anomalous.

- Input transformation: gray(rot90(x, k)) with one k in {0, 1, 2, 3} drawn per image and step;
  gray = the mean of the channels (the unofficial code's formula; the paper gives none), one
  channel; for 1-channel data graying is the identity, so only the rotation remains. The grey is
  taken of the network's input, i.e. of the normalised channels for CIFAR-type data: per channel
  (x_c - m_c) / s_c, an affine function of a grey with weights proportional to 1/s_c (0.33, 0.34,
  0.32 for CIFAR-10), which erases the colour just the same. Rotations run on whole batches
  (all four rotations of the grey batch, then a gather by k), never per image.
- Target: the upright, preprocessed, full-colour x. Loss: MSE.
- Augmentation: the unofficial code only flips CIFAR images horizontally (p = 0.5) and does not
  augment MNIST, so `adapt_preprocessing` turns the data set's augmentation (jitter, flip, padded
  crop, noise) off and `loss` applies a batched random horizontal flip where the data set had
  augmentation. The data set's normalisation is kept (the reference uses mean = std = 0.5).
- Score: for each rotation k the L1 restoration error (mean absolute difference over C, H, W)
  of gray(rot90(x, k)), divided by that rotation's mean error on the nominal training images
  (computed in `finish`, kept in the model's `rot_err` buffer so it is saved with the weights;
  `normalize=0` leaves the errors raw), averaged over the four rotations.

Presets (`recipe`): `paper` is the unofficial recipe as far as the trainer allows: batch 32, full
width (64), 125 epochs for CIFAR-type data (500 / 4 transformations) and 500 for MNIST-type data
(the reference's MNIST config); the reference's plain SGD at lr 0.1, halved at every 10% of
training, becomes Adam at lr 1e-3 (the trainer's optimiser; SGD's rate does not carry over) with
the trainer's x0.1 steps at 1/3 and 2/3 of training, which follows the same geometric decay
(2^-3.3 ~ 0.1 per third); no weight decay (the reference has none). `quick` is sized for a 2-core
CPU: an eighth-width U-Net (8: 8-16-32-64-64, about 0.2 M parameters), Adam at lr 5e-3 with x0.1
at 2/3 of training, batch 32, 15 epochs for CIFAR-type data and 3 for MNIST-type data. (Baselines
5.4 suggests width 32, lr 1e-3, batch 64 for 15 epochs, about 8-10 min per CIFAR class; on MNIST
digit 0 lr 1e-3 / batch 64 needed about 6 epochs for AUROC 0.94, lr 5e-3 / batch 32 gets there in
3, and batch 64 was no faster per image on this CPU.)
"""

from __future__ import annotations

import dataclasses

from ..heavy import nets, no_grad, torch
from .base import Method

# Epochs per preset and data profile; the rest of the schedule comes from `recipe`.
_EPOCHS = {"paper": {"cifar": 125, "imagenet": 125, "mnist": 500, "tiny": 500},
           "quick": {"cifar": 15, "imagenet": 10, "mnist": 3, "tiny": 60}}


def gray(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, 1, H, W): the mean of the channels (the identity for C = 1)."""
    return x if x.shape[1] == 1 else x.mean(1, keepdim=True)


def rotate(x: torch.Tensor, k: int) -> torch.Tensor:
    """Rotation of a batch by k x 90 degrees (counter-clockwise as displayed, as PIL's rotate).

    Written as transpose + flip (what torch.rot90 does) so that ONNX and TorchScript exports
    know every operator."""
    k %= 4
    if k == 0:
        return x
    if k == 1:
        return x.transpose(-2, -1).flip(-2)
    if k == 2:
        return x.flip(-2).flip(-1)
    return x.transpose(-2, -1).flip(-1)


def transform(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """gray(rotate(x_i, k_i)) for every image i of the batch: (N, C, H, W), (N,) -> (N, 1, H, W).

    Batched: the four rotations of the grey batch, then one gather by k (square images)."""
    g = gray(x)
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"ITAE rotates by 90 degrees and needs square images, got {tuple(x.shape[-2:])}")
    stacked = torch.stack([rotate(g, r) for r in range(4)])  # (4, N, 1, H, W)
    return stacked[k.to(x.device), torch.arange(x.shape[0], device=x.device)]


class ITAE(Method):
    name = "itae"
    title = "ITAE (inverse-transform autoencoder)"
    family = "unsupervised"
    oe = "never"
    summary = ("restores the upright colour image from a grey, rotated copy; anomalies restore "
               "badly (no OE)")
    # width: the U-Net's first width (64 in the reference); normalize: 1 = divide each rotation's
    # error by its mean on the nominal training images (the unofficial code), 0 = raw errors.
    params = {"width": 8.0, "normalize": 1.0}
    preset_params = {"quick": {"width": 8.0}, "paper": {"width": 64.0}}

    def __init__(self, preset=None, **params):
        super().__init__(preset, **params)
        self.flip = False  # set by adapt_preprocessing where the data set augments

    def recipe(self, profile, preset):
        epochs = _EPOCHS[preset].get(profile, _EPOCHS[preset]["cifar"])
        if preset == "paper":
            return {"epochs": epochs, "milestones": (round(epochs / 3), round(2 * epochs / 3)),
                    "lr": 1e-3, "batch_size": 32, "weight_decay": 0.0}
        return {"epochs": epochs, "milestones": (max(1, round(2 * epochs / 3)),), "lr": 5e-3,
                "batch_size": 32, "weight_decay": 0.0}

    def adapt_preprocessing(self, prep):
        self.flip = bool(prep.augment)
        return dataclasses.replace(prep, augment=False, pad=0) if prep.augment else prep

    def build(self, shape):
        if len(shape) != 3:
            raise ValueError(f"ITAE works on images (C, H, W), got shape {tuple(shape)}")
        return nets.ITAENet(tuple(shape), int(self.hp["width"]))

    def loss(self, model, x, y):
        n = x.shape[0]
        if self.flip:
            flip = (torch.rand(n) < 0.5).to(x.device).view(-1, 1, 1, 1)
            x = torch.where(flip, x.flip(-1), x)
        k = torch.randint(0, 4, (n,))
        inp = transform(x, k)
        if x.is_contiguous(memory_format=torch.channels_last):
            inp = inp.contiguous(memory_format=torch.channels_last)
        return (model(inp).float() - x.float()).pow(2).mean()

    def _errors(self, model, x):
        """L1 restoration error per image and rotation: (N, 4), float64."""
        cols = []
        for r in range(4):
            out = model(rotate(gray(x), r))
            cols.append((out.double() - x.double()).abs().flatten(1).mean(1))
        return torch.stack(cols, 1)

    @no_grad
    def finish(self, model, nominal_batches):
        if not self.hp["normalize"]:
            return
        total, n = torch.zeros(4, dtype=torch.float64), 0
        for x in nominal_batches:
            total += self._errors(model, x).sum(0).cpu()
            n += x.shape[0]
        if n:
            model.rot_err.copy_((total / n).clamp_min(1e-12).to(model.rot_err))

    def score(self, model, x):
        e = self._errors(model, x)
        if self.hp["normalize"]:
            e = e / model.rot_err.double()
        return e.mean(1)
