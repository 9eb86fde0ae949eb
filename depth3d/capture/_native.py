"""Loader of the streaming kernels (``csrc/stream_cpu.cpp``), JIT-compiled once and cached beside the
package (or in ``~/.cache/depth3d/capture``); None when no compiler is available (numpy paths are used)."""

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
    fallback = Path.home() / ".cache" / "depth3d" / "capture" / tag
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def load():
    """The compiled module (built on first use) or None (reason in :func:`error`)."""
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
            import torch  # noqa: F401
            from torch.utils.cpp_extension import load as _load

            src = Path(__file__).resolve().parent / "csrc" / "stream_cpu.cpp"
            build = _build_dir()
            so = build / "depth3d_stream_cpu.so"
            if so.is_file() and so.stat().st_mtime >= src.stat().st_mtime:
                import importlib.util

                spec = importlib.util.spec_from_file_location("depth3d_stream_cpu", so)
                _module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(_module)
                return _module
            _module = _load(name="depth3d_stream_cpu", sources=[str(src)], build_directory=str(build),
                            extra_cflags=["-O3"], verbose=False)
        except Exception as exc:
            _error = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"depth3d.capture: streaming kernels unavailable ({_error}); using numpy", stacklevel=2)
    return _module


def error() -> str | None:
    return _error
