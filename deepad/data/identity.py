"""What a local data set *is*, whatever folder it sits in: content fingerprints.

A run's key must not depend on where its files lie (design.md, "Results travel"): the same images
under another path, or on another machine, are the same data set. Registry data sets (`mnist`,
`cifar10`, ...) are identified by their name. Data sets given by a path (`folder:PATH`,
`tiny-images:PATH`) are identified here by a fingerprint of their content:

* a folder: SHA-256 over every sub-folder's relative path and, for every image file the loaders
  would read (the same name and symlink rules), its relative path and the SHA-256 of its bytes.
  Renaming the top folder or moving it keeps the fingerprint; renaming a class folder, adding,
  removing or editing an image changes it.
* a file (an archive, the 80 Million Tiny Images binary): SHA-256 of its bytes, except for files
  over 1 GiB (the Tiny Images binary is 227 GB), which are fingerprinted by their size and 64
  evenly spaced 1 MiB blocks. An exclude list is hashed whole.

Computing a fingerprint reads every byte once; the result is remembered in
`DEEPAD_DATASET_CACHE/identities.json` under the path with a signature of the files' names, sizes
and modification times, so later calls only walk the folder (about 0.05 s per 10,000 files).
The same file also remembers which paths on this machine hold which fingerprint, so a run whose
recorded path does not exist here is found under another one (`locate`).

No torch here: a run key is computed without importing the training stack.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from ..errors import DataError

FORMAT = 1  # of the fingerprint; part of every fingerprint, so a change gives new identities
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
BIG_FILE = 1 << 30
SAMPLE_BLOCKS, BLOCK = 64, 1 << 20
ID_LENGTH = 32  # hex digits kept of the SHA-256


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def walk_images(top: str, root: str, *, follow_links: bool = False):
    """Yield (dirpath, image file names) under `top` like os.walk (top-down, sorted names):
    image files only, and only those whose real path lies inside `root` (symlinks that lead out
    are skipped). follow_links: descend into symlinked folders too (with a guard against loops).
    Real paths are resolved per folder, and per file only for symlinks (fast on 100k files)."""
    root_real = os.path.realpath(root)

    def inside(real: str) -> bool:
        return real == root_real or real.startswith(root_real + os.sep)

    seen = set()
    stack = [top]
    while stack:
        d = stack.pop()
        real_d = os.path.realpath(d)
        if real_d in seen:
            continue
        seen.add(real_d)
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        files, subdirs = [], []
        for e in entries:
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if follow_links or not e.is_symlink():
                    subdirs.append(e.name)
            elif is_image_name(e.name):
                try:
                    link = e.is_symlink()
                except OSError:
                    continue
                if (inside(os.path.realpath(e.path)) if link else inside(real_d)):
                    files.append(e.name)
        yield d, sorted(subdirs), sorted(files)
        stack.extend(os.path.join(d, n) for n in sorted(subdirs, reverse=True))


def _walk(root: str):
    """(dirs, files): relative paths of every sub-folder and of every image file under `root`,
    sorted; symlinks that lead outside `root` are skipped (as the loaders skip them)."""
    root_real = os.path.realpath(root)
    dirs, files = [], []
    prefix = len(root.rstrip(os.sep)) + 1
    for dirpath, subdirs, names in walk_images(root, root, follow_links=True):
        real = os.path.realpath(dirpath)
        if not (real == root_real or real.startswith(root_real + os.sep)):
            continue  # a linked folder outside the root
        rel = dirpath[prefix:].replace(os.sep, "/") if dirpath != root else ""
        if rel:
            dirs.append(rel)
        files += [f"{rel}/{n}" if rel else n for n in names]
    return sorted(dirs), sorted(files)


def _signature_folder(root: str) -> tuple[str, list, list, list]:
    """A cheap signature of a folder (names, sizes, mtimes) and its listing."""
    dirs, files = _walk(root)
    h = hashlib.sha256(b"deepad-folder-signature\n")
    stats = []
    for d in dirs:
        h.update(f"d {d}\n".encode())
    for f in files:
        try:
            st = os.stat(os.path.join(root, f))
        except OSError:
            continue  # vanished or unreadable: the loaders skip it too
        stats.append((f, st.st_size))
        h.update(f"f {f} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest(), dirs, files, stats


def _signature_file(path: str) -> str:
    st = os.stat(path)
    return hashlib.sha256(f"deepad-file-signature {st.st_size} {st.st_mtime_ns}".encode()).hexdigest()


def _hash_file(path: str, h=None) -> str:
    own = h is None
    h = h or hashlib.sha256()
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if size <= BIG_FILE:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        else:  # sampled: size plus evenly spaced blocks
            h.update(f"sampled {size}\n".encode())
            for i in range(SAMPLE_BLOCKS):
                f.seek((size - BLOCK) * i // (SAMPLE_BLOCKS - 1))
                h.update(f.read(BLOCK))
    return h.hexdigest() if own else ""


def _content_folder(root: str, dirs: list, files: list) -> str:
    h = hashlib.sha256(f"deepad-folder v{FORMAT}\n".encode())
    for d in dirs:
        h.update(f"d {d}\n".encode())
    for f in files:
        try:
            digest = _hash_file(os.path.join(root, f))
        except OSError:
            continue  # unreadable: skipped by the loaders as well
        h.update(f"f {f} {digest}\n".encode())
    return h.hexdigest()[:ID_LENGTH]


def _content_file(path: str, extra: str | None = None) -> str:
    h = hashlib.sha256(f"deepad-file v{FORMAT}\n".encode())
    _hash_file(path, h)
    if extra:
        h.update(b"\nexclude\n")
        _hash_file(extra, h)
    return h.hexdigest()[:ID_LENGTH]


# --------------------------------------------------------------------------- the remembered table

def _table_path() -> Path:
    from ..paths import decoded_root
    return decoded_root() / "identities.json"


def _read_table() -> dict:
    try:
        t = json.loads(_table_path().read_text())
        return t if isinstance(t, dict) and isinstance(t.get("paths"), dict) else {"paths": {}}
    except (OSError, ValueError):
        return {"paths": {}}


def _write_entry(path: str, entry: dict) -> None:
    """Remember one path's fingerprint (best effort: a read-only cache only costs recomputing)."""
    p = _table_path()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        from filelock import FileLock
        with FileLock(str(p) + ".lock", timeout=30):
            t = _read_table()
            t["paths"][path] = entry
            tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex[:8]}")
            tmp.write_text(json.dumps(t, indent=0, sort_keys=True))
            os.replace(tmp, p)
    except Exception:  # noqa: BLE001 - remembering is an optimisation only
        pass


