"""The per-frame streaming work: RGB-D frame -> coloured point cloud (colour registered to the depth
points) -> voxel down-sampled cloud, fast enough for live cameras.

Alignment here is the cheap direction: each valid depth pixel is back-projected, moved into the colour
camera with ``frame.depth_to_color``, projected, and takes that colour pixel (what ``rs.pointcloud`` with
``map_to(color)`` does). It needs no z-buffer and touches each depth pixel once. The work runs in
depth3d.geometry's C++ kernels (back-projection, voxel mean, and the two fused in one pass over the image;
JIT-built on first use); without a compiler, or for distorted colour cameras, it falls back to
:func:`depth3d.geometry.rgbd_to_cloud` and :func:`depth3d.geometry.voxel_downsample`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from depth3d.core.cloud import PointCloud
from depth3d.core.frame import RGBDFrame
from depth3d.core.intrinsics import Intrinsics


@lru_cache(maxsize=8)
def _rays(intr: Intrinsics):
    import torch

    return torch.from_numpy(np.ascontiguousarray(intr.ray_map(), dtype=np.float32))


def _cam_params(frame: RGBDFrame):
    import torch

    ci = frame.color_intrinsics
    p = np.empty(16, np.float64)
    p[:4] = (ci.fx, ci.fy, ci.cx, ci.cy)
    p[4:13] = frame.depth_to_color.R.ravel()
    p[13:] = frame.depth_to_color.t
    return torch.from_numpy(p)


class StreamPipeline:
    """Frame -> (voxel down-sampled) coloured cloud.

    Args:
        voxel_size: voxel edge in metres, or None for the full cloud.
        min_depth, max_depth: valid depth range in metres (exclusive).
        native: use the fused C++ kernel when it can be built (default True).

    :meth:`cloud` returns a :class:`~depth3d.core.cloud.PointCloud` with (N, 3) float32 points in metres,
    depth camera frame (x right, y down, z forward), and (N, 3) float32 colours in 0..1 (None without
    colour; black for points outside the colour image). Voxel output: one point per occupied voxel (mean
    position and colour), voxels in order of first appearance in the image (row-major).
    """

    def __init__(self, voxel_size: float | None = None, min_depth: float = 0.0, max_depth: float = float("inf"),
                 native: bool = True) -> None:
        if voxel_size is not None and not voxel_size > 0:
            raise ValueError(f"voxel_size must be positive metres or None, got {voxel_size!r}")
        self.voxel_size = voxel_size
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self._native = None
        if native:
            from depth3d.geometry import _native

            self._native = _native.load()

    def _can_fuse(self, frame: RGBDFrame) -> bool:
        if self._native is None or frame.depth.dtype != np.uint16:
            return False
        return frame.color is None or frame.registered or not frame.color_intrinsics.distorted

    def points(self, frame: RGBDFrame, color: bool = True):
        """Stage 1 (align + cloud): (points (N, 3) float32, colours (N, 3) float32 or None) of valid pixels."""
        if not self._can_fuse(frame):
            from depth3d.geometry import rgbd_to_cloud

            if not color:
                from depth3d.geometry import depth_to_points

                return depth_to_points(frame.depth, frame.depth_intrinsics, frame.depth_scale,
                                       min_depth=self.min_depth, max_depth=self.max_depth), None
            c = rgbd_to_cloud(frame, min_depth=self.min_depth, max_depth=self.max_depth)
            return c.points, c.colors
        import torch

        mode = 0 if (frame.color is None or not color) else (1 if frame.registered else 2)
        col = torch.from_numpy(np.ascontiguousarray(frame.color)) if mode else torch.empty(0, dtype=torch.uint8)
        cam = _cam_params(frame) if mode == 2 else torch.empty(16, dtype=torch.float64)
        # on the calling thread (parallel=False): per frame it never waits for other threads
        pts, _, cols = self._native.backproject_depth(torch.from_numpy(frame.depth), _rays(frame.depth_intrinsics),
                                                      float(frame.depth_scale), self.min_depth, self.max_depth,
                                                      False, col, mode, cam, False)
        return pts.numpy(), (cols.numpy() if mode else None)

    def downsample(self, points: np.ndarray, colors: np.ndarray | None) -> PointCloud:
        """Stage 2 (voxel): mean point and colour per voxel (or the input when ``voxel_size`` is None)."""
        if self.voxel_size is None:
            return PointCloud(points, colors)
        if self._native is None:
            from depth3d.geometry import voxel_downsample

            return voxel_downsample(PointCloud(points, colors), self.voxel_size)
        import torch

        pts = np.ascontiguousarray(points, np.float32)
        vals = np.ascontiguousarray(colors, np.float32) if colors is not None else np.empty((len(pts), 0), np.float32)
        # first-appearance order (sorted=False), like the fused kernel of cloud(); no point->voxel map
        _, p, c, _, _ = self._native.voxel_mean(torch.from_numpy(pts), torch.from_numpy(vals),
                                                float(self.voxel_size), torch.zeros(3, dtype=torch.float64), False,
                                                False)
        return PointCloud(p.numpy(), c.numpy() if colors is not None else None)

    def cloud(self, frame: RGBDFrame) -> PointCloud:
        """Both stages; with the native kernel and a voxel size, fused into one pass over the image in
        cache-sized blocks of rows (same result as ``downsample(*points(frame))``)."""
        if self.voxel_size is None or not self._can_fuse(frame):
            return self.downsample(*self.points(frame))
        import torch

        mode = 0 if frame.color is None else (1 if frame.registered else 2)
        col = torch.from_numpy(np.ascontiguousarray(frame.color)) if mode else torch.empty(0, dtype=torch.uint8)
        cam = _cam_params(frame) if mode == 2 else torch.empty(16, dtype=torch.float64)
        p, c = self._native.rgbd_voxel(torch.from_numpy(frame.depth), _rays(frame.depth_intrinsics),
                                       float(frame.depth_scale), self.min_depth, self.max_depth, col, mode, cam,
                                       float(self.voxel_size))
        return PointCloud(p.numpy(), c.numpy() if mode else None)
