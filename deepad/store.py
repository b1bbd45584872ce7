"""The run store: every trained run on disk, found by its config key.

Layout under the cache root (DEEPAD_CACHE, default `cache/`):

    runs/<key>/config.json      the RunConfig
    runs/<key>/metrics.json     AUROC, AUPRC, FPR at 95% TPR, timings, device, versions
    runs/<key>/scores.npz       per-sample test scores (float64), labels (1 = anomaly), indices, classes
    runs/<key>/history.json     mean training loss per epoch
    runs/<key>/weights.safetensors  model weights (loading never executes code); absent for a run
                                imported from a result bundle made without weights
    runs/<key>/extremes.npz     optional: the test images the dashboard shows (false alarms,
                                misses), kept for runs imported where their data may be absent
    runs/<key>/manifest.json    SHA-256 of each file above; written last
    index.sqlite                one row per run, a column per config field: the queryable index
    locks/<key>.lock            one trainer per key across processes
    aliases/<old key>           the key a run was re-keyed to (one line)

A run is written into a temporary folder and renamed into place, so a reader sees all of it or
none of it. Every read checks the manifest's checksums and that the weights file is laid out as
safetensors; a damaged run is moved to `damaged/` and reported as missing (so it is retrained),
never served. The index is derived data: it is rebuilt from the run folders when it is missing or
unreadable, and picks up any run folder it lacks (a writer killed before indexing its run). Runs
written under another CODE_VERSION stay on disk untouched but are neither served nor re-indexed.

Runs keyed by a data set's path before content identities existed are re-keyed by content when
the store is opened (rekey.py); their old keys stay answerable through `aliases/`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from . import rekey
from .config import CODE_VERSION, RunConfig
from .errors import DeepadError
from .runfiles import OPTIONAL, REQUIRED, fsync_write, is_safetensors, sha256
from .runfiles import FILES, StoredRun  # noqa: F401 - part of the store's interface

_CONFIG_COLUMNS = [("dataset", "TEXT"), ("normal_class", "INTEGER"), ("oe", "TEXT"),
                   ("oe_size", "INTEGER"), ("oe_classes", "INTEGER"), ("blur_sigma", "REAL"),
                   ("method", "TEXT"), ("seed", "INTEGER"), ("epochs", "INTEGER"),
                   ("batch_size", "INTEGER"), ("lr", "REAL"), ("weight_decay", "REAL"),
                   ("precision", "TEXT"), ("oe_jpeg", "INTEGER"), ("dataset_id", "TEXT"),
                   ("oe_id", "TEXT"), ("oe_batch", "INTEGER"), ("oe_augment", "INTEGER")]
_METRIC_COLUMNS = [("auroc", "REAL"), ("auprc", "REAL"), ("fpr_at_95_tpr", "REAL"), ("n_oe", "INTEGER"),
                   ("train_seconds", "REAL"), ("machine", "TEXT")]


_MIGRATED: set = set()  # store roots whose runs were checked for re-keying in this process


class RunStore:
    def __init__(self, root: str | os.PathLike | None = None):
        from .paths import cache_root
        self.root = Path(root) if root is not None else cache_root()
        self.runs = self.root / "runs"
        self.db_path = self.root / "index.sqlite"

    # ------------------------------------------------------------------ setup
    def _ensure_dirs(self):
        try:
            for d in (self.runs, self.root / "locks", self.root / "tmp"):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DeepadError(f"cannot write to the run store {self.root} ({e.strerror}); "
                              f"make it writable or point DEEPAD_CACHE at a writable folder") from None

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA busy_timeout=60000")
        return con

    @contextmanager
    def _db(self):
        """An index connection; a missing or corrupt index is rebuilt from the run folders."""
        self._ensure_dirs()
        con = None
        try:
            con = self._connect()
            self._create(con)
            # a damaged page may only fail a later query: check the whole file up front
            if con.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("index failed its integrity check")
        except sqlite3.OperationalError as e:  # busy, locked, read-only, full: never a reason to rebuild
            if con is not None:
                con.close()
            if "lock" in str(e) or "busy" in str(e):
                raise DeepadError(f"the run index {self.db_path} is busy ({e}); try again") from None
            raise DeepadError(f"cannot write to the run index {self.db_path} ({e}); make "
                              f"{self.root} writable, free some space, or point DEEPAD_CACHE at a "
                              f"writable folder") from None
        except sqlite3.DatabaseError:
            if con is not None:
                con.close()
            self._rebuild_file()
            con = self._connect()
            self._create(con)
        try:
            yield con
        finally:
            con.close()

    def _create(self, con):
        cols = ", ".join(f"{n} {t}" for n, t in _CONFIG_COLUMNS + _METRIC_COLUMNS)
        con.execute(f"CREATE TABLE IF NOT EXISTS runs (key TEXT PRIMARY KEY, status TEXT NOT NULL, "
                    f"code_version INTEGER, created REAL, error TEXT, config TEXT, {cols})")
        have = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
        added = [(n, t) for n, t in _CONFIG_COLUMNS + _METRIC_COLUMNS if n not in have]
        for n, t in added:  # an index written by an earlier version: add the columns, refill
            con.execute(f"ALTER TABLE runs ADD COLUMN {n} {t}")
        if added:
            self._index_folders(con)
        self._index_missing(con)
        if str(self.root.resolve()) not in _MIGRATED:
            _MIGRATED.add(str(self.root.resolve()))
            rekey.migrate_identities(self, con)

    def _index_missing(self, con):
        """Index the run folders that the index lacks: all of them when the index was lost, or one
        whose writer was killed between renaming it into place and indexing it."""
        try:
            folders = {d.name for d in self.runs.iterdir()}
        except OSError:
            return
        if not folders:
            return
        indexed = {r[0] for r in con.execute("SELECT key FROM runs WHERE status = 'done'")}
        for key in sorted(folders - indexed):
            if (self.runs / key / "manifest.json").exists():
                run = self._read(key, verify=False)
                if run is not None:
                    self._upsert(con, run.config, "done", run.metrics)

    def _rebuild_file(self):
        """Set an unreadable index aside; the next connection re-creates it from the folders."""
        damaged = self.root / "damaged"
        damaged.mkdir(parents=True, exist_ok=True)
        stamp = f"{int(time.time())}-{uuid.uuid4().hex[:6]}"
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.db_path) + suffix)
            if p.exists():
                p.replace(damaged / f"index-{stamp}.sqlite{suffix}")

    def _index_folders(self, con):
        for d in sorted(self.runs.iterdir()):
            if (d / "manifest.json").exists():
                run = self._read(d.name, verify=False)
                if run is not None:
                    self._upsert(con, run.config, "done", run.metrics)

    def rebuild_index(self) -> int:
        """Drop the index and re-create it from the run folders. Returns the number of runs."""
        with self._db() as con:
            con.execute("DELETE FROM runs WHERE status = 'done'")
            self._index_folders(con)
            return con.execute("SELECT COUNT(*) FROM runs WHERE status='done'").fetchone()[0]

    def _upsert(self, con, cfg: RunConfig, status: str, metrics: dict | None = None, error=None):
        d = cfg.to_dict()
        names = ["key", "status", "code_version", "created", "error", "config"]
        values = [cfg.key, status, CODE_VERSION, time.time(), error, json.dumps(d, sort_keys=True)]
        for n, _ in _CONFIG_COLUMNS:
            names.append(n)
            values.append(d[n])
        for n, _ in _METRIC_COLUMNS:
            names.append(n)
            values.append((metrics or {}).get(n))
        con.execute(f"INSERT OR REPLACE INTO runs ({', '.join(names)}) VALUES "
                    f"({', '.join('?' * len(names))})", values)

    # ------------------------------------------------------------------ reading
    def _read(self, key: str, verify: bool = True, repair: bool = True) -> StoredRun | None:
        d = self.runs / key
        try:
            manifest = json.loads((d / "manifest.json").read_text())
            if manifest["code_version"] != CODE_VERSION:
                return None  # written by another code version: kept on disk, never served
            listed = manifest["sha256"]
            if not set(REQUIRED) <= set(listed) or not set(listed) <= set(REQUIRED + OPTIONAL):
                raise ValueError(f"the manifest lists {sorted(listed)}")
            if verify:
                present = {p.name for p in d.iterdir()} - {"manifest.json"}
                if present != set(listed):  # e.g. a file put beside the run's own
                    raise ValueError(f"files {sorted(present ^ set(listed))} do not match the manifest")
                for name in listed:
                    if sha256(d / name) != listed[name]:
                        raise ValueError(f"checksum mismatch in {name}")
                if "weights.safetensors" in listed and not is_safetensors(d / "weights.safetensors"):
                    raise ValueError("weights.safetensors is not a safetensors file")  # e.g. a pickle
            cfg = RunConfig.from_dict(json.loads((d / "config.json").read_text()))
            if cfg.key != key:
                raise ValueError("config does not match its key")
            metrics = json.loads((d / "metrics.json").read_text())
            history = json.loads((d / "history.json").read_text())
        except FileNotFoundError:
            if d.exists() and repair:
                self._quarantine(key, "missing file")
            return None
        except (ValueError, KeyError, TypeError, OSError) as e:
            if repair:
                self._quarantine(key, str(e))
            return None
        return StoredRun(key, cfg, metrics, history, d)

    def _quarantine(self, key: str, why: str) -> None:
        src = self.runs / key
        dst = self.root / "damaged" / f"{key}-{uuid.uuid4().hex[:8]}"
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            src.replace(dst)
            (dst / "DAMAGED.txt").write_text(why + "\n")
        except OSError:
            pass
        try:  # no _db() here: this also runs while the index is being rebuilt
            con = self._connect()
            try:
                con.execute("DELETE FROM runs WHERE key = ?", (key,))
            finally:
                con.close()
        except sqlite3.Error:
            pass

    def get(self, key: str, repair: bool = True) -> StoredRun | None:
        """The verified run, or None when it is not stored (or was damaged and set aside, or was
        written by another code version). repair=False leaves a damaged run where it is (for
        readers that must not change the store)."""
        if not (self.runs / key / "manifest.json").exists():
            if (self.runs / key).exists() and repair:
                self._quarantine(key, "no manifest (incomplete write)")
            new = self.alias(key)
            if new is None and self._ensure_migrated():
                new = self.alias(key)
            return self._read(new, repair=repair) if new else None
        return self._read(key, repair=repair)

    def _ensure_migrated(self) -> bool:
        """Open the index once in this process (which re-keys runs written before content
        identities, see the module docstring). True when that happened now."""
        if str(self.root.resolve()) in _MIGRATED or not self.runs.is_dir():
            return False
        try:
            with self._db():
                pass
        except DeepadError:
            return False
        return True

    def alias(self, key: str) -> str | None:
        """The key a re-keyed run is stored under now, when `key` is one of its old keys."""
        try:
            new = (self.root / "aliases" / key).read_text().strip()
        except (OSError, ValueError):
            return None
        if len(new) == 16 and all(c in "0123456789abcdef" for c in new) \
                and (self.runs / new / "manifest.json").exists():
            return new
        return None

    def __contains__(self, key: str) -> bool:
        if (self.runs / key / "manifest.json").exists():
            return True
        if self.alias(key) is None and self._ensure_migrated():
            return self.alias(key) is not None
        return self.alias(key) is not None

    def query(self, status: str | None = "done", **filters) -> list[dict]:
        """Index rows (dicts) whose columns equal the given values, e.g. query(method='hsc')."""
        valid = {n for n, _ in _CONFIG_COLUMNS + _METRIC_COLUMNS} | {"key"}
        where, args = [], []
        if status:
            where.append("status = ?")
            args.append(status)
        for k, v in filters.items():
            if k not in valid:
                raise DeepadError(f"cannot filter runs by '{k}'; use one of {', '.join(sorted(valid))}")
            if v is None:
                where.append(f"{k} IS NULL")
            else:
                where.append(f"{k} = ?")
                args.append(v)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created"
        if not self.db_path.exists() and not self.runs.exists():
            return []
        with self._db() as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql, args)]

    # ------------------------------------------------------------------ writing
    @contextmanager
    def lock(self, key: str, timeout: float = -1):
        """Hold the per-key lock (across processes) while checking and training one run."""
        self._ensure_dirs()
        lock = FileLock(str(self.root / "locks" / f"{key}.lock"), timeout=timeout)
        try:
            lock.acquire()
        except Timeout:
            raise
        except OSError as e:  # e.g. a read-only store
            raise DeepadError(f"cannot write to the run store {self.root} ({e.strerror or e}); "
                              f"make it writable or point DEEPAD_CACHE at a writable folder") from None
        try:
            yield
        finally:
            lock.release()

    def put(self, cfg: RunConfig, *, metrics: dict, history: list, scores: dict,
            weights=None, extras: dict | None = None) -> StoredRun:
        """Write a finished run atomically and index it. `scores` holds the arrays `scores`,
        `labels`, `indices`, `classes`; `weights` a state dict of tensors, the bytes of a
        safetensors file, or None (a run imported without its model); `extras` {name in
        OPTIONAL: bytes} (e.g. extremes.npz)."""
        self._ensure_dirs()
        key = cfg.key
        tmp = self.root / "tmp" / f"{key}-{uuid.uuid4().hex}"
        try:
            tmp.mkdir(parents=True)
            fsync_write(tmp / "config.json", json.dumps(cfg.to_dict(), indent=1, sort_keys=True).encode())
            fsync_write(tmp / "metrics.json", json.dumps(metrics, indent=1, sort_keys=True).encode())
            fsync_write(tmp / "history.json", json.dumps(history).encode())
            np.savez(tmp / "scores.npz", **scores)
            if isinstance(weights, (bytes, bytearray)):
                fsync_write(tmp / "weights.safetensors", bytes(weights))
            elif weights is not None:
                from safetensors.torch import save_file
                save_file(weights, str(tmp / "weights.safetensors"))
            for name, data in (extras or {}).items():
                if name not in OPTIONAL or name == "weights.safetensors":
                    raise ValueError(f"unknown run file {name}")
                fsync_write(tmp / name, data)
            names = [n for n in REQUIRED + OPTIONAL if (tmp / n).exists()]
            manifest = {"key": key, "code_version": CODE_VERSION,
                        "sha256": {n: sha256(tmp / n) for n in names}}
            fsync_write(tmp / "manifest.json", json.dumps(manifest, indent=1).encode())
            final = self.runs / key
            if final.exists():  # a damaged or concurrent leftover: set it aside, never merge
                self._quarantine(key, "replaced by a fresh run")
            os.replace(tmp, final)
        except BaseException as e:  # never leave a half-written run behind, whatever happened
            shutil.rmtree(tmp, ignore_errors=True)
            # safetensors reports a full disk as its own error type ("I/O error: ...")
            if isinstance(e, OSError) or "I/O error" in str(e):
                raise DeepadError(f"could not write run {key} to {self.root} "
                                  f"({getattr(e, 'strerror', None) or e}); free some space or "
                                  f"point DEEPAD_CACHE at a writable folder") from None
            raise
        try:
            with self._db() as con:
                self._upsert(con, cfg, "done", metrics)
        except (sqlite3.Error, DeepadError):
            pass  # the run is stored and verified; the index picks it up when it can (_index_missing)
        return self.get(key)

    def put_once(self, cfg: RunConfig, produce) -> tuple["StoredRun", bool]:
        """(the run, True) when `cfg` is stored; else store what `produce()` returns (the keyword
        arguments of put) and give (the run, False). Under the key's lock, so that concurrent
        trainers (threads, processes, Ray's driver) store a run once: the single place of that
        rule for get_or_train and every executor."""
        hit = self.get(cfg.key)
        if hit is not None:
            return hit, True
        with self.lock(cfg.key):
            hit = self.get(cfg.key)
            if hit is not None:
                return hit, True
            run = self.put(cfg, **produce())
            if run is None:  # pragma: no cover - put verifies what it wrote
                raise DeepadError(f"run {cfg.key} could not be read back from {self.root}")
            return run, False

    def record_failure(self, cfg: RunConfig, error: str) -> None:
        """Note a failed run in the index (no artifacts; asking again retries it)."""
        try:
            with self._db() as con:
                self._upsert(con, cfg, "failed", None, error)
        except (sqlite3.Error, DeepadError):
            pass

    def delete(self, key: str) -> bool:
        d = self.runs / key
        existed = d.exists()
        if existed:
            trash = self.root / "tmp" / f"deleted-{key}-{uuid.uuid4().hex[:8]}"
            d.replace(trash)
            shutil.rmtree(trash, ignore_errors=True)
        with self._db() as con:
            con.execute("DELETE FROM runs WHERE key = ?", (key,))
        return existed
