"""Result bundles: stored runs in one checksummed file that travels.

A bundle is a zip file (members stored or deflated) laid out as

    manifest.json                       format, versions, the runs, what is known of their data
                                        sets, and the SHA-256 and size of every other member
    runs/<key>/config.json              the RunConfig (its key is checked against <key>)
    runs/<key>/metrics.json             as stored (AUROC, AUPRC, FPR at 95% TPR, timings, ...)
    runs/<key>/history.json             training loss per epoch
    runs/<key>/scores.npy               per-sample test scores, in the manifest's dtype per run
    runs/<key>/extremes.json            test indices of the false alarms and misses shown
    runs/<key>/weights.safetensors      only with --weights
    data/<set>/test_classes.npy         the test split's class of each image (labels = class !=
                                        the run's nominal class; indices = 0..n-1)
    data/<set>/images.json              which test images the atlases hold
    data/<set>/images-<n>.png           atlases of those images (false alarms and misses)

Nothing in a bundle runs code when it is read: JSON, .npy read with allow_pickle=False, PNG and
safetensors only; any other member, a path that escapes, a link, a checksum that does not match,
an unknown format version or an invalid run is refused before anything is written (BundleError,
one line). Sizes are capped (zip bombs). Reading needs neither torch nor scikit-learn.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import CODE_VERSION, RunConfig, key_of
from .errors import DeepadError

FORMAT = "deepad-results"
FORMAT_VERSION = 1
SCORE_DTYPES = ("float64", "float32", "float16")
EXTREMES_K = 8        # false alarms and misses kept per run (what Explore shows)
THUMBNAIL = 96        # larger test images are kept at this side in the atlases
ATLAS_TILES = 1024    # images per atlas PNG
ATLAS_COLUMNS = 32

# Limits (a bundle past them is refused as a likely zip bomb or not a deepad bundle).
MAX_MEMBERS = 400_000
MAX_TOTAL = 16 * 2 ** 30
MAX_RATIO = 200           # uncompressed / compressed, for members over 1 MiB
MAX_SIZE = {".json": 64 * 2 ** 20, ".npy": 512 * 2 ** 20, ".png": 64 * 2 ** 20,
            ".safetensors": 4 * 2 ** 30}
MAX_PIXELS = 64 * 2 ** 20

_KEY = r"[0-9a-f]{16}"
_SET = r"[a-z0-9][a-z0-9._-]{0,80}"
_MEMBER = re.compile(rf"^(manifest\.json|runs/{_KEY}/(config|metrics|history|extremes)\.json|"
                     rf"runs/{_KEY}/scores\.npy|runs/{_KEY}/weights\.safetensors|"
                     rf"data/{_SET}/test_classes\.npy|data/{_SET}/images\.json|"
                     rf"data/{_SET}/images-[0-9]{{1,6}}\.png)$")


class BundleError(DeepadError):
    """A file that is not a valid, safe deepad result bundle."""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _npy_load(data: bytes, name: str) -> np.ndarray:
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - numpy's errors for bad or pickled files vary
        raise BundleError(f"member {name} is not a plain .npy array ({type(e).__name__}); the "
                          f"bundle is damaged or not made by deepad") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        raise BundleError(f"member {name} holds {getattr(arr, 'dtype', type(arr))}, not numbers")
    return arr


def set_id(dataset: str, dataset_id: str | None) -> str:
    """The bundle's folder name for a nominal data set: its registry name, or its content id."""
    if dataset_id:
        return f"{dataset.split(':', 1)[0]}-{dataset_id}"
    return re.sub(r"[^a-z0-9._-]", "-", dataset.lower())[:80] or "data"


def data_label(name: str, ident: str | None = None) -> str:
    """A short human name of a data set: registry names as they are, paths by their last two
    parts (e.g. 'folder: tiny-imagenet-200-val/images')."""
    if not name.startswith(("folder:", "tiny-images:")):
        return name
    kind, _, rest = name.partition(":")
    path = rest.partition(",exclude=")[0].rstrip("/")
    tail = "/".join(Path(path).parts[-2:]) if path else "?"
    return f"{kind}: {tail}" + (f" ({ident[:8]})" if ident else "")


# --------------------------------------------------------------------------- reading

