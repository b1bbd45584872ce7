"""GEOM (Golan & El-Yaniv, NeurIPS 2018): classify geometric transformations, unsupervised.

A Wide ResNet learns to tell which of T transformations (`transforms.py`: 72 = flip x 3 vertical
x 3 horizontal translations x 4 rotations, or the code's 8-transformation SimpleTransformer =
flip x rotation) was applied to a nominal image (cross-entropy). Anomaly score: minus the
Dirichlet normality score of baselines.md 3.5(a),

    s(x) = (1/T) sum_t sum_k (alpha_{t,k} - 1) log softmax(f(T_t(x)))_k,

with alpha_t the maximum-likelihood Dirichlet fitted, per transformation, to the softmax outputs
of all nominal training images under T_t (in `finish`, model in eval mode): Minka's fixed point
alpha <- psi^-1(psi(sum alpha) + mean log y) from the exact initialisation of the GEOM code
(alpha_sum = (K - 1)(-psi(1)) / (sum_k f_k log f_k - sum_k f_k mean_i log y_ik), alpha0 = f alpha_sum),
psi^-1 by 5 Newton steps from Minka's start, stop when ||alpha_new - alpha_old||_2 < 1e-9 or after
1000 iterations. alpha is a buffer of the model, so it is saved and restored with the weights
(before `finish` it is all ones, which gives a constant score). `dirichlet=0` gives the simplified
score, minus the mean softmax probability of the correct transformation (no training-set pass).

Choices where the original leaves room or cannot be followed literally (also baselines.md 8):
- training: each SGD step gives every nominal image of the batch one transformation drawn
  uniformly at random, and `steps_per_epoch` = T x the nominal batches, so an epoch sees every
  (image, transformation) pair once on average; the original materialises the 72 x N pairs and
  shuffles them (an exact permutation, 4.4 GB for CIFAR-10). Labels are drawn from torch's global
  generator, which the trainer seeds.
- preprocessing: no augmentation (as the original); the data set's own normalisation is kept
  (CIFAR: Normalize mean/std; MNIST: [0, 1]) instead of the original's 2x - 1 scaling. The
  translations pad by reflection, so they commute with any per-channel affine scaling and the
  difference is only the input scale of the first convolution.
- log(0): log-probabilities are computed as log_softmax in float64 and floored at
  log(`prob_floor`) (default 1e-12) both when fitting alpha and when scoring; the original takes
  np.log of float32 softmax outputs and does not clip.
- scoring and fitting run the network on chunks of at most 256 images (sub-batches of the
  batch, one or more transformations per pass), never on all T x N images at once.
- the WRN ends with global average pooling (identical to the 8x8 pool at 32x32), so 28x28 and
  8x8 inputs work too; the translation is side // 4 pixels (7 at 28, 2 at 8).

Presets:
- paper: 72 transformations, WRN-10-4, Adam lr 1e-3, batch 128, weight decay 5e-4 (Keras L2
  2.5e-4 on every weight), 3 epochs (ceil(200 / 72)), no LR milestones, Dirichlet score.
- quick: 8 transformations (flip x rotation), WRN-10-1 (16/16/32/64 channels, 78k parameters),
  Adam lr 1e-3 with weight decay 5e-4, batch 128, 2 epochs (16 x N sample passes; 20 epochs on
  the 8x8 digits, which have ~180 images per class), no milestones, Dirichlet score. Fewer
  transformations and a narrower net lower the AUROC (baselines.md 3.7), in exchange for about
  100 CPU-seconds for MNIST digit 0 (measured: AUROC 0.917; 1 epoch gave 0.899) and a few
  minutes for a CIFAR-10 class on 2 CPU cores.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..heavy import F, nets, no_grad, torch
from .base import Method
from .transforms import geo_transforms

# Images per forward pass when scoring / fitting: batches are cut into sub-batches of at most this
# many images and the transformations grouped to about this many images per pass (CPU inference
# is fastest at a few hundred images per pass; memory stays small).
_CHUNK_IMAGES = 256


# ------------------------------------------------------------------------------ Dirichlet MLE
def inv_digamma(y: torch.Tensor, iters: int = 5) -> torch.Tensor:
    """psi^-1(y) by Newton steps from Minka's start point (GEOM utils.inv_psi)."""
    psi1 = torch.special.digamma(torch.ones((), dtype=y.dtype))
    x = torch.where(y >= -2.22, torch.exp(y) + 0.5, -1.0 / (y - psi1))
    for _ in range(iters):
        x = x - (torch.special.digamma(x) - y) / torch.special.polygamma(1, x)
    return x


def dirichlet_init(mean_p: torch.Tensor, mean_log_p: torch.Tensor) -> torch.Tensor:
    """GEOM's calc_approx_alpha_sum * f: the initial alpha from f = mean y and mean log y."""
    k = mean_p.shape[-1]
    psi1 = torch.special.digamma(torch.ones((), dtype=mean_p.dtype))
    f = mean_p
    denom = (f * torch.log(f)).sum() - (f * mean_log_p).sum()
    alpha_sum = (k - 1) * (-psi1) / denom
    if not torch.isfinite(alpha_sum) or alpha_sum <= 0:  # all observations equal: degenerate
        alpha_sum = torch.tensor(1e6, dtype=mean_p.dtype)
    return f * alpha_sum


