"""Re-keying by content: runs on data sets given by a path used to be keyed by that path. A
store opened by this version moves them to the key their data's content gives (data.identity),
where the data are on this machine; the old key becomes an alias (`aliases/<old>`), so
`RunStore.get(old)` still answers. Runs whose data are not here keep their old key until they are:
nothing is lost either way."""

from __future__ import annotations

import json
import os
import shutil
import uuid

from filelock import Timeout

from .errors import DeepadError
from .runfiles import fsync_write, sha256


def migrate_identities(store, con) -> None:
    """Re-key the runs whose data set is given by a path but whose config has no content
    identity (written before identities existed), where the data are on this machine."""
    rows = con.execute(
        "SELECT key FROM runs WHERE status = 'done' AND ((dataset LIKE 'folder:%' AND "
        "dataset_id IS NULL) OR ((oe LIKE 'folder:%' OR oe LIKE 'tiny-images:%') AND "
        "oe_id IS NULL))").fetchall()
    for (key,) in rows:
        try:
            rekey(store, con, key)
        except (DeepadError, OSError, ValueError):
            continue  # the data are not here (yet), or the run is unreadable: keep it as it is

def rekey(store, con, key: str) -> str | None:
    """Copy run `key` to the key its config has with content identities, leave an alias, and
    remove the old folder once the copy is in place (or move it to superseded/ when a run was
    trained under the new key meanwhile). None when the data are not on this machine."""
    run = store._read(key, repair=False)
    if run is None:
        return None
    c = run.config
    ids = {}
    for field_name, id_name in (("dataset", "dataset_id"), ("oe", "oe_id")):
        name = getattr(c, field_name)
        if getattr(c, id_name) is None and name.startswith(("folder:", "tiny-images:")):
            path = name.split(":", 1)[1].partition(",exclude=")[0]
            if not os.path.exists(path):
                return None  # not on this machine: keep the old key
            from .data import sources
            ids[id_name] = sources.identify(name)
    if not ids:
        return None
    new_cfg = c.replace(**ids)
    new = new_cfg.key
    (store.root / "aliases").mkdir(parents=True, exist_ok=True)
    try:
        lock = store.lock(new, timeout=0)
        lock.__enter__()
    except (Timeout, RuntimeError):  # being trained or re-keyed right now: next time
        return None
    try:
        superseded = (store.runs / new / "manifest.json").exists()  # trained again meanwhile
        if not superseded:
            tmp = store.root / "tmp" / f"{new}-{uuid.uuid4().hex}"
            shutil.copytree(run.path, tmp)
            fsync_write(tmp / "config.json",
                         json.dumps(new_cfg.to_dict(), indent=1, sort_keys=True).encode())
            manifest = json.loads((tmp / "manifest.json").read_text())
            manifest["key"] = new
            manifest["sha256"]["config.json"] = sha256(tmp / "config.json")
            manifest["rekeyed_from"] = key
            fsync_write(tmp / "manifest.json", json.dumps(manifest, indent=1).encode())
            if (store.runs / new).exists():
                store._quarantine(new, "replaced by a re-keyed run")
            os.replace(tmp, store.runs / new)
        fsync_write(store.root / "aliases" / key, (new + "\n").encode())
        if superseded:  # keep the old copy: its numbers may differ from the new run's
            (store.root / "superseded").mkdir(exist_ok=True)
            run.path.replace(store.root / "superseded" / f"{key}-{uuid.uuid4().hex[:8]}")
        else:
            moved = store.root / "tmp" / f"rekeyed-{key}-{uuid.uuid4().hex[:8]}"
            run.path.replace(moved)
            shutil.rmtree(moved, ignore_errors=True)
    finally:
        lock.__exit__(None, None, None)
    con.execute("DELETE FROM runs WHERE key = ?", (key,))
    stored = store._read(new, verify=False, repair=False)
    if stored is not None:
        store._upsert(con, stored.config, "done", stored.metrics)
    return new
