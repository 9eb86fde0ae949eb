"""Core value types and the small shared utilities every other layer may use (the lowest layer).

Value types (re-exported here): :class:`Intrinsics`, :class:`Pose`, :class:`RGBDFrame`, :class:`PointCloud`.
Utilities (import them from their modules): :mod:`depth3d.core.errors` (``Depth3DError`` and subclasses),
:mod:`depth3d.core.source` (the frame-source interface ``Source``/``SourceError``),
:mod:`depth3d.core.registry` (``Registry``: things chosen by name), :mod:`depth3d.core.device`
(``resolve_device``), :mod:`depth3d.core.atomic` (``atomic_write``/``atomic_path``).
"""

from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose
from depth3d.core.frame import RGBDFrame
from depth3d.core.cloud import PointCloud

__all__ = ["Intrinsics", "Pose", "RGBDFrame", "PointCloud"]
