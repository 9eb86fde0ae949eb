"""Argument checks for the public API: a wrong type is a TypeError, a wrong shape, dtype or value an
:class:`~depth3d.core.errors.InputError` (a ValueError); both name the argument and what was expected."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from depth3d.core.errors import InputError


def is_tensor(x: Any) -> bool:
    """True for a torch tensor (without importing torch)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "shape") and hasattr(x, "dtype")


def check_array(x: Any, name: str, *, ndim: int | None = None, last: int | None = None,
                kind: str = "real") -> None:
    """Check that ``x`` is a numpy array or torch tensor with ``ndim`` dimensions, a last axis of ``last``
    and a dtype of ``kind``: "real" (integer or floating point, not bool or complex) or "any".

    Raises TypeError (not an array: None, a list, ...) or InputError (shape or dtype), naming ``name``."""
    want = f"{ndim}-D" if ndim is not None else "an"
    if last is not None and ndim == 2:
        want = f"(N, {last})"
    if not (isinstance(x, np.ndarray) or is_tensor(x)):
        raise TypeError(f"{name} must be a numpy array or torch tensor {want}, got {type(x).__name__}")
    shape = tuple(x.shape)
    if (ndim is not None and len(shape) != ndim) or (last is not None and (not shape or shape[-1] != last)):
        raise InputError(f"{name} must have shape {want}, got {shape}")
    if kind == "real":
        if isinstance(x, np.ndarray):
            ok = np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
        else:
            ok = not (x.dtype.is_complex or str(x.dtype) == "torch.bool")
        if not ok:
            raise InputError(f"{name} must hold real numbers (integer or float), got {x.dtype}")


def all_finite(x: Any) -> bool:
    """True when every element of a numpy array or torch tensor is finite."""
    if is_tensor(x):
        import torch

        return bool(torch.isfinite(x).all()) if x.is_floating_point() else True
    x = np.asarray(x)
    return bool(np.isfinite(x).all()) if np.issubdtype(x.dtype, np.floating) else True


def check_positive(value: Any, name: str, *, allow_inf: bool = False) -> float:
    """``value`` as a float if it is a number > 0 (finite unless ``allow_inf``); else InputError/TypeError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if math.isnan(v) or v <= 0 or (math.isinf(v) and not allow_inf):
        raise InputError(f"{name} must be a positive{'' if allow_inf else ' finite'} number, got {value!r}")
    return v


def check_number(value: Any, name: str, *, allow_inf: bool = True) -> float:
    """``value`` as a float if it is a number that is not NaN (and finite unless ``allow_inf``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise InputError(f"{name} must be a {'' if allow_inf else 'finite '}number, got {value!r}")
    return v


def apply_overrides(config: Any, overrides: dict[str, Any], what: str) -> Any:
    """Set each ``overrides`` attribute on ``config`` (a settings dataclass, changed in place) and return it.

    Raises TypeError naming the option for one ``config`` has no field for (``what`` names the settings,
    e.g. ``"matcher"``)."""
    for k, v in overrides.items():
        if not hasattr(config, k):
            raise TypeError(f"unknown {what} option {k!r}")
        setattr(config, k, v)
    return config


def read_json_file(path: str | Path, what: str) -> Any:
    """The parsed JSON of ``path``. Raises FileNotFoundError (``what`` names the file's role) when it is not a
    file and ValueError naming it when it is not valid JSON."""
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
