"""The one reader of torch files (checkpoints, weights) that users hand to depth3d.

Every ``.pt``/``.pth``/``.tar`` file is opened with ``torch.load(..., weights_only=True)``: tensors,
numbers, strings and containers are rebuilt, nothing else. A file whose pickle asks for any other global
(a class to instantiate, a function to call: the way a crafted file runs code) is refused with an
:class:`UnsafeFileError` naming the file and the global it needed, before any of it runs. The only extra
globals allowed are numpy's array and scalar rebuilders, which build data and call nothing else: older
depth3d training checkpoints keep numpy RNG states in them.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

from depth3d.core.errors import InputError

__all__ = ["UnsafeFileError", "load_torch_file"]


class UnsafeFileError(InputError):
    """A torch file that would need arbitrary code to load; refused unread."""


def _numpy_data_globals() -> list:
    """numpy's array/scalar rebuilders (data only, they run no user code)."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    kinds = (np.bool_, np.uint8, np.int32, np.int64, np.uint32, np.uint64, np.float16, np.float32, np.float64)
    return [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype,
            *{type(np.dtype(k)) for k in kinds}]


def load_torch_file(path: str | Path, map_location: Any = "cpu", what: str = "checkpoint") -> Any:
    """The object stored in the torch file ``path``, read with ``weights_only=True``.

    Args:
        path: a file written by ``torch.save`` (zip or legacy pickle format).
        map_location: as for ``torch.load`` (default: tensors on the CPU).
        what: how to call the file in messages ("checkpoint", "weights", ...).
    Raises:
        InputError: the file is missing or is not a readable torch file (one line naming it).
        UnsafeFileError: the file needs globals other than plain data to load (nothing of it has run).
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {p} does not exist" if not p.exists() else f"{what} {p} is not a file")
    try:
        with torch.serialization.safe_globals(_numpy_data_globals()):
            return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt or unsafe files
        msg = str(exc)
        if "Weights only load failed" in msg or "WeightsUnpickler" in msg or isinstance(exc, pickle.UnpicklingError):
            m = re.search(r"GLOBAL (\S+)", msg) or re.search(r"WeightsUnpickler error: ([^\n.]*)", msg)
            if m is not None or "Weights only load failed" in msg:
                need = f" (it needs {m.group(1)})" if m else ""
                raise UnsafeFileError(
                    f"{what} {p} was refused: it holds objects other than tensors, numbers, strings and "
                    f"containers{need}, and loading them could run code") from None
        first = msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__
        raise InputError(f"{what} {p} is not a readable torch file ({first})") from None
