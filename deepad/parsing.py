"""Reading what people type: lists and ranges of numbers ('1-3, 8', 'all') and method parameters
('gamma=0.5'). One set of rules for the command line, the dashboard and the scripts; errors name
the field (`name`, written as the flag --name on the command line) and say how to write it."""

from __future__ import annotations

import math

from .errors import DeepadError

MAX_RANGE = 1000


def _where(name: str, flag: bool) -> str:
    return f"--{name}" if flag else f"the {name}"


def parse_ints(text, *, name: str = "seeds", allow_all: bool = False, flag: bool = True,
               sort: bool = False) -> list:
    """'1-10' | '0,1,5' | '1-3,8' | 'all' (when allowed, kept as 'all') -> a list without
    repeats, in the order written (sorted with sort=True). Commas or semicolons separate items."""
    out = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if allow_all and part.lower() == "all":
            out.append("all")
            continue
        lo, sep, hi = part.partition("-") if not part.startswith("-") else (part, "", "")
        try:
            a, b = (int(lo), int(hi)) if sep else (int(part), int(part))
        except ValueError:
            raise DeepadError(f"{_where(name, flag)}: cannot read '{part}'; give numbers, ranges "
                              f"like 1-10, or lists like 0,1,5" + (" or 'all'" if allow_all else "")) from None
        if b < a or b - a >= MAX_RANGE:
            raise DeepadError(f"{_where(name, flag)}: the range '{part}' must go up, by fewer than "
                              f"{MAX_RANGE}; e.g. 1-10")
        out.extend(range(a, b + 1))
    if not out:
        raise DeepadError(f"{_where(name, flag)} is empty; give at least one value, e.g. 1 or 1-3")
    out = list(dict.fromkeys(out))
    return sorted(out, key=lambda v: (isinstance(v, str), v if not isinstance(v, str) else 0)) if sort else out


def parse_floats(text, *, name: str, flag: bool = True) -> list[float]:
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if part:
            try:
                v = float(part)
            except ValueError:
                raise DeepadError(f"{_where(name, flag)}: '{part}' is not a number; give e.g. "
                                  f"0,1,2,4") from None
            if not math.isfinite(v):
                raise DeepadError(f"{_where(name, flag)}: '{part}' is not a finite number")
            out.append(v)
    if not out:
        raise DeepadError(f"{_where(name, flag)} is empty; give at least one value")
    return list(dict.fromkeys(out))


def parse_method_params(items, gamma=None) -> dict:
    """NAME=VALUE pairs (and focal's gamma) -> {name: float}; a clear error for anything else."""
    out = {}
    if gamma is not None:
        try:
            out["gamma"] = float(gamma)
        except ValueError:
            raise DeepadError(f"--gamma must be a number, got '{gamma}'") from None
        if not (math.isfinite(out["gamma"]) and out["gamma"] >= 0):
            raise DeepadError(f"--gamma must be a finite number >= 0 (0 is plain BCE), "
                              f"got '{gamma}'")
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise DeepadError(f"--param takes NAME=VALUE (e.g. --param nu=0.1), got '{item}'")
        try:
            v = float(value)
        except ValueError:
            raise DeepadError(f"--param {key} must be a number (flags are 0 or 1), got "
                              f"'{value}'") from None
        if not math.isfinite(v):
            raise DeepadError(f"--param {key} must be a finite number, got '{value}'")
        out[key] = v
    return out
