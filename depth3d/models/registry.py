"""Classifier factory by name: ``build_classifier("pointnet2_ssg", num_classes=10)``."""

from __future__ import annotations

from typing import Any

import torch.nn as nn

CLASSIFIERS = ("pointnet2_ssg", "pointnet2_msg", "pointconv", "sonet")


def build_classifier(name: str, num_classes: int, in_channels: int = 0, **kwargs: Any) -> nn.Module:
    """A classification network: points (B, N, 3 + in_channels) -> logits (B, num_classes).

    name: one of :data:`CLASSIFIERS`; kwargs go to the model (e.g. ``dropout``; SO-Net: ``som_iters``, ``k``)."""
    if name == "pointnet2_ssg":
        from depth3d.models.pointnet2.cls import PointNet2ClsSSG as M
    elif name == "pointnet2_msg":
        from depth3d.models.pointnet2.cls import PointNet2ClsMSG as M
    elif name == "pointconv":
        from depth3d.models.pointconv import PointConvCls as M
    elif name == "sonet":
        from depth3d.models.sonet import SONetCls as M
    else:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(CLASSIFIERS)}")
    return M(num_classes, in_channels=in_channels, **kwargs)
