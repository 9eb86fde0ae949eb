"""Core value types: camera intrinsics, rigid poses, RGB-D frames and point clouds."""

from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose
from depth3d.core.frame import RGBDFrame
from depth3d.core.cloud import PointCloud

__all__ = ["Intrinsics", "Pose", "RGBDFrame", "PointCloud"]
