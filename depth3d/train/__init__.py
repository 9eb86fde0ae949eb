"""depth3d.train: a generic trainer (config, seeds, progress, logs, plots, checkpoints/resume, torchrun/DDP)
driven by small task objects (:class:`Task`). Task modules live in :mod:`depth3d.train.tasks`; the CLI verbs
``depth3d train <task>`` and ``depth3d eval <task>`` are discovered from there.

Names are loaded lazily so that importing the package (e.g. by CLI discovery) does not import torch.
"""

from __future__ import annotations

__all__ = ["Task", "StepOutput", "Trainer", "TRAINER_DEFAULTS"]


def __getattr__(name: str):
    if name in ("Task", "StepOutput"):
        from depth3d.train import task

        return getattr(task, name)
    if name in ("Trainer", "TRAINER_DEFAULTS"):
        from depth3d.train import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'depth3d.train' has no attribute {name!r}")
