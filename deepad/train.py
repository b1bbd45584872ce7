"""The detector: a scikit-learn-like face over one small training loop.

    det = Detector("hsc", epochs=10).fit(nominal, outliers)   # uint8 (N, C, H, W) images
    scores = det.score_samples(test_images)                   # float64, higher = more anomalous

Training follows the paper (paper-protocol.md section 4): each step draws 128 nominal images
(shuffled each epoch, last partial batch dropped) and 128 OE images, concatenated into one batch
for a single forward pass (BatchNorm sees the mixture); Adam, MultiStepLR x0.1 at the milestones.
OE batches walk the OE subset cyclically from a random offset after a per-epoch shuffle, so with
64 OE images every OE batch holds each image twice, as in the paper's code. Augmentation, blur and
normalisation run on whole batches on the training device. Progress reaches the caller through
callbacks; the core knows nothing about who listens.
"""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import contextmanager

import numpy as np

from . import methods
from .data.augment import Preprocessing, eval_view, train_view
from .device import resolve_device, resolve_precision
from .errors import DeepadError, RunFailed
from .heavy import torch


class Callback:
    """Hooks a caller can implement; each gets the detector first. Raise `Cancelled` to stop."""

    def on_fit_start(self, det, total_steps: int): ...

    def on_step_end(self, det, step: int, loss: float | None): ...

    def on_epoch_end(self, det, epoch: int, loss: float): ...

    def on_fit_end(self, det): ...


@contextmanager
def seeded(seed: int, dev):
    """torch's global generators (CPU, and `dev` when it is a GPU) seeded with `seed` for the
    block and restored after it: a fit is reproducible and leaves its caller's RNG state as it
    found it (torch.random.fork_rng)."""
    gpus = [dev.index if dev.index is not None else torch.cuda.current_device()] \
        if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=gpus):
        torch.manual_seed(seed)
        yield


class Cancelled(Exception):
    """Raised by a callback to stop training; nothing is stored."""


def _as_images(x, name: str) -> torch.Tensor:
    """uint8 images (N, C, H, W) / (N, H, W), or float feature vectors (N, D) (e.g. 2-D toy data)."""
    t = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    if t.ndim == 2 and t.is_floating_point():
        return t.float()
    if t.ndim == 3:
        t = t[:, None]
    if t.ndim != 4:
        raise DeepadError(f"{name} must be images of shape (N, C, H, W) or (N, H, W), or float "
                          f"features (N, D); got {tuple(t.shape)}")
    if t.dtype != torch.uint8:
        raise DeepadError(f"{name} must be uint8 pixels 0..255, got {t.dtype}")
    return t


def _train_view(x, prep, g, blur_sigma=0.0):
    return x if x.is_floating_point() else train_view(x, prep, g, blur_sigma)


def _eval_view(x, prep):
    return x if x.is_floating_point() else eval_view(x, prep)


