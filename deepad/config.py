"""A run, fully described: `RunConfig` is frozen and its `key` is a stable hash of every field plus
`CODE_VERSION`. `make_config` turns user choices (names, presets, 'all') into a validated config.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields, replace

from . import methods
from .data import sources
from .errors import DeepadError

# Bump when a change to the code alters the numbers a config produces; old runs stay in the store
# but are no longer served for the new code.
CODE_VERSION = 1

PRESETS = ("quick", "paper")
# Beyond this the blur leaves every image a flat colour, and the padding it needs gets huge.
MAX_BLUR_SIGMA = 1000.0


@dataclass(frozen=True)
class Schedule:
    epochs: int
    milestones: tuple[int, ...]


# paper-protocol.md section 4.1; 'quick' keeps the shape of the schedule in a CPU-sized budget.
_PAPER = {"mnist": Schedule(150, (50, 100)), "cifar": Schedule(200, (100, 150)),
          "imagenet": Schedule(150, (100, 125)), "tiny": Schedule(150, (50, 100))}
_QUICK_EPOCHS = {"mnist": 10, "cifar": 25, "imagenet": 15, "tiny": 100}


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's numbers.

    dataset/normal_class: the nominal data (one-vs-rest: the other classes are the test anomalies).
    oe/oe_size/oe_classes: the outlier-exposure pool ('none' for none), how many of its images
    (None = all) and from how many randomly chosen classes (None = all), drawn from `seed`.
    blur_sigma: Gaussian blur of the OE images (std. deviation in pixels, as Pillow's radius).
    oe_jpeg: make the OE images as a JPEG copy of a data set is made: image folders decoded at
    full resolution and resized with antialiasing (not the decoder's fast DCT scaling), then
    encoded as JPEG at this quality and decoded (None: as they are). Nominal data stored as JPEG
    (the CIFAR-10 copy here: Pillow's quality 75) carry the codec's artefacts and the softness of
    a proper resize; OE without them can be told from every CIFAR-10 image, anomalies included,
    by those low-level traits alone, a shortcut that does not transfer to the test anomalies
    (BENCHMARKS.md, reproduction). Left out of the key when None, so the keys of runs without it
    are those of earlier versions.
    dataset_id/oe_id: the content identity (data.identity) of a data set given by a path
    (`folder:`, `tiny-images:`); None for registry data sets, which are identified by name. The
    key uses the identity in place of the path, so the same data under another path or on
    another machine give the same key; the path is kept as where the data were found.
    oe_batch: OE images per training step; None = as many as nominal images (the paper: 128, so
    a 32-image OE set appears four times in every batch). A smaller number shows a small OE set
    once per step instead. oe_augment: whether OE images get the training augmentation (the
    paper: yes). Both exist to test why few OE samples do or do not suffice; each is left out of
    the key at its paper value.
    """

    dataset: str = "digits"
    normal_class: int = 0
    oe: str = "photos"
    oe_size: int | None = None
    oe_classes: int | None = None
    blur_sigma: float = 0.0
    method: str = "hsc"
    oe_jpeg: int | None = None
    method_params: tuple[tuple[str, float], ...] = ()
    seed: int = 1
    epochs: int = 100
    milestones: tuple[int, ...] = (33, 67)
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 5e-7
    precision: str = "auto"
    dataset_id: str | None = None
    oe_id: str | None = None
    oe_batch: int | None = None
    oe_augment: bool = True

    @property
    def key(self) -> str:
        """16 hex digits; equal configs give equal keys in any process, on any machine."""
        return key_of(self.to_dict())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        d["method_params"] = {k: v for k, v in self.method_params}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        names = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        d["milestones"] = tuple(d.get("milestones", ()))
        d["method_params"] = tuple(sorted(dict(d.get("method_params") or {}).items()))
        return cls(**d)

    def replace(self, **changes) -> "RunConfig":
        return replace(self, **changes)


