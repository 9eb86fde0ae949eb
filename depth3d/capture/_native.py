"""Loader of the streaming kernels (``csrc/stream_cpu.cpp``), JIT-compiled once and cached beside the
package (or in ``~/.cache/depth3d/capture``); None when no compiler is available (numpy paths are used)."""

from __future__ import annotations

from pathlib import Path

from depth3d._jit import JitExtension

_ext = JitExtension("depth3d_stream_cpu", Path(__file__).resolve().parent / "csrc" / "stream_cpu.cpp", "capture",
                    "depth3d.capture: streaming kernels", cflags=("-O3", "-fopenmp"), ldflags=("-fopenmp",))


def load():
    """The compiled module (built on first use) or None (reason in :func:`error`)."""
    return _ext.load()


def error() -> str | None:
    return _ext.error