@dataclass
class BundleRun:
    """One run of an opened bundle: what the store's StoredRun offers, read-only."""

    key: str
    config: RunConfig
    metrics: dict
    history: list
    bundle: "Bundle" = field(repr=False)
    scores_dtype: str = "float64"
    _arrays: dict | None = field(default=None, repr=False)

    @property
    def source(self) -> str:
        return self.bundle.label

    def _load(self):
        if self._arrays is None:
            scores = self.bundle._array(f"runs/{self.key}/scores.npy").astype(np.float64)
            classes = self.bundle.test_classes(self.config)
            self._arrays = {"scores": scores, "classes": classes,
                            "labels": (classes != self.config.normal_class).astype(np.int8),
                            "indices": np.arange(len(scores), dtype=np.int64)}
        return self._arrays

    @property
    def scores(self) -> np.ndarray:
        return self._load()["scores"]

    @property
    def labels(self) -> np.ndarray:
        return self._load()["labels"]

    @property
    def indices(self) -> np.ndarray:
        return self._load()["indices"]

    @property
    def test_classes(self) -> np.ndarray:
        return self._load()["classes"]

    @property
    def has_weights(self) -> bool:
        return f"runs/{self.key}/weights.safetensors" in self.bundle.members

    def weights(self) -> dict:
        if not self.has_weights:
            raise DeepadError(f"run {self.key} comes from {self.bundle.label}, made without "
                              f"--weights: its metrics and scores are here but not its model")
        from safetensors.torch import load as load_bytes
        return load_bytes(self.bundle._read(f"runs/{self.key}/weights.safetensors"))

    def extremes(self) -> dict | None:
        """{'false_alarms', 'misses': test indices, 'images': {index: uint8 (C, H, W)}} or None."""
        name = f"runs/{self.key}/extremes.json"
        if name not in self.bundle.members:
            return None
        ex = self.bundle._json(name)
        images = self.bundle.images(self.config)
        return {"false_alarms": np.asarray(ex["false_alarms"], np.int64),
                "misses": np.asarray(ex["misses"], np.int64), "images": images}