class Detector:
    """An anomaly detector trained with (or without) outlier exposure.

    Parameters are stored, not checked, in __init__ (scikit-learn's rule); `fit` validates them.
    Learned state ends in an underscore: `model_`, `method_`, `history_` (mean loss per epoch),
    `train_seconds_`, `device_`, `precision_`.
    """

    def __init__(self, method: str = "hsc", *, epochs: int = 10, milestones=(), batch_size: int = 128,
                 lr: float = 1e-3, weight_decay: float = 5e-7, blur_sigma: float = 0.0,
                 preprocessing: Preprocessing | None = None, device: str = "auto",
                 precision: str = "auto", channels_last: bool = True, random_state: int = 0,
                 oe_batch: int | None = None, oe_augment: bool = True, callbacks=(),
                 **method_params):
        self.method = method
        self.epochs, self.milestones, self.batch_size = epochs, tuple(milestones), batch_size
        self.lr, self.weight_decay, self.blur_sigma = lr, weight_decay, blur_sigma
        self.preprocessing, self.device, self.precision = preprocessing, device, precision
        self.channels_last, self.random_state = channels_last, random_state
        self.oe_batch, self.oe_augment = oe_batch, oe_augment
        self.callbacks, self.method_params = list(callbacks), method_params

    @classmethod
    def from_config(cls, cfg, *, preprocessing: Preprocessing | None = None, device: str = "auto",
                    callbacks=(), **overrides) -> "Detector":
        """The detector a RunConfig describes: its method and parameters, schedule, optimiser,
        blur, precision and seed. `preprocessing` comes with the data (build_task(cfg).prep);
        `overrides` change Detector arguments (a benchmark's channels_last=False, say)."""
        kw = dict(epochs=cfg.epochs, milestones=cfg.milestones, batch_size=cfg.batch_size,
                  lr=cfg.lr, weight_decay=cfg.weight_decay, blur_sigma=cfg.blur_sigma,
                  precision=cfg.precision, random_state=cfg.seed, oe_batch=cfg.oe_batch,
                  oe_augment=cfg.oe_augment, **dict(cfg.method_params))
        return cls(cfg.method, preprocessing=preprocessing, device=device, callbacks=callbacks,
                   **{**kw, **overrides})

    @property
    def selects_on_test(self) -> bool:
        """Whether the method picks hyper-parameters on labelled data (fit's `validation`)."""
        return methods.get(self.method, **self.method_params).select_on_test()

    # ------------------------------------------------------------------ fit
    def fit(self, nominal, outliers=None, *, validation=None) -> "Detector":
        """Train on nominal images (uint8 (N, C, H, W)) and optional OE images (uint8 array, or
        an object with `__len__` and `take(positions)`). `validation`: (uint8 images, labels with
        1 = anomaly), used only by methods that select hyper-parameters on labelled data (the
        OC-SVM's original protocol). Returns self; facts such a method records land in `info_`.

        Randomness comes from `random_state` alone: the batch order and augmentation draw from
        generators made here, and what torch draws from its global generators (weight init, a
        method's own draws) happens inside `seeded`, which gives the caller's RNG state back."""
        with seeded(self.random_state, resolve_device(self.device)):
            return self._fit(nominal, outliers, validation)

    def _fit(self, nominal, outliers, validation) -> "Detector":
        nominal = _as_images(nominal, "nominal")
        method = methods.get(self.method, **self.method_params)
        if method.oe == "required" and outliers is None:
            raise DeepadError(f"{method.name} needs outliers (OE images); pass outliers=...")
        if method.oe == "never":
            outliers = None
        if outliers is not None and (isinstance(outliers, (np.ndarray, torch.Tensor))
                                     or not hasattr(outliers, "take")):
            outliers = _as_images(outliers, "outliers")
            if outliers.shape[1:] != nominal.shape[1:] or outliers.dtype != nominal.dtype:
                raise DeepadError(f"outliers have shape {tuple(outliers.shape[1:])}, nominal images "
                                  f"{tuple(nominal.shape[1:])}; conform them first")
        if outliers is not None and len(outliers) == 0:
            raise DeepadError("outliers is empty")
        if int(self.epochs) < 1:
            raise DeepadError(f"epochs must be at least 1, got {self.epochs}")
        dev = resolve_device(self.device)
        prep = method.adapt_preprocessing(self.preprocessing or Preprocessing())
        shape = prep.input_shape(tuple(nominal.shape[1:]))
        prec = resolve_precision(self.precision, dev, shape)
        self._deterministic(dev)
        self.method_, self.device_, self.precision_, self.prep_ = method, dev, prec, prep
        model = method.build(shape).to(dev)
        use_cl = self.channels_last and dev.type != "mps" and len(shape) == 3
        if use_cl:
            model = model.to(memory_format=torch.channels_last)
        self.model_ = model
        self.shape_ = tuple(nominal.shape[1:])

        g = torch.Generator(device=dev).manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        nom = nominal.to(dev)
        oe_on_dev = outliers.to(dev) if isinstance(outliers, torch.Tensor) else None
        n, bs = len(nom), int(self.batch_size)
        nb = min(bs, n)
        batches = max(1, n // nb)
        steps = method.steps_per_epoch(batches)
        total = steps * self.epochs
        self.info_ = {}

        def nominal_batches():
            return (self._to_input(_eval_view(nom[i:i + 512], prep), use_cl) for i in range(0, n, 512))

        if method.direct:
            return self._fit_direct(method, model, nom, prep, validation, dev)
        t0 = time.perf_counter()  # training time includes `prepare` (e.g. AE pretraining)
        method.prepare(model, nominal_batches())
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(self.milestones), gamma=0.1)
        autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=(prec == "bf16"))
        # OE images per step: as many as nominal ones (the paper), or oe_batch (a small OE set
        # shown once per step rather than repeated); without augmentation when oe_augment is off
        nbo = 0 if outliers is None else (nb if self.oe_batch is None else max(1, int(self.oe_batch)))
        prep_oe = prep if self.oe_augment else dataclasses.replace(prep, augment=False)
        y = torch.cat([torch.zeros(nb), torch.ones(nbo)]).to(dev)
        self.history_ = []
        for cb in self.callbacks:
            cb.on_fit_start(self, total)
        step = 0
        model.train()
        for epoch in range(self.epochs):
            perm = torch.from_numpy(rng.permutation(n)).to(dev)
            if outliers is not None:
                m = len(outliers)
                oe_perm = rng.permutation(m)
                offset = int(rng.integers(m))
            loss_sum = torch.zeros((), device=dev)
            for s in range(steps):
                if s and s % batches == 0:  # methods with more steps than batches: new pass
                    perm = torch.from_numpy(rng.permutation(n)).to(dev)
                b = s % batches
                x = _train_view(nom[perm[b * nb:(b + 1) * nb]], prep, g)
                if outliers is not None:
                    pos = oe_perm[(offset + s * nbo + np.arange(nbo)) % m]
                    xo = (oe_on_dev[torch.from_numpy(pos).to(dev)] if oe_on_dev is not None
                          else outliers.take(pos).to(dev))
                    x = torch.cat([x, _train_view(xo, prep_oe, g, self.blur_sigma)])
                x = self._to_input(x, use_cl)
                with autocast:
                    loss = method.loss(model, x, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.detach()
                step += 1
                for cb in self.callbacks:
                    cb.on_step_end(self, step, None)
            sched.step()
            mean_loss = float(loss_sum) / steps
            if not math.isfinite(mean_loss):
                raise RunFailed(f"training diverged: the loss became {mean_loss} in epoch {epoch + 1}; "
                                f"try a smaller learning rate or another seed")
            self.history_.append(mean_loss)
            for cb in self.callbacks:
                cb.on_epoch_end(self, epoch + 1, mean_loss)
        model.eval()
        method.finish(model, nominal_batches())
        if dev.type == "cuda":
            torch.cuda.synchronize()
        self.train_seconds_ = time.perf_counter() - t0
        for cb in self.callbacks:
            cb.on_fit_end(self)
        return self

    def _fit_direct(self, method, model, nom, prep, validation, dev):
        """Methods trained without SGD (a kernel method): one call on the preprocessed data."""
        for cb in self.callbacks:
            cb.on_fit_start(self, 1)
        t0 = time.perf_counter()
        x = torch.cat([_eval_view(nom[i:i + 1024], prep) for i in range(0, len(nom), 1024)])
        val = None
        if validation is not None and method.select_on_test():
            vx = _as_images(validation[0], "validation images").to(dev)
            vx = torch.cat([_eval_view(vx[i:i + 1024], prep) for i in range(0, len(vx), 1024)])
            val = (vx, np.asarray(validation[1]))
        self.info_ = dict(method.fit_direct(model, x, val) or {})
        self.precision_ = "fp64"
        model.eval()
        self.history_ = [float(self.info_.get("objective", 0.0))]
        self.train_seconds_ = time.perf_counter() - t0
        for cb in self.callbacks:
            cb.on_step_end(self, 1, None)
            cb.on_epoch_end(self, 1, self.history_[-1])
            cb.on_fit_end(self)
        return self

    @staticmethod
    def _deterministic(dev):
        if dev.type == "cuda":
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False

    @staticmethod
    def _to_input(x, use_cl):
        return x.contiguous(memory_format=torch.channels_last) if use_cl else x

    # ------------------------------------------------------------------ score
    def score_samples(self, images, batch_size: int = 1024) -> np.ndarray:
        """Anomaly scores, float64 of shape (N,); higher = more anomalous. Runs in fp32."""
        if not hasattr(self, "model_"):
            raise DeepadError("this detector is not fitted yet; call fit() first")
        images = _as_images(images, "images")
        if tuple(images.shape[1:]) != self.shape_:
            raise DeepadError(f"images have shape {tuple(images.shape[1:])}, the detector was "
                              f"trained on {self.shape_}")
        self.model_.eval()
        use_cl = self.channels_last and self.device_.type != "mps" and len(self.shape_) == 3
        out = []
        with torch.inference_mode():  # no autograd bookkeeping at all (faster than no_grad)
            for i in range(0, len(images), batch_size):
                x = self._to_input(_eval_view(images[i:i + batch_size].to(self.device_), self.prep_),
                                   use_cl)
                out.append(self.method_.score(self.model_, x).cpu())
        return torch.cat(out).numpy().astype(np.float64)

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict:
        return {k: v.detach().cpu().contiguous() for k, v in self.model_.state_dict().items()}

    @classmethod
    def restore(cls, method: str, shape, state: dict, *, preprocessing: Preprocessing,
                device: str = "auto", method_params=None) -> "Detector":
        """A fitted detector from saved weights (no training)."""
        det = cls(method, preprocessing=preprocessing, device=device, **(method_params or {}))
        det.method_ = methods.get(method, **(method_params or {}))
        det.device_ = resolve_device(device)
        det.precision_ = "fp32"
        det.prep_ = det.method_.adapt_preprocessing(preprocessing)
        det.shape_ = tuple(shape)
        model = det.method_.build(det.prep_.input_shape(tuple(shape)))
        model = det.method_.load_state(model, state)
        det.model_ = model.to(det.device_)
        if det.channels_last and det.device_.type != "mps":
            det.model_ = det.model_.to(memory_format=torch.channels_last)
        det.model_.eval()
        return det
