"""Checkpoints: model, optimiser, scheduler, position (epoch and step), best metric, metrics history, config
and RNG states, written atomically and read back with ``torch.load(weights_only=True)``.

Everything a checkpoint holds is plain data (tensors, dicts, lists, tuples, numbers, strings, None), so loading
one never runs code from the file: a file that needs more than that (for instance a pickle whose objects would
execute code when rebuilt) is refused with a ValueError naming it.
"""

from __future__ import annotations

import datetime
import random
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn

from depth3d.core.errors import InputError
from depth3d.core.safe_load import load_torch_file

FORMAT = "depth3d.train/2"
#: formats :func:`load_checkpoint` reads ("/1": before step/history were recorded; its RNG state held numpy arrays)
READABLE_FORMATS = ("depth3d.train/1", FORMAT)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel/DataParallel wrapper (or ``model`` itself)."""
    return model.module if hasattr(model, "module") and isinstance(
        model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def to_plain(obj: Any) -> Any:
    """``obj`` with every value made loadable by ``torch.load(weights_only=True)``.

    Dicts (keys made str unless int/str), lists, tuples, tensors, bool/int/float/str/None are kept; numpy
    scalars become Python numbers, numpy arrays tensors, paths and dates strings (as in ``config.yaml``);
    anything else becomes ``str(obj)``."""
    if obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor)):
        return obj
    if isinstance(obj, Mapping):
        return {(k if isinstance(k, (str, int)) else str(k)): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        out = [to_plain(v) for v in obj]
        return out if isinstance(obj, list) else tuple(out)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    return str(obj)


def rng_state() -> dict:
    """Python, numpy, torch (and CUDA when initialised) RNG states, as plain data (lists and tensors)."""
    version, internal, gauss = random.getstate()
    npst = np.random.get_state(legacy=False)
    state = {
        "python": [version, list(internal), gauss],
        "numpy": {"bit_generator": npst["bit_generator"],
                  "key": torch.from_numpy(np.asarray(npst["state"]["key"], dtype=np.int64)),
                  "pos": int(npst["state"]["pos"]), "has_gauss": int(npst["has_gauss"]),
                  "gauss": float(npst["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned (also reads the numpy-array form of format depth3d.train/1)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    if isinstance(n, dict):
        np.random.set_state({"bit_generator": n["bit_generator"],
                             "state": {"key": np.asarray(n["key"], dtype=np.uint32), "pos": int(n["pos"])},
                             "has_gauss": int(n["has_gauss"]), "gauss": float(n["gauss"])})
    else:
        np.random.set_state(tuple(n))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, *, model: nn.Module, optimizer=None, scheduler=None, epoch: int,
                    config: dict, task: str, best: float | None = None, metrics: dict | None = None,
                    extra: dict | None = None, step: int = 0, rng: list | dict | None = None,
                    history: list | None = None, partial: dict | None = None) -> None:
    """Save a checkpoint atomically (a temporary file renamed over ``path``).

    ``epoch``: finished epochs (training resumes in epoch index ``epoch``); ``step``: training batches (global
    batches) already done in that epoch (0: at an epoch boundary); ``rng``: RNG states (one per process, rank
    order; default this process's); ``history``: the per-epoch metric records so far; ``partial``: the running
    metric sums ``{name: [sum, count]}`` of an unfinished epoch."""
    from depth3d.core.atomic import atomic_write

    ckpt = {
        "format": FORMAT,
        "task": task,
        "epoch": int(epoch),
        "step": int(step),
        "config": to_plain(config),
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": to_plain(scheduler.state_dict()) if scheduler is not None else None,
        "best": to_plain(best),
        "metrics": to_plain(metrics or {}),
        "history": to_plain(history or []),
        "partial": to_plain(partial or {}),
        "rng": to_plain(rng if rng is not None else [rng_state()]),
        "extra": to_plain(extra or {}),
    }
    with atomic_write(path, "wb") as f:
        torch.save(ckpt, f)


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    Format depth3d.train/1 files are given ``step`` 0, an empty ``partial`` and ``rng`` as a one-element list;
    they have no ``history``. Raises FileNotFoundError if ``path`` is missing and ValueError if it is
    unreadable, not a depth3d training checkpoint, or holds objects other than plain data (refused:
    rebuilding them could run code)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    ckpt = load_torch_file(path, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") not in READABLE_FORMATS:
        raise InputError(f"{path} is not a depth3d training checkpoint (expected format {FORMAT})")
    ckpt.setdefault("step", 0)
    ckpt.setdefault("partial", {})
    if isinstance(ckpt.get("rng"), dict):  # format /1: rank 0's state only
        ckpt["rng"] = [ckpt["rng"]]
    return ckpt
