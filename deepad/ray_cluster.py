"""Joining a Ray cluster from the driver, and checking its nodes before a sweep starts.

Code travels: the driver ships its own `deepad` package to the workers through Ray's runtime
environment (`py_modules`, uploaded once and cached by content), so a node needs Python and the
third-party requirements, not the code, and runs exactly the driver's version. Token
authentication (Ray's RAY_AUTH_MODE=token): where a token is at hand (RAY_AUTH_TOKEN,
RAY_AUTH_TOKEN_PATH or Ray's default token file) the driver uses it, as `ray start` on the head
does; a cluster that refuses the driver's token gives one line saying how to fix it instead of
Ray's repeated "Unauthenticated" log lines."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import DeepadError

PACKAGE = Path(__file__).resolve().parent
REQUIRED = ("numpy", "torch", "torchvision", "sklearn", "PIL", "safetensors", "scipy", "filelock")
DEFAULT_TOKEN = Path.home() / ".ray" / "auth_token"


def token_at_hand() -> bool:
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(path).is_file() if path else DEFAULT_TOKEN.is_file()


@contextmanager
def _captured_stderr():
    """The process's stderr (file descriptor 2, where Ray's C++ client logs) into a file for
    the block; yields a function that reads what was written."""
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield lambda: (f.seek(0), f.read().decode(errors="replace"))[1]
        finally:
            os.dup2(saved, 2)
            os.close(saved)


_SET_BY_US = []  # RAY_AUTH_MODE was set by _use_token (release() takes it back)


def _use_token() -> None:
    """Token mode for this process, as `ray start` uses it on a node with a token: Ray reads
    RAY_AUTH_MODE into its cached config, which must be refreshed once it is set."""
    os.environ["RAY_AUTH_MODE"] = "token"
    _SET_BY_US.append(True)
    _refresh_auth()


def release() -> None:
    """Undo _use_token after a sweep (ray.shutdown): a later local Ray instance of the same
    process (a library user's, a test's) starts with Ray's own defaults, not with the cluster's
    token cached."""
    if _SET_BY_US:
        _SET_BY_US.clear()
        os.environ.pop("RAY_AUTH_MODE", None)
        _refresh_auth()


def _refresh_auth() -> None:
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
        from ray._raylet import AuthenticationTokenLoader
        AuthenticationTokenLoader.instance().reset_cache()  # the token of now, not of before
        if os.environ.get("RAY_AUTH_MODE") == "token":
            maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
        from ray._raylet import Config
        Config.initialize("")
    except (ImportError, AttributeError):  # an older Ray reads the variable when it connects
        pass


@contextmanager
def _nothing():
    yield lambda: ""


def _answers(address: str, timeout: float = 3.0) -> bool:
    """Whether something listens at HOST:PORT (a plain TCP connect, nothing sent)."""
    import socket
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def connect(address: str | None) -> bool:
    """ray.init for a sweep: a local instance (address None) or the cluster at `address`
    ('auto' or HOST:PORT). True when this call connected (the caller shuts down), False when the
    process had Ray initialised already."""
    import ray
    if ray.is_initialized():
        return False
    env = {k: v for k, v in os.environ.items()
           if k in ("DEEPAD_OFFLINE",) or k.startswith("RAY_AUTH")}
    # The workers run in an empty working directory of their own: without one Ray puts the
    # driver's folder on their path, which on one machine would let them import the driver's
    # checkout instead of the shipped package (and on another machine finds nothing).
    workdir = Path(tempfile.mkdtemp(prefix="deepad-ray-"))
    (workdir / "README").write_text("the working directory of deepad's Ray tasks\n")
    runtime_env = {"py_modules": [str(PACKAGE)], "working_dir": str(workdir), "env_vars": env}
    if address and "RAY_AUTH_MODE" not in os.environ and token_at_hand():
        _use_token()  # a cluster without authentication accepts a token too
    # joining: Ray's client logs each refused attempt on stderr; keep them for the message
    capture = _captured_stderr() if address else _nothing()
    with capture as log:
        try:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False,
                     include_dashboard=False)
        except Exception as e:  # noqa: BLE001 - connection problems come in many types
            token_mode = os.environ.get("RAY_AUTH_MODE") == "token"
            release()
            text = log() + str(e)
            where = address or "a local instance"
            # Ray's client logs why on stderr only before Ray's logging goes to its files (a
            # second ray.init in a process): a cluster that answers but refuses us is, in token
            # mode, a token it does not accept.
            refused = address and token_mode and _answers(address)
            if "Unauthenticated" in text or "InvalidAuthToken" in text or refused:
                raise DeepadError(
                    f"the Ray cluster at {where} refused this driver's authentication token; set "
                    f"RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to the cluster's token, which "
                    f"`ray get-auth-token` prints on the head node, and RAY_AUTH_MODE=token") from None
            if address and _answers(address):
                raise DeepadError(
                    f"the Ray cluster at {where} answers but refused this driver "
                    f"({str(e).splitlines()[0][:160]}); if it uses token authentication, set "
                    f"RAY_AUTH_TOKEN to the token `ray get-auth-token` prints on the head node "
                    f"and RAY_AUTH_MODE=token; else check that driver and cluster run the same "
                    f"Ray and Python versions") from None
            raise DeepadError(f"could not start or join a Ray cluster at {where} "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); check "
                              f"--address and that the cluster is running (`ray status`)") from None
    return True


def _probe(required) -> dict:
    """Runs on one node: which requirements are missing, and where deepad was imported from."""
    import importlib
    import socket
    missing = []
    for name in required:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append({"sklearn": "scikit-learn", "PIL": "pillow"}.get(name, name))
    import deepad
    return {"host": socket.gethostname(), "missing": missing, "deepad": deepad.__file__,
            "version": deepad.__version__}


def check_nodes(required=REQUIRED) -> list[dict]:
    """One probe task per alive node (pinned to it); DeepadError naming the first node that
    lacks a requirement. Returns the probes (the module path shows the code is the driver's)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    import deepad
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    probe = ray.remote(num_cpus=0)(_probe)
    refs = {probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
            .remote(tuple(required)): n for n in nodes}
    out = []
    for ref, node in refs.items():
        ip = node.get("NodeManagerAddress", "?")
        try:
            res = ray.get(ref, timeout=300)
        except Exception as e:  # noqa: BLE001 - an unpickling error, a lost node
            name = getattr(getattr(e, "cause", None), "name", None) or \
                (str(e).split("No module named ")[-1].split()[0].strip("'\"") if "No module named" in str(e)
                 else None)
            if name:
                raise DeepadError(f"the Ray node {ip} lacks the Python package '{name}': install "
                                  f"deepad's requirements there (pip install -r requirements.txt); "
                                  f"nothing was started") from None
            raise DeepadError(f"the Ray node {ip} could not run a task ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200]}); nothing was started") from None
        if res["missing"]:
            raise DeepadError(f"the Ray node {ip} ({res['host']}) lacks the Python package(s) "
                              f"{', '.join(repr(m) for m in res['missing'])}: install deepad's "
                              f"requirements there (pip install -r requirements.txt); nothing was "
                              f"started")
        if res["version"] != deepad.__version__:  # pragma: no cover - py_modules ships ours
            raise DeepadError(f"the Ray node {ip} runs deepad {res['version']}, the driver "
                              f"{deepad.__version__}; nothing was started")
        out.append({**res, "ip": ip})
    return out
