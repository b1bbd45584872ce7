"""What every data source shares while it loads: a process-wide memo of loaded arrays, messages
on stderr, and progress reported to whoever listens (a page's progress bar)."""

from __future__ import annotations

import contextlib
import sys
import threading

_LISTENERS = threading.local()


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
    for fn in getattr(_LISTENERS, "fns", ()):
        fn(msg, None)


@contextlib.contextmanager
def data_progress(fn):
    """Route this thread's data-loading messages to fn(message, fraction or None), e.g. a
    progress bar in a page: the first decode of a data set (60,000 CIFAR-10 images) takes a
    while and should say so where the user looks."""
    fns = getattr(_LISTENERS, "fns", ())
    _LISTENERS.fns = fns + (fn,)
    try:
        yield
    finally:
        _LISTENERS.fns = fns


def _progress(msg: str, fraction: float) -> None:
    for fn in getattr(_LISTENERS, "fns", ()):
        fn(msg, fraction)


_MEMO: dict = {}


def _memo(key, fn):
    """Process-wide memo of loaded arrays (a dashboard or sweep loads a data set once)."""
    if key not in _MEMO:
        if len(_MEMO) > 16:
            _MEMO.clear()
        _MEMO[key] = fn()
    return _MEMO[key]