def key_of(d: dict) -> str:
    """The key of a config dict (RunConfig.to_dict): SHA-256 of its fields and CODE_VERSION.
    Fields added after the first version are left out while they hold their 'absent' value, so
    older runs keep their keys; a data set with a content identity enters by that identity, never
    by its path."""
    d = dict(d)
    for name, absent in (("oe_jpeg", None), ("oe_batch", None), ("oe_augment", True)):
        if d.get(name, absent) == absent:  # absent from the keys of runs that do not use it
            d.pop(name, None)
    for name, ident in (("dataset", "dataset_id"), ("oe", "oe_id")):
        value = d.pop(ident, None)
        if value is not None:
            d[name] = f"{str(d[name]).split(':', 1)[0]}#{value}"
    payload = json.dumps({"v": CODE_VERSION, **d}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def profile(dataset: str) -> str:
    """'mnist' | 'cifar' | 'imagenet' | 'tiny': which of the paper's protocols a data set follows."""
    return sources.get(dataset).profile()


def schedule(dataset: str, preset: str = "quick", epochs: int | None = None,
             base: Schedule | None = None) -> Schedule:
    """Epochs and LR milestones: the paper's for `paper`, a short budget for `quick` (or a
    method's own `base` recipe); an explicit `epochs` keeps the milestones at the same fractions."""
    if preset not in PRESETS:
        raise DeepadError(f"unknown preset '{preset}'; choose one of {', '.join(PRESETS)}")
    if base is None:
        p = profile(dataset)
        paper = _PAPER[p]
        base = paper if preset == "paper" else Schedule(_QUICK_EPOCHS[p], paper.milestones)
        ref = paper
    else:
        ref = base
    n = epochs if epochs is not None else base.epochs
    if n == ref.epochs:
        return ref
    return Schedule(n, tuple(sorted({max(1, round(n * m / ref.epochs)) for m in ref.milestones}
                                    - {n})))


def _class_index(src, value) -> int:
    classes = src.classes()
    if isinstance(value, str):
        value = value.strip()
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        matches = [i for i, c in enumerate(classes) if c.lower() == value.lower()]
        if not matches:
            raise DeepadError(f"{src.name} has no class '{value}'; its classes are "
                              f"{', '.join(classes[:30])}{' ...' if len(classes) > 30 else ''}")
        return matches[0]
    k = int(value)
    if not 0 <= k < len(classes):
        raise DeepadError(f"{src.name} has no class {k}; use an index 0..{len(classes) - 1} or a "
                          f"class name ({', '.join(classes[:10])}{' ...' if len(classes) > 10 else ''})")
    return k


DEFAULT_OE = "photos"  # the bundled natural photos: OE that works offline


def make_config(*, dataset: str = "digits", normal_class=0, oe: str | None = None,
                oe_size=None, oe_classes=None, blur_sigma=0.0, oe_jpeg=None, method: str = "hsc",
                seed: int = 1, oe_batch=None, oe_augment: bool = True,
                preset: str = "quick", epochs: int | None = None, precision: str = "auto",
                notes: list | None = None, check_data: bool = True, **method_params) -> RunConfig:
    """Validate user choices and resolve them into a RunConfig. Raises DeepadError with a message
    naming the problem and the fix. Notes for the user (e.g. 'OE ignored') go to `notes`.

    oe None: the default for the method, DEFAULT_OE for methods that train against OE and none
    for the others ('none' asks for none). Every default of a run is decided here.

    check_data=False describes the run without opening its data: nothing is downloaded, and a
    data set given by a path that is not on this machine is identified by what the run store and
    the opened result bundles know of it (data.identity.learn). The dashboard builds its grids so,
    to show stored results wherever the data are; training checks the data (check_data_of)."""
    notes = notes if notes is not None else []
    if preset not in PRESETS:
        raise DeepadError(f"unknown preset '{preset}'; choose one of {', '.join(PRESETS)}")
    m = methods.get(method, preset=preset, **method_params)
    src = sources.get(dataset)
    if src.oe_only:
        raise DeepadError(f"'{src.name}' is an OE pool, not nominal data; give it as --oe and pick a "
                          f"nominal --dataset (e.g. digits, mnist, cifar10, folder:PATH)")
    if check_data:  # on disk (or downloaded now; offline: a DataError naming folder and alternatives)
        src.check_nominal()
    k = _class_index(src, normal_class)
    dataset_id = sources.identify(src.name)

    if oe is None:
        oe = DEFAULT_OE if m.oe == "required" else "none"
    oe_name = "none" if oe in ("", "none") else sources.canonical_name(oe)
    size = None if oe_size in (None, "all") else oe_size
    if size is not None:
        try:
            size = int(size)
        except (TypeError, ValueError):
            raise DeepadError(f"OE size must be a positive integer or 'all', got '{oe_size}'") from None
        if size < 1:
            raise DeepadError(f"OE size must be at least 1 (or 'all'), got {size}; "
                              f"for no OE use --oe none with a method that needs none (deep-svdd, ae)")
    n_cls = None if oe_classes in (None, "all") else oe_classes
    if n_cls is not None:
        try:
            n_cls = int(n_cls)
        except (TypeError, ValueError):
            raise DeepadError(f"OE classes must be a positive integer, got '{oe_classes}'") from None
        if n_cls < 1:
            raise DeepadError(f"OE classes must be at least 1, got {n_cls}")
    try:
        sigma = float(blur_sigma)
    except (TypeError, ValueError):
        raise DeepadError(f"blur sigma must be a number >= 0, got '{blur_sigma}'") from None
    if not math.isfinite(sigma) or sigma < 0:
        raise DeepadError(f"blur sigma must be a finite number >= 0, got {blur_sigma}")
    if sigma > MAX_BLUR_SIGMA:
        raise DeepadError(f"blur sigma {blur_sigma} is too large (larger blurs leave a flat colour); "
                          f"use at most {MAX_BLUR_SIGMA:g}")

    jpeg = None if oe_jpeg in (None, "", "none") else oe_jpeg
    if jpeg is not None:
        try:
            jpeg = int(jpeg)
        except (TypeError, ValueError):
            raise DeepadError(f"OE JPEG quality must be an integer 1..95 or 'none', "
                              f"got '{oe_jpeg}'") from None
        if not 1 <= jpeg <= 95:
            raise DeepadError(f"OE JPEG quality must be between 1 and 95 (Pillow's useful range), got {jpeg}")
    batch = None if oe_batch in (None, "", "all") else oe_batch
    if batch is not None:
        try:
            batch = int(batch)
        except (TypeError, ValueError):
            raise DeepadError(f"OE batch must be a positive integer, got '{oe_batch}'") from None
        if batch < 1:
            raise DeepadError(f"OE batch must be at least 1, got {batch}")
    augment = oe_augment not in (False, 0, "0", "false", "no")
    oe_knobs = batch is not None or not augment
    if m.oe == "never" and (oe_name != "none" or sigma or size is not None or n_cls is not None
                            or jpeg is not None or oe_knobs):
        notes.append(f"{m.name} does not use outlier exposure; ignoring the OE settings")
        oe_name, size, n_cls, sigma, jpeg, batch, augment = "none", None, None, 0.0, None, None, True
        oe_knobs = False
    if m.oe == "required" and oe_name == "none":
        raise DeepadError(f"method '{m.name}' trains against outlier exposure; give --oe (e.g. "
                          f"photos, noise-uniform, folder:PATH) or pick an unsupervised method "
                          f"(deep-svdd, ae)")
    if oe_name == "none" and (sigma or size is not None or n_cls is not None or jpeg is not None
                              or oe_knobs):
        raise DeepadError("OE size, OE classes, blur, OE JPEG, OE batch and OE augmentation only "
                          "apply with --oe; remove them or give --oe")
    oe_id = None
    if oe_name != "none":
        oe_src = sources.get(oe_name)
        oe_id = sources.identify(oe_name)
    if oe_name != "none" and check_data:
        oe_src.check_oe(size)
    if oe_name != "none" and n_cls is not None:
        n_avail = len(oe_src.classes())
        if n_avail and n_cls > n_avail:
            raise DeepadError(f"OE classes {n_cls} is more than the {n_avail} classes of "
                              f"{oe_src.name}; use at most {n_avail} or leave --oe-classes out")
    if epochs is not None:
        try:
            epochs = int(epochs)
        except (TypeError, ValueError):
            raise DeepadError(f"epochs must be a positive integer, got '{epochs}'") from None
        if epochs < 1:
            raise DeepadError(f"epochs must be at least 1, got {epochs}")
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise DeepadError(f"seed must be an integer, got '{seed}'") from None
    if not 0 <= seed < 2 ** 32:
        raise DeepadError(f"seed must be between 0 and {2 ** 32 - 1}, got {seed}; pick a seed in "
                          f"that range")
    rec = m.recipe(profile(src.name), preset)
    base = Schedule(int(rec["epochs"]), tuple(rec.get("milestones", ()))) if "epochs" in rec else None
    sched = schedule(src.name, preset, epochs, base)
    return RunConfig(dataset=src.name, normal_class=k, oe=oe_name, oe_size=size, oe_classes=n_cls,
                     blur_sigma=sigma, oe_jpeg=jpeg, method=m.name,
                     method_params=tuple(sorted((a, float(b)) for a, b in m.hp.items())),
                     seed=seed, epochs=sched.epochs, milestones=sched.milestones,
                     lr=float(rec.get("lr", 1e-3)), batch_size=int(rec.get("batch_size", 128)),
                     weight_decay=float(rec.get("weight_decay", 5e-7)), precision=precision,
                     dataset_id=dataset_id, oe_id=oe_id, oe_batch=batch, oe_augment=augment)
