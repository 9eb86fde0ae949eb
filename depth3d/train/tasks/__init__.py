"""Task modules for ``depth3d train <task>`` / ``depth3d eval <task>``, chosen by name from :data:`TASKS`.

A task is a module ``depth3d/train/tasks/<name>.py`` defining the attributes below, registered in
:data:`TASKS` (a :class:`depth3d.core.registry.Registry`) under its ``NAME``; the CLI builds one sub-verb per
entry:

    NAME: str                                   # the sub-verb, e.g. "cls" or "det"
    HELP: str                                   # one line for --help
    add_train_arguments(parser) -> None         # task flags (--model, --data, ...); keep imports light
    add_eval_arguments(parser) -> None          # flags of ``depth3d eval NAME`` (optional)
    config_from_args(args) -> dict              # nested config overrides from those flags (skip None)
    make_task() -> depth3d.train.Task           # the Task object (may import torch)
    run_eval(args) -> int                       # ``depth3d eval NAME`` (optional)

Module import must stay cheap (no torch at import time): the CLI imports every task module.
"""

from __future__ import annotations

from types import ModuleType

from depth3d.core.registry import Registry
from depth3d.train.tasks import cls, det

#: task name -> task module
TASKS: Registry[ModuleType] = Registry("training task")
for _mod in (cls, det):
    TASKS.register(_mod.NAME, _mod, _mod.HELP)


def discover() -> dict[str, ModuleType]:
    """{task name: module} for every registered task, in registration order."""
    return {name: TASKS.get(name) for name in TASKS}
