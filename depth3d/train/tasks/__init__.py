"""Task modules for ``depth3d train <task>`` / ``depth3d eval <task>``, discovered by name.

Every module ``depth3d/train/tasks/<name>.py`` (not starting with "_") that defines the attributes below is a
task; the CLI finds it without any registration:

    NAME: str                                   # the sub-verb, e.g. "cls" or "det"
    HELP: str                                   # one line for --help
    add_train_arguments(parser) -> None         # task flags (--model, --data, ...); keep imports light
    add_eval_arguments(parser) -> None          # flags of ``depth3d eval NAME`` (optional)
    config_from_args(args) -> dict              # nested config overrides from those flags (skip None)
    make_task() -> depth3d.train.Task           # the Task object (may import torch)
    run_eval(args) -> int                       # ``depth3d eval NAME`` (optional)

Module import must stay cheap (no torch at import time): CLI discovery imports every task module.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def discover() -> dict[str, ModuleType]:
    """{task name: module} for every task module in this package."""
    out: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        name = getattr(mod, "NAME", None)
        if name and hasattr(mod, "make_task"):
            out[name] = mod
    return out
