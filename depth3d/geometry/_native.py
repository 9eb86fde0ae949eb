"""Loader of the fused CPU geometry kernels (``csrc/geometry_cpu.cpp``), JIT-compiled once and cached.

The build goes to ``depth3d/geometry/_build/<tag>`` (or ``~/.cache/depth3d/geometry/<tag>`` when the
package folder is read-only). When no compiler is available the numpy/torch paths are used instead;
``available()`` tells which.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

_lock = threading.Lock()
_module = None
_error: str | None = None


def _build_dir() -> Path:
    import torch

    tag = f"torch{torch.__version__.replace('+', '_')}"
    here = Path(__file__).resolve().parent / "_build" / tag
    try:
        here.mkdir(parents=True, exist_ok=True)
        if os.access(here, os.W_OK):
            return here
    except OSError:
        pass
    fallback = Path.home() / ".cache" / "depth3d" / "geometry" / tag
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def load(verbose: bool = False):
    """The compiled module, building it on first use; None if it cannot be built (reason in ``error()``)."""
    global _module, _error
    if _module is not None or _error is not None:
        return _module
    with _lock:
        if _module is not None or _error is not None:
            return _module
        if os.environ.get("DEPTH3D_NO_NATIVE"):
            _error = "disabled by DEPTH3D_NO_NATIVE"
            return None
        try:
            import torch  # noqa: F401  (the extension links against libtorch)
            from torch.utils.cpp_extension import load as _load

            src = Path(__file__).resolve().parent / "csrc" / "geometry_cpu.cpp"
            build = _build_dir()
            so = build / "depth3d_geometry_cpu.so"
            if so.is_file() and so.stat().st_mtime >= src.stat().st_mtime:
                # fast path: import the cached build without re-running ninja's up-to-date check
                import importlib.util

                spec = importlib.util.spec_from_file_location("depth3d_geometry_cpu", so)
                _module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(_module)
                return _module
            _module = _load(name="depth3d_geometry_cpu", sources=[str(src)], build_directory=str(build),
                            extra_cflags=["-O3", "-fopenmp"], extra_ldflags=["-fopenmp"], verbose=verbose)
        except Exception as exc:  # compiler missing, headers missing ...
            _error = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"depth3d.geometry: fused CPU kernels unavailable ({_error}); using numpy", stacklevel=2)
    return _module


def available() -> bool:
    return load() is not None


def error() -> str | None:
    return _error
