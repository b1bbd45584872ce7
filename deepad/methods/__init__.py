"""The method registry: one module per method, registered by its name.

Adding a method is adding a module with a `Method` subclass and one line in `_MODULES`.
"""

from __future__ import annotations

import importlib

from ..errors import DeepadError
from .base import FAMILIES, Method, MethodInfo

_MODULES = ("hsc", "deep_sad", "bce", "focal", "deep_svdd", "ae", "ocsvm", "itae", "geo", "geo_plus")

REGISTRY: dict[str, type[Method]] = {}
for _mod in _MODULES:
    _m = importlib.import_module(f".{_mod}", __name__)
    for _obj in vars(_m).values():
        # type(), not isinstance(): asking a lazy module (deepad.heavy) its class would load it
        if issubclass(type(_obj), type) and issubclass(_obj, Method) and _obj is not Method:
            REGISTRY[_obj.name] = _obj


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str, preset: str | None = None, **params) -> Method:
    """An instance of method `name` with hyper-parameters `params` (the preset's defaults
    otherwise)."""
    cls = REGISTRY.get(name)
    if cls is None:
        raise DeepadError(f"unknown method '{name}'; choose one of: {', '.join(REGISTRY)}")
    try:
        return cls(preset=preset, **params)
    except ValueError as e:
        raise DeepadError(str(e)) from None


def info(name: str) -> MethodInfo:
    cls = REGISTRY[name]
    return MethodInfo(cls.name, cls.title, cls.family, cls.oe, cls.summary, dict(cls.params))


__all__ = ["REGISTRY", "FAMILIES", "Method", "MethodInfo", "names", "get", "info"]
