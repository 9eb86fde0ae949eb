"""Checkpoints: model, optimiser, scheduler, epoch, best metric, config and RNG states, written atomically."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel/DataParallel wrapper (or ``model`` itself)."""
    return model.module if hasattr(model, "module") and isinstance(
        model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def rng_state() -> dict:
    """Python, numpy, torch (and CUDA when present) RNG states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, *, model: nn.Module, optimizer=None, scheduler=None, epoch: int,
                    config: dict, task: str, best: float | None = None, metrics: dict | None = None,
                    extra: dict | None = None) -> None:
    """Save a checkpoint. ``epoch`` is the number of finished epochs (training resumes at that index)."""
    from depth3d.io.atomic import atomic_write

    ckpt = {
        "format": "depth3d.train/1",
        "task": task,
        "epoch": int(epoch),
        "config": config,
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "best": best,
        "metrics": metrics or {},
        "rng": rng_state(),
        "extra": extra or {},
    }
    with atomic_write(path, "wb") as f:
        torch.save(ckpt, f)


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`; FileNotFoundError/ValueError on bad input."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt files
        raise ValueError(f"checkpoint {path} could not be read: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != "depth3d.train/1":
        raise ValueError(f"{path} is not a depth3d training checkpoint (expected format depth3d.train/1)")
    return ckpt
