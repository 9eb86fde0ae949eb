"""Backend selection: the compiled ops (``torch.ops.depth3d.*``) or the plain-PyTorch reference.

The compiled library is built/loaded lazily on the first op call (see :mod:`depth3d.ops.build`).
Set ``DEPTH3D_OPS_BACKEND=reference`` to force the reference, ``=compiled`` to make a build failure
an error instead of a warning.
"""

from __future__ import annotations

import os
import warnings

from .reference import ReferenceBackend

_BACKEND = None


def get():
    """The active backend object (loads/builds the compiled ops on first call)."""
    global _BACKEND
    if _BACKEND is None:
        mode = os.environ.get("DEPTH3D_OPS_BACKEND", "auto")
        if mode == "reference":
            _BACKEND = ReferenceBackend()
        else:
            try:
                from . import _compiled
                _BACKEND = _compiled.CompiledBackend()
            except Exception as exc:  # noqa: BLE001 - build failures come in many types
                if mode == "compiled":
                    raise
                warnings.warn(f"depth3d.ops: compiled kernels unavailable ({exc}); using the slow "
                              "plain-PyTorch reference", RuntimeWarning, stacklevel=3)
                _BACKEND = ReferenceBackend()
    return _BACKEND


def name() -> str:
    return get().name
