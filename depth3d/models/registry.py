"""Classifier factory by name: ``build_classifier("pointnet2_ssg", num_classes=10)``.

The networks are entries of :data:`CLASSIFIER_REGISTRY` (a :class:`depth3d.core.registry.Registry` of
lazily imported classes), so importing this module does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from depth3d.core.registry import Registry

if TYPE_CHECKING:
    import torch.nn as nn

#: classifier name -> class ``(num_classes, in_channels=..., **kwargs) -> nn.Module``
CLASSIFIER_REGISTRY: Registry[type] = Registry("model")
CLASSIFIER_REGISTRY.register("pointnet2_ssg", "depth3d.models.pointnet2.cls:PointNet2ClsSSG",
                             "PointNet++ single-scale grouping")
CLASSIFIER_REGISTRY.register("pointnet2_msg", "depth3d.models.pointnet2.cls:PointNet2ClsMSG",
                             "PointNet++ multi-scale grouping")
CLASSIFIER_REGISTRY.register("pointconv", "depth3d.models.pointconv:PointConvCls", "PointConv")
CLASSIFIER_REGISTRY.register("sonet", "depth3d.models.sonet:SONetCls", "SO-Net")

#: the classifier names, in registration order
CLASSIFIERS: tuple[str, ...] = tuple(CLASSIFIER_REGISTRY.names())


def build_classifier(name: str, num_classes: int, in_channels: int = 0, **kwargs: Any) -> nn.Module:
    """A classification network: points (B, N, 3 + in_channels) -> logits (B, num_classes).

    name: one of :data:`CLASSIFIERS` (an unknown name raises :class:`~depth3d.core.errors.InputError`, a
    ``ValueError``, listing them); kwargs go to the model (e.g. ``dropout``; SO-Net: ``som_iters``, ``k``)."""
    return CLASSIFIER_REGISTRY.get(name)(num_classes, in_channels=in_channels, **kwargs)
