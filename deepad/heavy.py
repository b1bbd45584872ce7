"""The heavy imports, in one place, loaded on first use.

torch (with torchvision, about 1.5-3 s to import on a 2-core CPU) and deepad's own networks
are only needed to train, score or export (scikit-learn, 1-2 s, only for the OC-SVM baseline;
the metrics and the bundled data do without it). A command that is answered from
the run store (`deepad run` of a stored run, `runs`, `table`, `bundle info`, `methods`,
`datasets`) and a dashboard page that shows stored runs never load them: modules name them
through this module, and the first attribute used (`torch.zeros`, `nets.backbone`) imports the
real module. `tests/test_cli_latency.py` checks that answering a stored run imports none of them.

    from .heavy import torch, nn, F, nets   # lazy modules (nn = torch.nn, F = torch.nn.functional)
    from .heavy import no_grad              # @no_grad: torch.no_grad() entered at call time

Code that subclasses torch.nn.Module at import time belongs in deepad.nets (loaded lazily).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys


def lazy(name: str):
    """The module `name`, imported on the first access to one of its attributes (importlib's
    LazyLoader); the real module if it is imported already. `name` must be a top-level module
    or a submodule whose parents are light (finding a submodule imports its parents)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ImportError(f"No module named '{name}'")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:  # as the import system does: the package's attribute names its submodule
        setattr(sys.modules[parent], child, module)
    return module


class _Submodule:
    """A submodule of a lazy package (torch.nn, torch.nn.functional), imported on first use:
    finding a submodule imports its parents, so LazyLoader cannot defer it."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self):
        return f"<lazy module {self._name}>"


torch = lazy("torch")
nn = _Submodule("torch.nn")
F = _Submodule("torch.nn.functional")
nets = lazy("deepad.nets")


def no_grad(fn):
    """As @torch.no_grad(), without importing torch when the function is defined."""
    @functools.wraps(fn)
    def inner(*args, **kwargs):
        with torch.no_grad():
            return fn(*args, **kwargs)
    return inner


HEAVY = ("torch", "torchvision", "sklearn", "scipy")  # what a cached answer must not load
