"""Voxel down-sampling and occupancy grids.

Voxel ``(i, j, k)`` covers ``origin + [i, i+1) * size`` along x (likewise y, z); coordinates are
``floor((p - origin) / size)``. Results are ordered by voxel coordinate (x, then y, then z), so the numpy,
C++ and torch (CPU/CUDA) paths return the same voxels in the same order; per-voxel means are accumulated in
float64 and agree to float32 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from depth3d.core.cloud import PointCloud
from depth3d.geometry import _native


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _check_points(points: Any, name: str = "points") -> None:
    from depth3d.core.errors import InputError
    from depth3d.core.validate import all_finite, check_array

    check_array(points, name, ndim=2, last=3)
    if not all_finite(points):
        raise InputError(f"{name} contain NaN or inf; drop them before voxelising (e.g. keep "
                         f"points[np.isfinite(points).all(1)])")


def _check_size(voxel_size: float) -> float:
    v = float(voxel_size)
    if not v > 0 or not np.isfinite(v):
        raise ValueError(f"voxel_size must be a positive number of metres, got {voxel_size!r}")
    return v


@dataclass
class VoxelMean:
    """Per-voxel means.

    coords: (V, 3) int64 voxel coordinates; points: (V, 3) float32 mean position (metres);
    values: (V, C) float32 mean of the per-point values (e.g. colours) or None; counts: (V,) int64 points per
    voxel; point_to_voxel: (N,) int64 voxel of each input point.
    """

    coords: Any
    points: Any
    values: Any
    counts: Any
    point_to_voxel: Any


def voxel_mean(points: Any, voxel_size: float, values: Any = None, origin: Any = (0.0, 0.0, 0.0)) -> VoxelMean:
    """Group points by voxel and average positions (and optional per-point values) in each voxel.

    Args:
        points: (N, 3) float points in metres (numpy, or torch on any device).
        voxel_size: voxel edge in metres.
        values: optional (N, C) float per-point values to average (colours, normals ...).
        origin: (3,) corner of voxel (0, 0, 0) in metres.
    """
    _check_points(points)
    size = _check_size(voxel_size)
    if values is not None and (values.ndim != 2 or values.shape[0] != points.shape[0]):
        raise ValueError(f"values must have shape (N, C) with N = {points.shape[0]}, got {tuple(values.shape)}")
    if _is_torch(points):
        return _voxel_mean_torch(points, size, values, origin)
    origin64 = np.asarray(origin, dtype=np.float64).reshape(3)
    pts = np.ascontiguousarray(points, dtype=np.float32)
    vals = np.zeros((len(pts), 0), np.float32) if values is None else np.ascontiguousarray(values, np.float32)
    native = _native.load()
    if native is not None:
        import torch

        c, p, v, n, p2v = native.voxel_mean(torch.from_numpy(pts), torch.from_numpy(vals), size,
                                            torch.from_numpy(origin64.copy()), True, True)
        return VoxelMean(c.numpy(), p.numpy(), None if values is None else v.numpy(), n.numpy(), p2v.numpy())
    coords = np.floor((pts.astype(np.float64) - origin64) / size).astype(np.int64)
    uniq, p2v, counts = np.unique(coords, axis=0, return_inverse=True, return_counts=True)
    p2v = p2v.reshape(-1)
    sums = np.zeros((len(uniq), 3 + vals.shape[1]))
    np.add.at(sums, p2v, np.concatenate([pts, vals], axis=1).astype(np.float64))
    means = (sums / counts[:, None]).astype(np.float32)
    return VoxelMean(uniq, means[:, :3], None if values is None else means[:, 3:], counts.astype(np.int64), p2v)


def _voxel_mean_torch(points, size, values, origin) -> VoxelMean:
    import torch

    dev = points.device
    o = torch.as_tensor(origin, dtype=torch.float64, device=dev).reshape(3)
    coords = torch.floor((points.to(torch.float64) - o) / size).to(torch.int64)
    uniq, p2v, counts = torch.unique(coords, dim=0, return_inverse=True, return_counts=True)
    data = points.to(torch.float64)
    if values is not None:
        data = torch.cat([data, values.to(torch.float64)], dim=1)
    sums = torch.zeros((uniq.shape[0], data.shape[1]), dtype=torch.float64, device=dev).index_add_(0, p2v, data)
    means = (sums / counts[:, None]).to(torch.float32)
    return VoxelMean(uniq, means[:, :3], None if values is None else means[:, 3:], counts, p2v)


def voxel_downsample(cloud: PointCloud | Any, voxel_size: float, origin: Any = (0.0, 0.0, 0.0)) -> PointCloud:
    """One point per occupied voxel: the mean of its points (and of their colours and normals).

    Args:
        cloud: a :class:`PointCloud` or (N, 3) points (numpy or torch), metres.
        voxel_size: voxel edge in metres.
    Returns:
        PointCloud with (V, 3) float32 points (normals re-normalised), ordered by voxel coordinate.
    """
    if not isinstance(cloud, PointCloud):
        from depth3d.core.validate import check_array

        check_array(cloud, "cloud", ndim=2, last=3)  # a PointCloud or (N, 3) points
        cloud = PointCloud(cloud)
    parts = [a for a in (cloud.colors, cloud.normals) if a is not None]
    values = None
    if parts:
        values = (__import__("torch").cat(parts, 1) if cloud.is_torch else np.concatenate(parts, axis=1))
    vm = voxel_mean(cloud.points, voxel_size, values, origin)
    colors = normals = None
    col = 0
    if cloud.colors is not None:
        colors = vm.values[:, 0:3]
        col = 3
    if cloud.normals is not None:
        n = vm.values[:, col:col + 3]
        norm = (n.norm(dim=1, keepdim=True) if cloud.is_torch else np.linalg.norm(n, axis=1, keepdims=True))
        normals = n / (norm + 1e-12)
    return PointCloud(vm.points, colors, normals)


@dataclass
class VoxelGrid:
    """An occupancy grid.

    coords: (V, 3) int64 occupied voxel coordinates (sparse form), sorted; counts: (V,) points per voxel;
    voxel_size: metres; origin: (3,) float64 corner of voxel (0, 0, 0); colors: (V, 3) mean colour or None.
    """

    coords: np.ndarray
    counts: np.ndarray
    voxel_size: float
    origin: np.ndarray
    colors: np.ndarray | None = None

    def dense(self) -> tuple[np.ndarray, np.ndarray]:
        """(occupancy (X, Y, Z) bool, min_coord (3,) int64): the dense grid over the occupied bounding box."""
        if len(self.coords) == 0:
            return np.zeros((0, 0, 0), bool), np.zeros(3, np.int64)
        lo = self.coords.min(axis=0)
        shape = tuple(self.coords.max(axis=0) - lo + 1)
        if int(np.prod(shape)) > 512 ** 3:
            raise ValueError(f"dense grid of shape {shape} is too large; use the sparse coords")
        grid = np.zeros(shape, bool)
        c = self.coords - lo
        grid[c[:, 0], c[:, 1], c[:, 2]] = True
        return grid, lo

    def centers(self) -> np.ndarray:
        """(V, 3) float64 voxel centres in metres."""
        return self.origin + (self.coords + 0.5) * self.voxel_size

    def to_open3d(self):
        """``open3d.geometry.VoxelGrid`` with the same voxels (colour = mean colour or grey)."""
        import open3d as o3d

        pcd = o3d.geometry.PointCloud()
        pcd.points = o3d.utility.Vector3dVector(self.centers())
        cols = self.colors if self.colors is not None else np.full((len(self.coords), 3), 0.6)
        pcd.colors = o3d.utility.Vector3dVector(np.asarray(cols, dtype=np.float64))
        lo = self.origin + self.coords.min(axis=0) * self.voxel_size if len(self.coords) else self.origin
        hi = self.origin + (self.coords.max(axis=0) + 1) * self.voxel_size if len(self.coords) else self.origin
        return o3d.geometry.VoxelGrid.create_from_point_cloud_within_bounds(
            pcd, self.voxel_size, np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))


def voxelize(cloud: PointCloud | Any, voxel_size: float, origin: Any = (0.0, 0.0, 0.0)) -> VoxelGrid:
    """Occupancy grid of a cloud (numpy result; torch input is moved to the CPU)."""
    if not isinstance(cloud, PointCloud):
        from depth3d.core.validate import check_array

        check_array(cloud, "cloud", ndim=2, last=3)  # a PointCloud or (N, 3) points
        cloud = PointCloud(cloud)
    cloud = cloud.to_numpy()
    vm = voxel_mean(cloud.points, voxel_size, cloud.colors, origin)
    return VoxelGrid(np.asarray(vm.coords), np.asarray(vm.counts), float(voxel_size),
                     np.asarray(origin, dtype=np.float64).reshape(3), vm.values)
