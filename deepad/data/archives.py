"""Image archives (.zip, .tar, .tar.gz, ...) read in place, never unpacked to disk.

An archive is a data set like an image folder: `folder:PATH.zip` with the same layouts
(`<class>/...`, `{train,test}/<class>/...`, or images at the top; one wrapping folder around any of
them is looked through). Members are read into memory one at a time. Hostile members are skipped
and reported like unreadable files in a folder: absolute names and names with '..', links,
special files, members over MAX_MEMBER bytes; an archive whose image members unpack to more than
MAX_TOTAL bytes is refused as a likely bomb. Decoding itself refuses decompression bombs
(data.images.MAX_PIXELS).
"""

from __future__ import annotations

import os
import tarfile
import zipfile

from ..errors import DataError
from .identity import is_image_name

SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
MAX_MEMBER = 64 * 2 ** 20
MAX_TOTAL = 32 * 2 ** 30
MAX_MEMBERS = 5_000_000


def is_archive(path) -> bool:
    return str(path).lower().endswith(SUFFIXES) and os.path.isfile(path)


def _unsafe(name: str) -> str | None:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if "\\" in name or any(p == ".." for p in name.split("/")):
        return "a path that leaves the archive"
    return None


class Archive:
    """The image members of an archive: `names` (sorted, safe), `skipped` [(name, why)],
    `read(name)` -> bytes."""

    def __init__(self, path):
        self.path = str(path)
        cached = _cached_listing(self.path)
        if cached is not None:
            self.names, self.sizes, self.skipped = cached
            return
        self.skipped: list[tuple[str, str]] = []
        sizes = {}
        try:
            if self.path.lower().endswith(".zip"):
                with zipfile.ZipFile(self.path) as z:
                    infos = z.infolist()
                    if len(infos) > MAX_MEMBERS:
                        raise DataError(f"{self.path} has {len(infos)} members; refused")
                    for info in infos:
                        if info.is_dir() or not is_image_name(info.filename):
                            continue
                        why = _unsafe(info.filename)
                        if why is None and (info.external_attr >> 16) & 0o170000 == 0o120000:
                            why = "a link"
                        if why is None and info.file_size > MAX_MEMBER:
                            why = f"too large ({info.file_size} bytes)"
                        if why:
                            self.skipped.append((info.filename, why))
                        else:
                            sizes[info.filename] = info.file_size
            else:
                with tarfile.open(self.path, "r:*") as t:
                    for m in t:
                        if not is_image_name(m.name):
                            continue
                        why = _unsafe(m.name)
                        if why is None and (m.issym() or m.islnk()):
                            why = "a link"
                        elif why is None and not m.isfile():
                            why = "not a regular file"
                        elif why is None and m.size > MAX_MEMBER:
                            why = f"too large ({m.size} bytes)"
                        if why:
                            self.skipped.append((m.name, why))
                        else:
                            sizes[m.name] = m.size
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as e:
            raise DataError(f"{self.path} is not a readable archive ({type(e).__name__}: {e}); "
                            f"give a .zip or .tar (.gz) of images, or a folder") from None
        if sum(sizes.values()) > MAX_TOTAL:
            raise DataError(f"{self.path} unpacks to more than {MAX_TOTAL / 2 ** 30:.0f} GiB of "
                            f"images; refused as a likely archive bomb")
        self.names = sorted(sizes)
        self.sizes = sizes
        _save_listing(self.path, self)

    def read(self, name: str) -> bytes:
        """The member's bytes (ValueError, as for an unreadable image, when it cannot be read)."""
        try:
            if self.path.lower().endswith(".zip"):
                with zipfile.ZipFile(self.path) as z:
                    with z.open(name) as f:
                        data = f.read(MAX_MEMBER + 1)
            else:
                with tarfile.open(self.path, "r:*") as t:
                    f = t.extractfile(name)
                    if f is None:
                        raise ValueError("not a regular file")
                    data = f.read(MAX_MEMBER + 1)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, KeyError) as e:
            raise ValueError(f"unreadable member ({type(e).__name__}: {e})") from None
        if len(data) > MAX_MEMBER:
            raise ValueError("too large")
        return data

    def read_many(self, names: list[str]):
        """Yield (name, bytes or ValueError) for the names, opening the archive once."""
        return read_members(self.path, names)


def _listing_file(path: str):
    import hashlib
    from pathlib import Path

    from ..paths import decoded_root
    st = os.stat(path)
    h = hashlib.sha256(f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    return Path(decoded_root()) / "archives" / f"{h[:24]}.json"


def _cached_listing(path: str):
    """The member listing remembered for this archive (path, size and mtime), or None: listing
    100,000 members takes seconds, a command answered from the store must not."""
    import json
    try:
        d = json.loads(_listing_file(path).read_text())
        return d["names"], d["sizes"], [tuple(x) for x in d["skipped"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_listing(path: str, arc: "Archive") -> None:
    import json
    import uuid
    try:
        f = _listing_file(path)
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f".{f.name}.{uuid.uuid4().hex[:8]}")
        tmp.write_text(json.dumps({"names": arc.names, "sizes": arc.sizes, "skipped": arc.skipped}))
        os.replace(tmp, f)
    except OSError:
        pass  # an optimisation only


def read_members(path: str, names: list[str]):
    """Yield (name, bytes or ValueError) for members of the archive at `path`, opened once."""
    try:
        if path.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as z:
                for n in names:
                    try:
                        with z.open(n) as f:
                            yield n, f.read(MAX_MEMBER + 1)
                    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as e:
                        yield n, ValueError(f"unreadable member ({type(e).__name__}: {e})")
        else:  # one pass in the archive's order (a compressed tar cannot seek back cheaply)
            wanted, got = set(names), {}
            with tarfile.open(path, "r:*") as t:
                try:
                    for m in t:
                        if m.name in wanted and m.name not in got:
                            f = t.extractfile(m)
                            got[m.name] = (f.read(MAX_MEMBER + 1) if f is not None
                                           else ValueError("not a regular file"))
                            if len(got) == len(wanted):
                                break
                except (tarfile.TarError, OSError, EOFError) as e:  # truncated: keep what was read
                    for n in wanted - set(got):
                        got[n] = ValueError(f"unreadable member ({type(e).__name__}: {e})")
            for n in names:
                yield n, got.get(n, ValueError("missing from the archive"))
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as e:
        for n in names:
            yield n, ValueError(f"unreadable archive ({type(e).__name__}: {e})")


def layout(names: list[str]) -> tuple[str, list[str], str]:
    """('split' | 'classes' | 'flat', class names, prefix to strip) from member names, as for a
    folder; one wrapping top folder (all names under it) is looked through."""
    prefix = ""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        inner = [n.split("/", 1)[1] for n in names]
        if any("/" in n for n in inner) or not any("/" in n for n in names):
            prefix = next(iter(tops)) + "/"
            names = inner
    parts = [n.split("/") for n in names]
    if {p[0] for p in parts if len(p) >= 3} >= {"train", "test"} and \
            all(p[0] in ("train", "test") and len(p) >= 3 for p in parts):
        classes = sorted({p[1] for p in parts if p[0] == "train"})
        return "split", classes, prefix
    classes = sorted({p[0] for p in parts if len(p) >= 2 and not p[0].startswith(".")})
    return ("classes", classes, prefix) if classes else ("flat", [], prefix)
