"""Loader of the fused CPU geometry kernels (``csrc/geometry_cpu.cpp``), JIT-compiled once and cached.

The build goes to ``depth3d/geometry/_build/<tag>`` (or ``~/.cache/depth3d/geometry/<tag>`` when the
package folder is read-only). When no compiler is available the numpy/torch paths are used instead;
``available()`` tells which.
"""

from __future__ import annotations

from pathlib import Path

from depth3d._jit import JitExtension

_ext = JitExtension("depth3d_geometry_cpu", Path(__file__).resolve().parent / "csrc" / "geometry_cpu.cpp",
                    "geometry", "depth3d.geometry: fused CPU kernels", cflags=("-O3", "-fopenmp"),
                    ldflags=("-fopenmp",))


def load(verbose: bool = False):
    """The compiled module, building it on first use; None if it cannot be built (reason in ``error()``)."""
    return _ext.load(verbose)


def available() -> bool:
    return load() is not None


def error() -> str | None:
    return _ext.error
