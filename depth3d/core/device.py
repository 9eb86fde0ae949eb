"""Compute-device choice for torch code (models, training, detection)."""

from __future__ import annotations

from depth3d.core.errors import DeviceError

DEVICES = ("cpu", "cuda")


def resolve_device(name: str) -> str:
    """Check that the requested device (``"cpu"`` or ``"cuda"``) is usable and return its name.

    Raises DeviceError (one line, with the torch build) if ``cuda`` is requested but torch has no usable
    CUDA device; torch is imported only for ``cuda``."""
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise DeviceError("--device cuda requested but torch has no usable CUDA device "
                              f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})")
    return name
