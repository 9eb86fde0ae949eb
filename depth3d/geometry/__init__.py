"""Geometry: depth <-> points, RGB-D -> coloured clouds, voxels, normals and outlier filters."""

from depth3d.geometry.backproject import (align_frame, depth_to_points, points_to_depth, register_depth_to_color,
                                          rgbd_to_cloud)
from depth3d.geometry.voxels import VoxelGrid, VoxelMean, voxel_downsample, voxel_mean, voxelize
from depth3d.geometry.filters import estimate_normals, remove_radius_outliers, remove_statistical_outliers

__all__ = ["align_frame", "depth_to_points", "points_to_depth", "register_depth_to_color", "rgbd_to_cloud", "VoxelGrid",
           "VoxelMean", "voxel_downsample", "voxel_mean", "voxelize", "estimate_normals",
           "remove_radius_outliers", "remove_statistical_outliers"]
