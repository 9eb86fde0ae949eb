"""VoteNet 3D object detection, faithful to facebookresearch/votenet (see :mod:`.checkpoint` for loading
checkpoints, the released ones included).

Names are loaded lazily, so importing :mod:`depth3d.models.votenet.config` (classes, mean sizes, model size
names) does not import torch.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "config": ("DatasetConfig", "sunrgbd_config", "scannet_config", "MODEL_CONFIGS", "small_config",
               "tiny_config", "micro_config"),
    "model": ("VoteNet", "Pointnet2Backbone", "VotingModule", "ProposalModule", "build_votenet",
              "fold_batchnorm"),
    "checkpoint": ("save_checkpoint", "load_votenet", "CheckpointError"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'depth3d.models.votenet' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