def fit_dirichlet(mean_p: torch.Tensor, mean_log_p: torch.Tensor, max_iter: int = 1000,
                  tol: float = 1e-9) -> torch.Tensor:
    """Maximum-likelihood Dirichlet alpha (K,) from the sufficient statistics of N observations:
    mean_p = mean_i y_i and mean_log_p = mean_i log y_i (float64). Minka's fixed point from the
    GEOM code's initialisation; stops at ||alpha_new - alpha_old||_2 < tol or max_iter steps."""
    mean_p, mean_log_p = mean_p.double(), mean_log_p.double()
    alpha_old = dirichlet_init(mean_p, mean_log_p)
    alpha_new = alpha_old
    for _ in range(max_iter):
        alpha_new = inv_digamma(torch.special.digamma(alpha_old.sum()) + mean_log_p)
        if torch.linalg.vector_norm(alpha_old - alpha_new) < tol:
            break
        alpha_old = alpha_new
    return alpha_new


def dirichlet_normality(alpha: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """sum_k (alpha_k - 1) log p_k over the last axis."""
    return ((alpha - 1) * log_p).sum(-1)


# ------------------------------------------------------------------------------ the method
def _like(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if x.ndim == 4 and x.shape[1] > 1 and x.is_contiguous(memory_format=torch.channels_last):
        return out.contiguous(memory_format=torch.channels_last)
    return out


class Geo(Method):
    name = "geo"
    title = "GEOM (geometric transformations)"
    family = "unsupervised"
    oe = "never"
    summary = ("classifies which of 72 flips/translations/rotations was applied; Dirichlet "
               "normality score of the softmax outputs (no OE)")
    # transforms: 72 (flip x translations x rotations) or 8 (flip x rotations);
    # depth/widen/dropout: the WRN; dirichlet: 1 = Dirichlet score, 0 = mean probability of the
    # correct transformation; prob_floor: probabilities are floored at this before the log.
    params = {"transforms": 72.0, "depth": 10.0, "widen": 4.0, "dropout": 0.0, "dirichlet": 1.0,
              "prob_floor": 1e-12}
    preset_params = {"quick": {"transforms": 8.0, "widen": 1.0},
                     "paper": {"transforms": 72.0, "widen": 4.0}}

    def __init__(self, preset=None, **params):
        super().__init__(preset, **params)
        self.n_transforms = int(self.hp["transforms"])
        if self.n_transforms not in (8, 72):
            raise ValueError(f"geo: transforms must be 72 or 8, got {self.hp['transforms']}")
        self._sets = {}

    # -------------------------------------------------------------- recipe and hooks
    def recipe(self, profile, preset):
        rec = {"lr": 1e-3, "batch_size": 128, "weight_decay": 5e-4, "milestones": ()}
        if preset == "paper":
            rec["epochs"] = 3  # ceil(200 / 72) in the GEOM code
        else:
            rec["epochs"] = 20 if profile == "tiny" else 2
        return rec

    def adapt_preprocessing(self, prep):
        return replace(prep, augment=False, pad=0)

    def steps_per_epoch(self, batches):
        return batches * self.n_transforms

    def tset(self, side: int):
        if side not in self._sets:
            self._sets[side] = geo_transforms(side, self.n_transforms)
        return self._sets[side]

    def build(self, shape):
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"geo needs square images (C, H, W), got shape {tuple(shape)}")
        net = nets.WideResNet(shape[0], int(self.hp["depth"]), int(self.hp["widen"]),
                         float(self.hp["dropout"]), heads=self.n_transforms)
        return nets.GeoNet(net, self.n_transforms)

    def loss(self, model, x, y):
        ts = self.tset(x.shape[-1])
        t = torch.randint(len(ts), (x.shape[0],), device=x.device)
        logits = model(_like(ts.apply_each(x, t), x)).float()
        return F.cross_entropy(logits, t)

    # -------------------------------------------------------------- scoring
    def _log_probs(self, model, x):
        """Log-softmax of every transformation of x: (T, N, T) float64, floored."""
        ts = self.tset(x.shape[-1])
        floor = math.log(float(self.hp["prob_floor"]))
        out = []
        for xs in x.split(_CHUNK_IMAGES):
            n = xs.shape[0]
            per = max(1, _CHUNK_IMAGES // n)
            chunks = []
            for start in range(0, len(ts), per):
                idx = range(start, min(start + per, len(ts)))
                logits = model(_like(ts.apply_many(xs, idx), xs)).double()
                chunks.append(F.log_softmax(logits, 1).clamp_min(floor).view(len(idx), n, -1))
            out.append(torch.cat(chunks, 0))
        return torch.cat(out, 1)

    @no_grad
    def finish(self, model, nominal_batches):
        if not int(self.hp["dirichlet"]):
            return
        t_ = self.n_transforms
        sum_p = torch.zeros(t_, t_, dtype=torch.float64)
        sum_lp = torch.zeros(t_, t_, dtype=torch.float64)
        n = 0
        for x in nominal_batches:
            lp = self._log_probs(model, x).cpu()
            sum_p += lp.exp().sum(1)
            sum_lp += lp.sum(1)
            n += x.shape[0]
        alpha = torch.stack([fit_dirichlet(sum_p[t] / n, sum_lp[t] / n) for t in range(t_)])
        model.alpha.copy_(alpha.to(model.alpha.device))

    @no_grad
    def score(self, model, x):
        lp = self._log_probs(model, x)  # (T, N, T)
        if int(self.hp["dirichlet"]):
            alpha = model.alpha.to(x.device, torch.float64)
            normality = dirichlet_normality(alpha[:, None, :], lp).sum(0)
        else:  # probability of the correct transformation
            ar = torch.arange(self.n_transforms, device=x.device)
            normality = lp[ar, :, ar].exp().sum(0)
        return -normality / self.n_transforms