class Bundle:
    """An opened, verified bundle. Every member's checksum is checked on opening and again when
    it is read later (the file may change underneath)."""

    def __init__(self, path: str | os.PathLike, label: str | None = None):
        self.path = Path(path)
        self.label = label or self.path.name
        self._cache: dict = {}
        self._verify()

    # -- low level
    def _zip(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise BundleError(f"{self.path} does not exist; give the path of a bundle made with "
                              f"`python -m deepad bundle export`") from None
        except IsADirectoryError:
            raise BundleError(f"{self.path} is a folder; give a bundle file (.zip)") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise BundleError(f"{self.path} is not a deepad result bundle: not a readable zip file "
                              f"({e}); it may be truncated or another kind of file") from None

    def _raw(self, z: zipfile.ZipFile, name: str) -> bytes:
        info = z.getinfo(name)
        try:
            with z.open(info) as f:
                data = f.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
            raise BundleError(f"member {name} of {self.path.name} cannot be read ({e}); the "
                              f"bundle is truncated or damaged") from None
        except Exception as e:  # noqa: BLE001 - zlib and others
            raise BundleError(f"member {name} of {self.path.name} cannot be read "
                              f"({type(e).__name__}: {e}); the bundle is damaged") from None
        if len(data) != info.file_size:
            raise BundleError(f"member {name} of {self.path.name} has {len(data)} bytes, its "
                              f"header says {info.file_size}; the bundle is damaged")
        return data

    def _read(self, name: str) -> bytes:
        if name not in self.members:
            raise BundleError(f"{self.path.name} has no member {name}")
        with self._zip() as z:
            data = self._raw(z, name)
        if _sha(data) != self.members[name]["sha256"]:
            raise BundleError(f"member {name} of {self.path.name} changed since it was opened "
                              f"(checksum mismatch); open the bundle again")
        return data

    def _json(self, name: str):
        if name not in self._cache:
            self._cache[name] = json.loads(self._read(name))
        return self._cache[name]

    def _array(self, name: str) -> np.ndarray:
        return _npy_load(self._read(name), name)

    # -- verification
    def _verify(self) -> None:
        with self._zip() as z:
            infos = z.infolist()
            if len(infos) > MAX_MEMBERS:
                raise BundleError(f"{self.path.name} has {len(infos)} members (at most "
                                  f"{MAX_MEMBERS} are accepted); not a deepad bundle")
            total = 0
            names = set()
            for info in infos:
                _check_member(info)
                if info.filename in names:
                    raise BundleError(f"member {info.filename} appears twice in {self.path.name}")
                names.add(info.filename)
                total += info.file_size
                if total > MAX_TOTAL:
                    raise BundleError(f"{self.path.name} unpacks to more than "
                                      f"{MAX_TOTAL / 2 ** 30:.0f} GiB; refused as a likely zip bomb")
            if "manifest.json" not in names:
                raise BundleError(f"{self.path.name} has no manifest.json; not a deepad result "
                                  f"bundle (make one with `python -m deepad bundle export`)")
            manifest = _parse_json(self._raw(z, "manifest.json"), "manifest.json")
            _check_manifest(manifest, self.path.name)
            listed = manifest["members"]
            if set(listed) != names - {"manifest.json"}:
                extra = sorted((names - {"manifest.json"}) - set(listed))
                lost = sorted(set(listed) - names)
                raise BundleError(f"{self.path.name} does not match its manifest ("
                                  + (f"unlisted: {extra[0]}" if extra else f"missing: {lost[0]}")
                                  + "); the bundle was altered or is incomplete")
            for info in infos:
                if info.filename == "manifest.json":
                    continue
                data = self._raw(z, info.filename)
                if _sha(data) != listed[info.filename].get("sha256"):
                    raise BundleError(f"member {info.filename} of {self.path.name} does not match "
                                      f"its checksum; the bundle is damaged or was altered")
                self._check_content(info.filename, data)
        self.manifest = manifest
        self.members = listed
        self.runs: dict[str, BundleRun] = {}
        for key in manifest["runs"]:
            self.runs[key] = self._load_run(key)

    def _check_content(self, name: str, data: bytes) -> None:
        if name.endswith(".json"):
            self._cache[name] = _parse_json(data, name)
        elif name.endswith(".npy"):
            _npy_load(data, name)
        elif name.endswith(".png"):
            _check_png(data, name)
        elif name.endswith(".safetensors"):
            if not _safetensors_layout(io.BytesIO(data), len(data)):
                raise BundleError(f"member {name} is not a safetensors file")

    def _load_run(self, key: str) -> BundleRun:
        base = f"runs/{key}/"
        for part in ("config.json", "metrics.json", "history.json", "scores.npy"):
            if base + part not in self.members:
                raise BundleError(f"run {key} in {self.path.name} has no {part}")
        cfg_dict = self._cache[base + "config.json"]
        cfg = validate_config(cfg_dict, key, self.path.name)
        metrics = self._cache[base + "metrics.json"]
        if not isinstance(metrics, dict) or not _is_unit(metrics.get("auroc")):
            raise BundleError(f"run {key} in {self.path.name} has no valid AUROC in its metrics")
        history = self._cache[base + "history.json"]
        if not isinstance(history, list):
            raise BundleError(f"run {key} in {self.path.name} has an invalid history")
        dtype = self.manifest.get("scores_dtype", {}).get(key, "float64")
        scores = self._array(base + "scores.npy")
        if scores.ndim != 1 or str(scores.dtype) not in SCORE_DTYPES:
            raise BundleError(f"run {key} in {self.path.name}: scores must be one float array")
        classes = self.test_classes(cfg)
        if len(classes) != len(scores):
            raise BundleError(f"run {key} in {self.path.name} has {len(scores)} scores for "
                              f"{len(classes)} test images")
        if not np.isfinite(scores.astype(np.float64)).all():
            raise BundleError(f"run {key} in {self.path.name} has scores that are not finite")
        return BundleRun(key, cfg, metrics, history, self, dtype)

    # -- data sets
    def dataset_entry(self, cfg: RunConfig) -> dict:
        sid = set_id(cfg.dataset, cfg.dataset_id)
        entry = self.manifest["datasets"].get(sid)
        if not isinstance(entry, dict):
            raise BundleError(f"{self.path.name} says nothing of data set {cfg.dataset}")
        return {**entry, "set": sid}

    def test_classes(self, cfg: RunConfig) -> np.ndarray:
        sid = set_id(cfg.dataset, cfg.dataset_id)
        name = f"data/{sid}/test_classes.npy"
        if name not in self._cache:
            if name not in self.members:
                raise BundleError(f"{self.path.name} has no test classes for {cfg.dataset}")
            arr = self._array(name)
            if arr.ndim != 1 or arr.dtype.kind not in "iu":
                raise BundleError(f"member {name} must be one integer array")
            self._cache[name] = arr.astype(np.int64)
        return self._cache[name]

    def images(self, cfg: RunConfig) -> dict:
        """{test index: uint8 (C, H, W)} of the images kept for the runs on cfg's data set."""
        sid = set_id(cfg.dataset, cfg.dataset_id)
        key = ("images", sid)
        if key in self._cache:
            return self._cache[key]
        out = {}
        idx_name = f"data/{sid}/images.json"
        if idx_name in self.members:
            meta = self._json(idx_name)
            try:
                c, h, w = (int(v) for v in meta["shape"])
                atlases = [[int(t) for t in a] for a in meta["atlases"]]
            except (KeyError, TypeError, ValueError):
                raise BundleError(f"member {idx_name} is not a valid image index") from None
            meta = {"atlases": atlases}
            for n, indices in enumerate(meta["atlases"]):
                from PIL import Image
                with Image.open(io.BytesIO(self._read(f"data/{sid}/images-{n}.png"))) as im:
                    arr = np.asarray(im.convert("L" if c == 1 else "RGB"))
                if arr.ndim == 2:
                    arr = arr[:, :, None]
                for i, t in enumerate(indices):
                    r, col = divmod(i, ATLAS_COLUMNS)
                    tile = arr[r * h:(r + 1) * h, col * w:(col + 1) * w]
                    if tile.shape[:2] == (h, w):
                        out[int(t)] = np.ascontiguousarray(tile.transpose(2, 0, 1))
        self._cache[key] = out
        return out

    # -- summary
    def info(self) -> dict:
        return summarise(self.runs.values(), size=self.path.stat().st_size, manifest=self.manifest)


def _is_unit(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= float(v) <= 1.0


def _parse_json(data: bytes, name: str):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BundleError(f"member {name} is not valid JSON; the bundle is damaged") from None


def _safetensors_layout(f, size: int) -> bool:
    head = f.read(8)
    n = int.from_bytes(head, "little") if len(head) == 8 else 0
    if not 0 < n <= min(100 * 2 ** 20, size - 8):
        return False
    try:
        return isinstance(json.loads(f.read(n)), dict)
    except ValueError:
        return False


def _check_png(data: bytes, name: str) -> None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BundleError(f"member {name} is not a PNG image")
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "PNG" or im.width * im.height > MAX_PIXELS:
                raise BundleError(f"member {name} is not a PNG image of a sane size")
    except BundleError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow's errors vary
        raise BundleError(f"member {name} is not a readable PNG ({type(e).__name__})") from None


def _check_member(info: zipfile.ZipInfo) -> None:
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\\" in name \
            or any(part in ("", ".", "..") for part in name.split("/")):
        raise BundleError(f"member '{name}' has a path that would leave the bundle (absolute or "
                          f"with '..'); refused")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise BundleError(f"member '{name}' is a symbolic link; refused")
    if info.flag_bits & 0x1:
        raise BundleError(f"member '{name}' is encrypted; a deepad bundle never is")
    if not _MEMBER.match(name):
        raise BundleError(f"member '{name}' is not something a deepad bundle holds (only JSON, "
                          f".npy arrays, PNG atlases and safetensors weights in the bundle's "
                          f"layout; nothing that could run code when loaded); refused")
    ext = name[name.rfind("."):]
    if info.file_size > MAX_SIZE[ext]:
        raise BundleError(f"member '{name}' unpacks to {info.file_size} bytes, more than a "
                          f"bundle's {ext} files may ({MAX_SIZE[ext]}); refused")
    if info.file_size > 2 ** 20 and info.file_size > MAX_RATIO * max(1, info.compress_size):
        raise BundleError(f"member '{name}' is compressed {info.file_size // max(1, info.compress_size)}"
                          f":1; refused as a likely zip bomb")


def _check_manifest(m, bundle: str) -> None:
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise BundleError(f"{bundle} is not a deepad result bundle (its manifest names no "
                          f"'{FORMAT}' format)")
    v = m.get("format_version")
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise BundleError(f"{bundle} has an invalid format version {v!r}")
    if v > FORMAT_VERSION:
        raise BundleError(f"{bundle} uses bundle format {v}, newer than this deepad reads "
                          f"({FORMAT_VERSION}); upgrade deepad to open it")
    if m.get("code_version") != CODE_VERSION:
        raise BundleError(f"{bundle} holds runs of code version {m.get('code_version')!r}; this "
                          f"deepad computes code version {CODE_VERSION}, so their keys differ; "
                          f"open it with the deepad that made it")
    if not isinstance(m.get("members"), dict) or not isinstance(m.get("runs"), list) \
            or not isinstance(m.get("datasets"), dict):
        raise BundleError(f"{bundle} has an incomplete manifest (members, runs, datasets)")
    if any(not isinstance(k, str) or not re.fullmatch(_KEY, k) for k in m["runs"]):
        raise BundleError(f"{bundle} lists a run key that is not 16 hex digits")
    if len(set(m["runs"])) != len(m["runs"]):
        raise BundleError(f"{bundle} lists a run twice")


_FIELD_TYPES = {"dataset": str, "normal_class": int, "oe": str, "oe_size": (int, type(None)),
                "oe_classes": (int, type(None)), "blur_sigma": (int, float), "method": str,
                "oe_jpeg": (int, type(None)), "method_params": dict, "seed": int, "epochs": int,
                "milestones": list, "batch_size": int, "lr": (int, float),
                "weight_decay": (int, float), "precision": str, "dataset_id": (str, type(None)),
                "oe_id": (str, type(None))}


def validate_config(d, key: str, where: str) -> RunConfig:
    """A run config from a bundle, checked field by field and against its key."""
    from . import methods
    if not isinstance(d, dict):
        raise BundleError(f"run {key} in {where}: its config is not an object")
    for name, types in _FIELD_TYPES.items():
        if name in d and (not isinstance(d[name], types) or isinstance(d[name], bool)):
            raise BundleError(f"run {key} in {where}: config field {name} has an invalid value "
                              f"{d[name]!r}")
    unknown = set(d) - set(_FIELD_TYPES)
    if unknown:
        raise BundleError(f"run {key} in {where}: unknown config field(s) {sorted(unknown)}")
    if d.get("method") not in methods.names():
        raise BundleError(f"run {key} in {where}: unknown method {d.get('method')!r}")
    for name in ("dataset_id", "oe_id"):
        if d.get(name) is not None and not re.fullmatch(r"[0-9a-f]{32}", d[name]):
            raise BundleError(f"run {key} in {where}: {name} is not a content identity")
    if d.get("epochs", 0) < 1 or d.get("normal_class", -1) < 0 or d.get("seed", -1) < 0:
        raise BundleError(f"run {key} in {where}: epochs, class or seed out of range")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
               for v in d.get("method_params", {}).values()):
        raise BundleError(f"run {key} in {where}: method parameters must be numbers")
    try:
        cfg = RunConfig.from_dict(d)
    except (TypeError, ValueError) as e:
        raise BundleError(f"run {key} in {where}: invalid config ({e})") from None
    if key_of(cfg.to_dict()) != key:
        raise BundleError(f"run {key} in {where}: its config does not give its key (altered, or "
                          f"made by another version of deepad)")
    return cfg


def summarise(runs, *, size: int | None = None, manifest: dict | None = None) -> dict:
    """What a set of runs holds: counts by data set and one line per group (data set, OE,
    budget), for `bundle info`."""
    runs = list(runs)
    by_dataset: dict = {}
    groups: dict = {}
    for r in runs:
        c = r.config
        name = data_label(c.dataset, c.dataset_id)
        by_dataset[name] = by_dataset.get(name, 0) + 1
        oe = "no OE" if c.oe == "none" else data_label(c.oe) + (f", JPEG q{c.oe_jpeg}" if c.oe_jpeg else "")
        g = groups.setdefault((name, oe, c.epochs), {"dataset": name, "oe": oe, "epochs": c.epochs,
                                                     "runs": 0, "methods": set(), "classes": set(),
                                                     "seeds": set(), "oe_sizes": set(),
                                                     "blur_sigmas": set()})
        g["runs"] += 1
        g["methods"].add(c.method)
        g["classes"].add(c.normal_class)
        g["seeds"].add(c.seed)
        g["oe_sizes"].add("all" if c.oe_size is None else c.oe_size)
        g["blur_sigmas"].add(c.blur_sigma)
    rows = []
    for g in groups.values():
        rows.append({**g, "methods": sorted(g["methods"]), "classes": sorted(g["classes"]),
                     "seeds": sorted(g["seeds"]),
                     "oe_sizes": sorted(g["oe_sizes"], key=lambda v: (isinstance(v, str), v if not isinstance(v, str) else 0)),
                     "blur_sigmas": sorted(g["blur_sigmas"])})
    out = {"runs": len(runs), "by_dataset": by_dataset, "groups": rows,
           "with_weights": sum(1 for r in runs if r.has_weights)}
    if size is not None:
        out["bytes"] = size
    if manifest is not None:
        out.update(format_version=manifest.get("format_version"),
                   deepad_version=manifest.get("deepad_version"), created=manifest.get("created"),
                   scores_dtypes=sorted(set(manifest.get("scores_dtype", {}).values())))
    return out


def open_bundle(path, label: str | None = None) -> Bundle:
    return Bundle(path, label)


# --------------------------------------------------------------------------- writing

def _thumbnail(images: np.ndarray) -> np.ndarray:
    if images.shape[-1] <= THUMBNAIL:
        return images
    from PIL import Image
    out = []
    for im in images:
        pic = Image.fromarray(im[0] if im.shape[0] == 1 else im.transpose(1, 2, 0))
        pic = pic.resize((THUMBNAIL, THUMBNAIL), Image.BILINEAR)
        a = np.asarray(pic)
        out.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return np.stack(out)


def _atlas_png(images: np.ndarray) -> bytes:
    from PIL import Image
    n, c, h, w = images.shape
    rows = -(-n // ATLAS_COLUMNS)
    sheet = np.zeros((rows * h, ATLAS_COLUMNS * w, c), np.uint8)
    for i, im in enumerate(images):
        r, col = divmod(i, ATLAS_COLUMNS)
        sheet[r * h:(r + 1) * h, col * w:(col + 1) * w] = im.transpose(1, 2, 0)
    pic = Image.fromarray(sheet[:, :, 0] if c == 1 else sheet)
    buf = io.BytesIO()
    pic.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _extreme_indices(scores: np.ndarray, labels: np.ndarray, k: int = EXTREMES_K) -> dict:
    nom, ano = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    return {"false_alarms": nom[np.argsort(-scores[nom], kind="stable")[:k]].tolist(),
            "misses": ano[np.argsort(scores[ano], kind="stable")[:k]].tolist()}


def compact_scores(scores: np.ndarray, labels: np.ndarray, auroc: float,
                   tolerance: float = 1e-5) -> np.ndarray:
    """The smallest float type (float16, float32, float64) whose copy of `scores` is finite and
    gives the stored AUROC within `tolerance` (ties made by rounding are what could move it)."""
    from .metrics import auroc as auroc_of
    for dtype in (np.float16, np.float32):
        with np.errstate(over="ignore"):
            small = scores.astype(dtype)
        if np.isfinite(small).all() and abs(auroc_of(labels, small.astype(np.float64)) - auroc) <= tolerance:
            return small
    return scores.astype(np.float64)


def _dataset_entry(cfg: RunConfig, classes_arr: np.ndarray) -> dict:
    """What the receiving side needs to show runs on this nominal data set without it."""
    from .data import identity, sources
    entry = {"dataset": cfg.dataset, "dataset_id": cfg.dataset_id, "n_test": int(len(classes_arr)),
             "label": data_label(cfg.dataset, cfg.dataset_id)}
    try:
        src = sources.get(cfg.dataset)
        entry["classes"] = list(src.classes())
        from .config import profile
        entry["profile"] = profile(cfg.dataset)
        entry["jpeg_quality"] = sources.jpeg_quality(cfg.dataset)
    except DeepadError:
        meta = identity.learned(cfg.dataset) or {}
        entry.update({k: meta.get(k) for k in ("classes", "profile", "jpeg_quality")})
    return entry


def export(out: str | os.PathLike, runs: list, *, weights: bool = False, scores: str = "float64",
           progress=None) -> dict:
    """Write `runs` (StoredRun or BundleRun objects) to the bundle `out` (atomically). `scores`:
    float64 (exact), float32, float16, or 'compact' (per run the smallest float type that keeps
    the stored AUROC within 1e-5). Returns the bundle's summary with the per-run AUROC change of
    the scores as written ('scores_auroc_change', max absolute)."""
    from .metrics import auroc as auroc_of
    if scores not in SCORE_DTYPES + ("compact",):
        raise DeepadError(f"--scores takes {', '.join(SCORE_DTYPES)} or compact, got '{scores}'")
    if not runs:
        raise DeepadError("no stored runs match; nothing to export (see `python -m deepad runs`)")
    if weights:
        missing = [r.key for r in runs if not r.has_weights]
        if missing:
            raise DeepadError(f"--weights: {len(missing)} run(s) have no model here (e.g. "
                              f"{missing[0]}, imported without weights); export without --weights")
    out = Path(out)
    members: dict[str, bytes] = {}
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "code_version": CODE_VERSION,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": [],
                "scores_dtype": {}, "datasets": {}, "pools": {}}
    import deepad
    manifest["deepad_version"] = deepad.__version__
    want_images: dict = {}   # set -> {test index}
    have_images: dict = {}   # set -> {test index: image}, from runs that carry them
    changes = []
    for i, r in enumerate(runs):
        cfg = r.config
        sid = set_id(cfg.dataset, cfg.dataset_id)
        classes = np.asarray(r.test_classes, np.int64)
        labels = np.asarray(r.labels)
        if not np.array_equal(labels, (classes != cfg.normal_class).astype(labels.dtype)) \
                or not np.array_equal(r.indices, np.arange(len(classes))):
            raise DeepadError(f"run {r.key}: its labels are not 'class != nominal class' over "
                              f"the whole test split; it cannot be exported")
        cname = f"data/{sid}/test_classes.npy"
        if cname in members:
            if not np.array_equal(_npy_load(members[cname], cname), classes):
                raise DeepadError(f"runs on {cfg.dataset} disagree on its test split (run "
                                  f"{r.key}); export them separately")
        else:
            members[cname] = _npy_bytes(classes.astype(np.int16 if classes.max() < 2 ** 15 else np.int64))
            manifest["datasets"][sid] = _dataset_entry(cfg, classes)
        s = np.asarray(r.scores, np.float64)
        if scores == "compact":
            written = compact_scores(s, labels, float(r.metrics["auroc"]))
        else:
            written = s.astype(scores)
        if not np.isfinite(written).all():
            raise DeepadError(f"run {r.key}: its scores do not fit {scores}; use --scores float32 "
                              f"or float64")
        if written.dtype != np.float64:
            changes.append(abs(auroc_of(labels, written.astype(np.float64)) - float(r.metrics["auroc"])))
        base = f"runs/{r.key}/"
        members[base + "config.json"] = json.dumps(cfg.to_dict(), indent=1, sort_keys=True).encode()
        members[base + "metrics.json"] = json.dumps(r.metrics, indent=1, sort_keys=True).encode()
        members[base + "history.json"] = json.dumps(r.history).encode()
        members[base + "scores.npy"] = _npy_bytes(written)
        ex = _extreme_indices(s, labels)
        members[base + "extremes.json"] = json.dumps(ex).encode()
        want_images.setdefault(sid, set()).update(ex["false_alarms"] + ex["misses"])
        kept = r.extremes() if hasattr(r, "extremes") else None
        if kept is not None:
            imgs = kept["images"] if isinstance(kept.get("images"), dict) else dict(
                zip(kept["indices"].tolist(), kept["images"]))
            have_images.setdefault(sid, {}).update(imgs)
        if weights:
            members[base + "weights.safetensors"] = _weights_bytes(r)
        manifest["runs"].append(r.key)
        manifest["scores_dtype"][r.key] = str(written.dtype)
        if cfg.oe_id is not None:
            manifest["pools"][cfg.oe] = {"oe_id": cfg.oe_id, "label": data_label(cfg.oe)}
        if progress:
            progress(i + 1, len(runs))
    for sid, wanted in want_images.items():
        entry = manifest["datasets"][sid]
        images = _test_images(entry, sorted(wanted), have_images.get(sid, {}))
        if images is None:
            entry["images"] = False
            continue
        idx, arr = images
        arr = _thumbnail(arr)
        atlases = []
        for n, start in enumerate(range(0, len(idx), ATLAS_TILES)):
            members[f"data/{sid}/images-{n}.png"] = _atlas_png(arr[start:start + ATLAS_TILES])
            atlases.append([int(t) for t in idx[start:start + ATLAS_TILES]])
        members[f"data/{sid}/images.json"] = json.dumps(
            {"shape": list(arr.shape[1:]), "atlases": atlases}).encode()
        entry["images"] = True
    manifest["members"] = {n: {"sha256": _sha(b), "size": len(b)} for n, b in sorted(members.items())}
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
            for name in sorted(members):
                data = members[name]
                kind = zipfile.ZIP_STORED if name.endswith((".png", ".safetensors")) else zipfile.ZIP_DEFLATED
                z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data,
                           compress_type=kind)
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise DeepadError(f"cannot write {out} ({e.strerror or e}); choose a writable path") from None
    summary = summarise(runs, size=out.stat().st_size, manifest=manifest)
    summary["scores_auroc_change"] = max(changes) if changes else 0.0
    return summary


