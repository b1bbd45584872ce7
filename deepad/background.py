"""Background sweeps: `deepad sweep` over a list of configs in a detached process that keeps
running when the page that started it goes away; their progress, read from the run store."""

from __future__ import annotations

import os
import sys
import time

from .config import RunConfig
from .errors import DeepadError
from .store import RunStore


def _sweeps_dir():
    from .data.sources import cache_root
    return cache_root() / "sweeps"


def start_background(configs: list[RunConfig], *, workers: int = 1, device: str = "auto") -> str:
    """Start `deepad sweep` over `configs` in a detached process (it keeps running when the
    caller, e.g. a dashboard page, goes away). Returns the job id; see `background_jobs`."""
    import json
    import subprocess
    import uuid
    from pathlib import Path
    d = _sweeps_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DeepadError(f"cannot write to {d} ({e.strerror}); make DEEPAD_CACHE writable") from None
    job = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    spec = d / f"{job}.json"
    spec.write_text(json.dumps({"configs": [c.to_dict() for c in configs],
                                "keys": [c.key for c in configs], "started": time.time()}))
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    with open(d / f"{job}.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "deepad", "sweep", "--from-file", str(spec),
                                 "--workers", str(workers), "--device", device],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    (d / f"{job}.pid").write_text(str(proc.pid))
    return job


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a finished child that nobody waited for is a zombie: not running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def background_jobs(store: RunStore | None = None) -> list[dict]:
    """Background sweeps, newest first: id, total, done (stored), failed, running."""
    import json
    store = store or RunStore()
    d = _sweeps_dir()
    if not d.is_dir():
        return []
    failed_keys = {r["key"] for r in store.query(status="failed")}
    out = []
    for spec in sorted(d.glob("*.json"), reverse=True):
        try:
            info = json.loads(spec.read_text())
            pid = int((d / f"{spec.stem}.pid").read_text())
        except (OSError, ValueError):
            continue
        keys = info["keys"]
        done = sum(1 for k in keys if k in store)
        out.append({"id": spec.stem, "total": len(keys), "done": done, "keys": list(keys),
                    "failed": sum(1 for k in keys if k in failed_keys and k not in store),
                    "running": _alive(pid), "started": info.get("started")})
    return out


def configs_from_file(path: str) -> list[RunConfig]:
    import json
    try:
        return [RunConfig.from_dict(d) for d in json.loads(open(path).read())["configs"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DeepadError(f"cannot read the sweep file {path} ({e}); give a file written by "
                          f"deepad") from None
