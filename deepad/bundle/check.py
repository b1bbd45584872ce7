"""The bundle format's rules: its layout, limits and checks (members, manifest, run configs),
the small readers every part shares, and the summary `bundle info` prints."""

from __future__ import annotations

import hashlib
import io
import json
import re
import stat
import zipfile
from pathlib import Path

import numpy as np

from ..config import CODE_VERSION, RunConfig, key_of
from ..errors import DeepadError

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
                "oe_id": (str, type(None)), "oe_batch": (int, type(None))}
_BOOL_FIELDS = {"oe_augment"}


def validate_config(d, key: str, where: str) -> RunConfig:
    """A run config from a bundle, checked field by field and against its key."""
    from .. import methods
    if not isinstance(d, dict):
        raise BundleError(f"run {key} in {where}: its config is not an object")
    for name, types in _FIELD_TYPES.items():
        if name in d and (not isinstance(d[name], types) or isinstance(d[name], bool)):
            raise BundleError(f"run {key} in {where}: config field {name} has an invalid value "
                              f"{d[name]!r}")
    for name in _BOOL_FIELDS & set(d):
        if not isinstance(d[name], bool):
            raise BundleError(f"run {key} in {where}: config field {name} has an invalid value "
                              f"{d[name]!r}")
    unknown = set(d) - set(_FIELD_TYPES) - _BOOL_FIELDS
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
