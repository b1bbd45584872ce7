"""Opening a bundle: every member checked on opening (and again on each later read), the runs
offered as StoredRun-like objects, read-only."""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import RunConfig
from ..errors import DeepadError
from .check import (
    ATLAS_COLUMNS,
    MAX_MEMBERS,
    MAX_TOTAL,
    SCORE_DTYPES,
    BundleError,
    _check_manifest,
    _check_member,
    _check_png,
    _is_unit,
    _npy_load,
    _parse_json,
    _safetensors_layout,
    _sha,
    set_id,
    summarise,
    validate_config,
)

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


def open_bundle(path, label: str | None = None) -> Bundle:
    return Bundle(path, label)