def _weights_bytes(r) -> bytes:
    if hasattr(r, "path") and (Path(r.path) / "weights.safetensors").exists():
        return (Path(r.path) / "weights.safetensors").read_bytes()
    return r.bundle._read(f"runs/{r.key}/weights.safetensors")


def _test_images(entry: dict, wanted: list, have: dict):
    """(indices, uint8 (n, C, H, W)) of the wanted test images: from the data set when it is on
    this machine, else from what the runs carry; None when neither has them."""
    from .data import sources
    try:
        src = sources.locate(entry["dataset"], entry.get("dataset_id"))
        if src.available():
            test = src.load("test").images
            return np.asarray(wanted), test[np.asarray(wanted)].numpy()
    except DeepadError:
        pass
    got = [t for t in wanted if t in have]
    if not got:
        return None
    return np.asarray(got), np.stack([have[t] for t in got])


# --------------------------------------------------------------------------- importing

def import_bundle(path, store=None) -> dict:
    """Put a bundle's runs into the run store. Everything is verified first: a bad bundle writes
    nothing (BundleError). A run already stored with the same metrics is skipped; one stored with
    other metrics is reported as a conflict and left as it is. Returns {'imported', 'present',
    'conflicts': [{key, local, bundle}]}."""
    from .store import RunStore
    store = store or RunStore()
    b = open_bundle(path)
    todo, present, conflicts = [], [], []
    for key, r in b.runs.items():
        local = store.get(key, repair=False)
        if local is None:
            todo.append(r)
            continue
        same = all(local.metrics.get(m) == r.metrics.get(m) for m in ("auroc", "auprc", "fpr_at_95_tpr"))
        (present if same else conflicts).append(key)
    payloads = []
    for r in todo:  # read everything before writing anything
        arrays = {"scores": r.scores, "labels": r.labels, "indices": r.indices,
                  "classes": r.test_classes}
        w = b._read(f"runs/{r.key}/weights.safetensors") if r.has_weights else None
        extras = {}
        ex = r.extremes()
        if ex is not None:
            idx = [t for t in list(ex["false_alarms"]) + list(ex["misses"]) if t in ex["images"]]
            if idx:
                buf = io.BytesIO()
                np.savez_compressed(buf, indices=np.asarray(idx, np.int64),
                                    images=np.stack([ex["images"][t] for t in idx]),
                                    false_alarms=ex["false_alarms"], misses=ex["misses"])
                extras["extremes.npz"] = buf.getvalue()
        payloads.append((r, arrays, w, extras))
    for r, arrays, w, extras in payloads:
        with store.lock(r.key):
            if store.get(r.key, repair=False) is None:
                store.put(r.config, metrics=r.metrics, history=r.history, scores=arrays,
                          weights=w, extras=extras)
    return {"imported": [r.key for r, *_ in payloads], "present": present,
            "conflicts": [{"key": k, "local_auroc": store.get(k, repair=False).metrics.get("auroc"),
                           "bundle_auroc": b.runs[k].metrics.get("auroc")} for k in conflicts],
            "bundle": b}