_MEMO: dict = {}
_STEADY: list = []  # a stack of {(kind, path, exclude): identity} while steady() is open


@contextmanager
def steady():
    """Within the block, a data set's identity is looked at once: building a grid asks the
    identity of one OE folder for every config, and re-listing 10,000 files each time cost
    0.1 s a config (96 s for a 960-run grid). Files changed while the block runs are not seen
    until the next block."""
    _STEADY.append({})
    try:
        yield
    finally:
        _STEADY.pop()


def fingerprint(kind: str, path: str, exclude: str | None = None, progress=None) -> str:
    """The content identity (32 hex digits) of a `folder` or a `file` (archive, Tiny Images
    binary, with an optional exclude list), computed once per content and remembered."""
    path = os.path.abspath(path)
    if _STEADY:
        seen = _STEADY[-1]
        if (kind, path, exclude) not in seen:
            seen[(kind, path, exclude)] = _fingerprint(kind, path, exclude, progress)
        return seen[(kind, path, exclude)]
    return _fingerprint(kind, path, exclude, progress)


def _fingerprint(kind: str, path: str, exclude: str | None, progress) -> str:
    if kind == "folder":
        if not os.path.isdir(path):
            raise DataError(f"image folder {path} does not exist; check the folder's path")
        sig, dirs, files, stats = _signature_folder(path)
    else:
        if not os.path.isfile(path):
            raise DataError(f"{path} does not exist; fix the path")
        sig = _signature_file(path) + (_signature_file(exclude) if exclude else "")
    memo_key = (kind, path, exclude, sig)
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    entry = _read_table()["paths"].get(path if not exclude else f"{path},exclude={exclude}")
    if entry and entry.get("signature") == sig and entry.get("format") == FORMAT:
        _MEMO[memo_key] = entry["id"]
        return entry["id"]
    t0 = time.perf_counter()
    if progress:
        progress(f"fingerprinting {path} (once; remembered afterwards)")
    if kind == "folder":
        ident = _content_folder(path, dirs, files)
        extra = {"n_files": len(files), "bytes": sum(s for _, s in stats)}
    else:
        ident = _content_file(path, exclude)
        extra = {"bytes": os.path.getsize(path)}
    _write_entry(path if not exclude else f"{path},exclude={exclude}",
                 {"id": ident, "kind": kind, "signature": sig, "format": FORMAT,
                  "seconds": round(time.perf_counter() - t0, 3), "time": time.time(), **extra})
    _MEMO[memo_key] = ident
    return ident


def known_paths(ident: str) -> list[str]:
    """Paths on this machine that held data with this identity when last fingerprinted."""
    return [p for p, e in _read_table()["paths"].items() if e.get("id") == ident]


def remembered(path: str) -> str | None:
    """The identity last computed for `path` (without checking the files again), or None."""
    e = _read_table()["paths"].get(path)
    return e.get("id") if e else None


# --------------------------------------------------------------------------- learned in this process

_LEARNED: dict[str, dict] = {}


def learn(name: str, ident: str | None, **meta) -> None:
    """Remember, for this process, that the data set `name` (a canonical `folder:` or
    `tiny-images:` name, perhaps of another machine) has identity `ident`, with what is known of
    it (`classes`, `profile`, `label`, ...): the run store and opened result bundles tell it, so
    that their runs can be found and shown where the data are not."""
    entry = _LEARNED.setdefault(name, {})
    if ident is not None and entry.get("id") not in (None, ident):  # same path, other content
        entry.clear()
    if ident is not None or "id" not in entry:
        entry["id"] = ident
    entry.update({k: v for k, v in meta.items() if v is not None})


def learned(name: str) -> dict | None:
    return _LEARNED.get(name)


def lookup(name: str) -> str | None:
    """The identity of a data set that is not on this machine: learned, or remembered from when
    it was here."""
    e = _LEARNED.get(name)
    if e and e.get("id"):
        return e["id"]
    return remembered(name.split(":", 1)[1]) if ":" in name else None


def names_of(ident: str) -> list[str]:
    """Canonical names known (learned in this process) for an identity."""
    return [n for n, e in _LEARNED.items() if e.get("id") == ident]
