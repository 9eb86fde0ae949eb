"""Point clouds that move between numpy, torch (any device) and Open3D."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _check(name: str, arr: Any, n: int | None) -> None:
    from depth3d.core.errors import InputError
    from depth3d.core.validate import check_array

    if arr is None and n is not None:
        return
    check_array(arr, f"PointCloud.{name}", ndim=2, last=3)
    shape = tuple(arr.shape)
    if n is not None and shape[0] != n:
        raise InputError(f"PointCloud.{name} has {shape[0]} rows but points has {n}")


@dataclass
class PointCloud:
    """A point cloud.

    Attributes:
        points: (N, 3) float positions in metres (numpy array or torch tensor; frame as produced, e.g. the
            camera frame x right, y down, z forward).
        colors: (N, 3) float RGB in [0, 1], same library as ``points``, or None.
        normals: (N, 3) float unit normals, or None.

    Conversions share memory where the libraries allow: numpy <-> torch CPU (``torch.from_numpy``),
    numpy -> Open3D tensor (``o3d.core.Tensor.from_numpy`` for contiguous arrays). The legacy
    ``open3d.geometry.PointCloud`` always copies (it stores Eigen vectors).
    """

    points: Any
    colors: Any = None
    normals: Any = None

    def __post_init__(self) -> None:
        _check("points", self.points, None)
        n = self.points.shape[0]
        _check("colors", self.colors, n)
        _check("normals", self.normals, n)

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def is_torch(self) -> bool:
        return _is_torch(self.points)

    def to_numpy(self) -> "PointCloud":
        """Numpy version (no copy for CPU tensors)."""
        def conv(a):
            if a is None or isinstance(a, np.ndarray):
                return a
            return a.detach().cpu().numpy()

        return PointCloud(conv(self.points), conv(self.colors), conv(self.normals))

    def to_torch(self, device: str | Any = "cpu", dtype: Any = None) -> "PointCloud":
        """Torch version on ``device`` (no copy from numpy when device is CPU and dtype is kept)."""
        import torch

        def conv(a):
            if a is None:
                return None
            t = torch.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a
            return t.to(device=device, dtype=dtype or t.dtype)

        return PointCloud(conv(self.points), conv(self.colors), conv(self.normals))

    def to_open3d(self):
        """Legacy ``open3d.geometry.PointCloud`` (float64 copy)."""
        import open3d as o3d

        c = self.to_numpy()
        pcd = o3d.geometry.PointCloud()
        pcd.points = o3d.utility.Vector3dVector(np.asarray(c.points, dtype=np.float64))
        if c.colors is not None:
            pcd.colors = o3d.utility.Vector3dVector(np.clip(np.asarray(c.colors, dtype=np.float64), 0, 1))
        if c.normals is not None:
            pcd.normals = o3d.utility.Vector3dVector(np.asarray(c.normals, dtype=np.float64))
        return pcd

    def to_open3d_tensor(self):
        """``open3d.t.geometry.PointCloud`` sharing memory with contiguous numpy arrays."""
        import open3d as o3d

        c = self.to_numpy()
        pcd = o3d.t.geometry.PointCloud()
        pcd.point.positions = o3d.core.Tensor.from_numpy(np.ascontiguousarray(c.points))
        if c.colors is not None:
            pcd.point.colors = o3d.core.Tensor.from_numpy(np.ascontiguousarray(c.colors))
        if c.normals is not None:
            pcd.point.normals = o3d.core.Tensor.from_numpy(np.ascontiguousarray(c.normals))
        return pcd

    @classmethod
    def from_open3d(cls, pcd) -> "PointCloud":
        """From a legacy or tensor Open3D point cloud (float32 positions from legacy clouds)."""
        if hasattr(pcd, "point"):  # tensor API
            pts = pcd.point.positions.numpy()
            col = pcd.point.colors.numpy() if "colors" in pcd.point else None
            nrm = pcd.point.normals.numpy() if "normals" in pcd.point else None
            return cls(pts, col, nrm)
        pts = np.asarray(pcd.points, dtype=np.float32)
        col = np.asarray(pcd.colors, dtype=np.float32) if pcd.has_colors() else None
        nrm = np.asarray(pcd.normals, dtype=np.float32) if pcd.has_normals() else None
        return cls(pts, col, nrm)

    def select(self, mask_or_index: Any) -> "PointCloud":
        """Subset by boolean mask or integer index (same library as the cloud)."""
        def sel(a):
            return None if a is None else a[mask_or_index]

        return PointCloud(sel(self.points), sel(self.colors), sel(self.normals))

    def transform(self, pose) -> "PointCloud":
        """Apply a :class:`depth3d.core.pose.Pose` (normals rotated)."""
        pts = pose.transform_points(self.points)
        nrm = None
        if self.normals is not None:
            R = pose.R
            if self.is_torch:
                import torch

                R = torch.as_tensor(R, dtype=self.normals.dtype, device=self.normals.device)
            else:
                R = R.astype(self.normals.dtype)
            nrm = self.normals @ R.T
        return PointCloud(pts, self.colors, nrm)
