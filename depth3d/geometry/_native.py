"""Loader of the CPU geometry kernels (``csrc/geometry_cpu.cpp`` on ``csrc/backproject_voxel.h``): depth
back-projection with colour registration, voxel means, and the two fused in one pass (used by
:mod:`depth3d.capture.pipeline`). Built once with :class:`depth3d.core.native.NativeExtension` into
``depth3d/geometry/_build/<tag>`` (or ``~/.cache/depth3d/geometry/<tag>``). When no compiler is available
the numpy/torch paths are used instead; :func:`available` tells which.
"""

from __future__ import annotations

from pathlib import Path

from depth3d.core.native import NativeExtension

_HERE = Path(__file__).resolve().parent
_ext = NativeExtension("depth3d_geometry_cpu", [_HERE / "csrc" / "geometry_cpu.cpp"], package_dir=_HERE,
                       cache_name="geometry", what="depth3d.geometry: fused CPU kernels",
                       cflags=("-O3", "-fopenmp"), ldflags=("-fopenmp",))


def load(verbose: bool = False):
    """The compiled module, building it on first use; None if it cannot be built (reason in :func:`error`)."""
    return _ext.load(verbose)


def available() -> bool:
    """Whether the compiled kernels can be used."""
    return load() is not None


def error() -> str | None:
    """Why the kernels could not be built, or None."""
    return _ext.error
