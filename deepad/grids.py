"""Grids of runs: the product of lists of settings (`Grid`), and the paper's grids (`presets`).
A grid's configs come from make_config, which decides every default."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from .config import RunConfig, make_config
from .data import identity, sources
from .errors import DeepadError

GRID_FIELDS = ("normal_class", "method", "oe_size", "blur_sigma", "oe_classes", "seed")


def _pow2(n):
    return [2 ** i for i in range(n + 1)]


def _data(name):
    return str(sources.data_root() / name)


def presets() -> dict[str, dict]:
    """The paper's grids (paper-protocol.md section 8), with the paper's training budget.

    Data sets the paper used that are not available offline are named by their usual place under
    DEEPAD_DATA; override them with --oe / --dataset (e.g. a folder of natural images instead of
    80 Million Tiny Images)."""
    tiny = f"tiny-images:{_data('tiny_images.bin')}"
    in30 = f"folder:{_data('imagenet30')}"
    in22k = f"folder:{_data('imagenet22k')}"
    all10 = list(range(10))
    return {
        "paper/mnist-oe-classes": dict(dataset="mnist", oe="emnist-letters", normal_class=all10,
                                       method=["hsc", "bce"], oe_classes=[1, 2, 3, 5, 10, 15, 20, 26],
                                       seed=list(range(1, 11))),
        "paper/mnist-blur": dict(dataset="mnist", oe="emnist-letters", normal_class=all10,
                                 method=["hsc", "bce"], blur_sigma=[0, 1, 2, 4, 8, 16, 32],
                                 seed=list(range(1, 6))),
        "paper/cifar10-oe": dict(dataset="cifar10", oe=tiny, normal_class=all10,
                                 method=["hsc", "deep-sad", "bce", "focal"], seed=list(range(1, 11))),
        "paper/cifar10-oe-sizes": dict(dataset="cifar10", oe=tiny, normal_class=all10,
                                       method=["hsc", "bce"], oe_size=_pow2(21) + ["all"],
                                       seed=list(range(1, 11))),
        "paper/cifar10-oe-classes": dict(dataset="cifar10", oe="cifar100", normal_class=all10,
                                         method=["hsc", "bce"],
                                         oe_classes=[1, 2, 4, 8, 16, 32, 64, 100],
                                         seed=list(range(1, 11))),
        "paper/cifar10-blur": dict(dataset="cifar10", oe=tiny, normal_class=all10,
                                   method=["hsc", "bce"], oe_size=[128],
                                   blur_sigma=[0, 1, 2, 4, 8, 16, 32], seed=list(range(1, 11))),
        # the table's unsupervised columns (baselines.md), and Geo+ with OE
        "paper/cifar10-baselines": dict(dataset="cifar10", oe="none", normal_class=all10,
                                        method=["ocsvm", "deep-svdd", "geo", "itae", "geo-plus"],
                                        seed=list(range(1, 6))),
        "paper/cifar10-geo-plus-oe": dict(dataset="cifar10", oe=tiny, normal_class=all10,
                                          method=["geo-plus"], seed=list(range(1, 6))),
        "paper/imagenet30-oe": dict(dataset=in30, oe=in22k, normal_class=list(range(30)),
                                    method=["hsc", "deep-sad", "bce", "focal"],
                                    seed=list(range(1, 11))),
        "paper/imagenet30-oe-sizes": dict(dataset=in30, oe=in22k, normal_class=list(range(30)),
                                          method=["hsc", "bce"], oe_size=_pow2(18) + ["all"],
                                          seed=list(range(1, 6))),
        "paper/imagenet30-blur": dict(dataset=in30, oe=in22k, normal_class=list(range(30)),
                                      method=["hsc", "bce"], oe_size=[64],
                                      blur_sigma=[0, 1, 2, 4, 8, 16, 32], seed=list(range(1, 6))),
    }


def preset_size(spec: dict) -> int:
    return math.prod(len(spec.get(f, [None])) for f in GRID_FIELDS)


@dataclass
class Grid:
    """Lists of values per field; `configs()` is their product, validated."""

    dataset: str = "digits"
    oe: str | None = None
    normal_class: list = field(default_factory=lambda: [0])
    method: list = field(default_factory=lambda: ["hsc"])
    oe_size: list = field(default_factory=lambda: ["all"])
    blur_sigma: list = field(default_factory=lambda: [0.0])
    oe_classes: list = field(default_factory=lambda: [None])
    seed: list = field(default_factory=lambda: [1])
    oe_jpeg: int | None = None  # RunConfig.oe_jpeg for every run (not an axis)
    oe_batch: int | None = None  # RunConfig.oe_batch and oe_augment, likewise
    oe_augment: bool = True
    preset: str = "quick"
    epochs: int | None = None
    precision: str = "auto"
    method_params: dict = field(default_factory=dict)

    def configs(self, notes: list | None = None, check_data: bool = True) -> list[RunConfig]:
        """The product of the axes as validated configs, one per distinct run (a method that
        ignores an axis gives one run, not many). check_data as in make_config."""
        notes = notes if notes is not None else []
        classes = self.normal_class
        if "all" in classes:
            classes = list(range(len(sources.get(self.dataset).classes())))
        from . import methods as _methods
        known = {m: set(_methods.REGISTRY[m].params) for m in self.method if m in _methods.REGISTRY}
        unused = set(self.method_params) - set().union(*known.values()) if known else set()
        if unused and len(known) == len(self.method):
            raise DeepadError(f"no method of this sweep takes the parameter(s) {sorted(unused)}; "
                              f"see `python -m deepad methods` for each method's parameters")
        with identity.steady():  # the data sets' identities, looked at once for the whole grid
            return self._configs(classes, known, notes, check_data)

    def _configs(self, classes, known, notes, check_data) -> list[RunConfig]:
        out, seen = [], set()
        for k, m, n, sigma, kc, seed in itertools.product(
                classes, self.method, self.oe_size, self.blur_sigma, self.oe_classes, self.seed):
            local = []
            cfg = make_config(dataset=self.dataset, normal_class=k, oe=self.oe, oe_size=n,
                              oe_classes=kc, blur_sigma=sigma, oe_jpeg=self.oe_jpeg, method=m, seed=seed,
                              oe_batch=self.oe_batch, oe_augment=self.oe_augment,
                              preset=self.preset, epochs=self.epochs, precision=self.precision,
                              notes=local, check_data=check_data, **{p: v for p, v in self.method_params.items()
                                               if p in known.get(m, ())})
            for note in local:
                if note not in notes:
                    notes.append(note)
            if cfg.key not in seen:  # e.g. deep-svdd ignores the OE axes: one run, not many
                seen.add(cfg.key)
                out.append(cfg)
        return out
