"""Normals and outlier removal through Open3D's tensor API (the legacy API is avoided on purpose)."""

from __future__ import annotations

from typing import Any

import numpy as np

from depth3d.core.cloud import PointCloud


def estimate_normals(cloud: PointCloud, radius: float = 0.05, max_nn: int = 30,
                     camera_location: tuple[float, float, float] | None = (0.0, 0.0, 0.0)) -> PointCloud:
    """Cloud with unit normals from a hybrid radius/kNN neighbourhood (metres).

    Normals are oriented towards ``camera_location`` (camera frame origin by default); None leaves
    Open3D's arbitrary orientation.
    """
    if len(cloud) == 0:
        return PointCloud(cloud.to_numpy().points, cloud.to_numpy().colors, np.zeros((0, 3), np.float32))
    pcd = cloud.to_numpy().to_open3d_tensor()
    pcd.estimate_normals(max_nn=max_nn, radius=radius)
    if camera_location is not None:
        import open3d as o3d

        pcd.orient_normals_towards_camera_location(o3d.core.Tensor(np.asarray(camera_location, np.float32)))
    n = pcd.point.normals.numpy().astype(np.float32)
    c = cloud.to_numpy()
    return PointCloud(c.points, c.colors, n)


def _open3d_outlier_filter(cloud: PointCloud, method: str, *args: Any) -> tuple[PointCloud, np.ndarray]:
    """(kept cloud, kept mask (N,) bool) of Open3D's tensor point-cloud filter ``method``(*args)."""
    c = cloud.to_numpy()
    if len(c) == 0:
        return c, np.zeros(0, bool)
    _, mask = getattr(c.to_open3d_tensor(), method)(*args)
    keep = mask.numpy().astype(bool)
    return c.select(keep), keep


def remove_statistical_outliers(cloud: PointCloud, nb_neighbors: int = 20, std_ratio: float = 2.0,
                                ) -> tuple[PointCloud, np.ndarray]:
    """Drop points whose mean neighbour distance is over ``std_ratio`` standard deviations above average.

    Returns (filtered cloud, kept mask (N,) bool)."""
    return _open3d_outlier_filter(cloud, "remove_statistical_outliers", nb_neighbors, std_ratio)


def remove_radius_outliers(cloud: PointCloud, nb_points: int = 8, radius: float = 0.05,
                           ) -> tuple[PointCloud, np.ndarray]:
    """Drop points with fewer than ``nb_points`` neighbours within ``radius`` metres. Returns (cloud, mask)."""
    return _open3d_outlier_filter(cloud, "remove_radius_outliers", nb_points, radius)
