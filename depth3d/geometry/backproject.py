"""Depth images <-> points, RGB-D -> coloured clouds, depth-to-colour registration.

Frames: camera frame x right, y down, z forward, metres. Depth values are planar z (not range).
Back-projection of pixel (u, v) with depth z: ``p = z * (x_n, y_n, 1)`` where ``(x_n, y_n)`` are the pixel's
undistorted normalised coordinates (:meth:`Intrinsics.ray_map`, distortion honoured).

Every function accepts numpy arrays or torch tensors (CPU or CUDA) and answers in kind; CPU numpy input
goes through a fused multi-threaded C++ kernel when it is built (same float32 arithmetic as the numpy and
torch paths, so all three give identical values).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from depth3d.core.cloud import PointCloud
from depth3d.core.frame import RGBDFrame
from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose
from depth3d.geometry import _native


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


@lru_cache(maxsize=32)
def _rays32(intr: Intrinsics) -> np.ndarray:
    # writable (torch.from_numpy warns on read-only arrays); private: never handed to callers
    return np.ascontiguousarray(intr.ray_map().astype(np.float32))


_torch_rays: dict = {}


def _rays_torch(intr: Intrinsics, device) -> Any:
    import torch

    key = (intr, str(device))
    t = _torch_rays.get(key)
    if t is None:
        t = torch.from_numpy(_rays32(intr).copy()).to(device)
        if len(_torch_rays) > 32:
            _torch_rays.clear()
        _torch_rays[key] = t
    return t


def _no_color() -> tuple:
    """The colour arguments of the native kernels for 'no colour'."""
    import torch

    return torch.empty(0, dtype=torch.uint8), 0, torch.empty(16, dtype=torch.float64)


def _check_depth(depth: Any, intr: Intrinsics, name: str = "depth") -> None:
    from depth3d.core.errors import InputError
    from depth3d.core.validate import check_array

    if not isinstance(intr, Intrinsics):
        raise TypeError(f"intrinsics must be depth3d.core.Intrinsics, got {type(intr).__name__}")
    check_array(depth, f"{name} (an (H, W) image)", ndim=2)
    shape = tuple(depth.shape)
    if shape != (intr.height, intr.width):
        raise InputError(f"{name} is {shape[1]}x{shape[0]} but the intrinsics are {intr.width}x{intr.height}")


def depth_to_points(depth: Any, intrinsics: Intrinsics, depth_scale: float = 1.0, *, min_depth: float = 0.0,
                    max_depth: float = float("inf"), organized: bool = False, return_index: bool = False):
    """Back-project a depth image to 3-D points in the depth camera frame.

    Args:
        depth: (H, W) depth image; uint16/int32 raw units or float32/float64 metres (numpy or torch, any
            device). Invalid pixels are 0 or NaN.
        intrinsics: intrinsics of the depth image (distortion honoured).
        depth_scale: metres per depth unit (0.001 for millimetres; 1.0 for float metres).
        min_depth, max_depth: valid range in metres, exclusive (``min_depth < z < max_depth``).
        organized: if True return ``(points (H, W, 3) float32, valid (H, W) bool)`` with invalid points 0;
            otherwise the valid points only, in row-major pixel order.
        return_index: with ``organized=False``, also return the flat pixel index (N,) int64 of each point.

    Returns:
        points (N, 3) float32 metres, camera frame (x right, y down, z forward) [, index (N,) int64], or
        the organised pair; numpy in, numpy out; torch in, torch out on the same device.
    """
    from depth3d.core.validate import check_number, check_positive

    _check_depth(depth, intrinsics)
    depth_scale = check_positive(depth_scale, "depth_scale (metres per unit)")
    min_depth = check_number(min_depth, "min_depth")
    max_depth = check_number(max_depth, "max_depth")
    if _is_torch(depth):
        return _depth_to_points_torch(depth, intrinsics, depth_scale, min_depth, max_depth, organized, return_index)
    depth = np.asarray(depth)
    if depth.dtype not in (np.uint16, np.int32, np.float32, np.float64):
        raise ValueError(f"depth dtype must be uint16, int32, float32 or float64, got {depth.dtype}")
    rays = _rays32(intrinsics)
    native = _native.load() if not organized else None
    if native is not None:
        import torch

        d = np.ascontiguousarray(depth)
        pts, idx, _ = native.backproject_depth(torch.from_numpy(d), torch.from_numpy(rays), float(depth_scale),
                                               float(min_depth), float(max_depth), bool(return_index),
                                               *_no_color(), True)
        return (pts.numpy(), idx.numpy()) if return_index else pts.numpy()
    z = depth.astype(np.float32) * np.float32(depth_scale)
    with np.errstate(invalid="ignore"):
        valid = (z > np.float32(min_depth)) & (z < np.float32(max_depth))
    if organized:
        zz = np.where(valid, z, np.float32(0))
        pts = np.empty(depth.shape + (3,), np.float32)
        pts[..., 0] = zz * rays[..., 0]
        pts[..., 1] = zz * rays[..., 1]
        pts[..., 2] = zz
        return pts, valid
    index = np.flatnonzero(valid)
    zv = z.reshape(-1)[index]
    r = rays.reshape(-1, 2)[index]
    pts = np.empty((index.size, 3), np.float32)
    pts[:, 0] = zv * r[:, 0]
    pts[:, 1] = zv * r[:, 1]
    pts[:, 2] = zv
    return (pts, index.astype(np.int64)) if return_index else pts


def _depth_to_points_torch(depth, intr, depth_scale, min_depth, max_depth, organized, return_index):
    import torch

    if depth.dtype not in (torch.uint16, torch.int32, torch.float32, torch.float64, torch.int16):
        raise ValueError(f"depth dtype must be uint16, int32, float32 or float64, got {depth.dtype}")
    if depth.device.type == "cpu" and not organized and depth.dtype != torch.int16:
        native = _native.load()
        if native is not None:  # zero-copy into the fused kernel; same arithmetic as below
            pts, idx, _ = native.backproject_depth(depth.contiguous(), torch.from_numpy(_rays32(intr)),
                                                   float(depth_scale), float(min_depth), float(max_depth),
                                                   bool(return_index), *_no_color(), True)
            return (pts, idx) if return_index else pts
    rays = _rays_torch(intr, depth.device)
    z = depth.to(torch.float32) * torch.tensor(depth_scale, dtype=torch.float32, device=depth.device)
    valid = (z > min_depth) & (z < max_depth)
    if organized:
        zz = torch.where(valid, z, torch.zeros((), dtype=z.dtype, device=z.device))
        pts = torch.stack([zz * rays[..., 0], zz * rays[..., 1], zz], dim=-1)
        return pts, valid
    index = torch.nonzero(valid.reshape(-1), as_tuple=False).squeeze(1)
    zv = z.reshape(-1)[index]
    r = rays.reshape(-1, 2)[index]
    pts = torch.stack([zv * r[:, 0], zv * r[:, 1], zv], dim=1)
    return (pts, index) if return_index else pts


def points_to_depth(points: Any, intrinsics: Intrinsics, *, depth_scale: float | None = None) -> Any:
    """Render points (camera frame, metres) into a depth image with a z-buffer (nearest point wins).

    Args:
        points: (N, 3) float points, camera frame (x right, y down, z forward), metres (numpy or torch).
        intrinsics: target camera (distortion honoured: points are projected through the lens model).
        depth_scale: None for a float32 metres image; otherwise metres per unit of a uint16 image
            (values rounded to the nearest unit; depths beyond 65535 units are dropped).

    Returns:
        (H, W) depth, 0 where no point lands; points behind the camera (z <= 0) are ignored. Each point
        lands in the pixel whose centre is nearest to its projection.
    """
    if _is_torch(points):
        import torch

        out = points_to_depth(points.detach().cpu().numpy(), intrinsics, depth_scale=depth_scale)
        return torch.from_numpy(out).to(points.device)
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {p.shape}")
    front = p[:, 2] > 0
    p = p[front]
    uv, z = intrinsics.project(p)
    u = np.rint(uv[:, 0]).astype(np.int64)
    v = np.rint(uv[:, 1]).astype(np.int64)
    inside = (u >= 0) & (u < intrinsics.width) & (v >= 0) & (v < intrinsics.height) & np.isfinite(z)
    u, v, z = u[inside], v[inside], z[inside]
    flat = v * intrinsics.width + u
    zbuf = np.full(intrinsics.width * intrinsics.height, np.inf)
    np.minimum.at(zbuf, flat, z)
    zbuf[~np.isfinite(zbuf)] = 0.0
    depth = zbuf.reshape(intrinsics.height, intrinsics.width)
    if depth_scale is None:
        return depth.astype(np.float32)
    units = np.rint(depth / depth_scale)
    units[units > 65535] = 0
    return units.astype(np.uint16)


def register_depth_to_color(depth: np.ndarray, depth_intrinsics: Intrinsics, color_intrinsics: Intrinsics,
                            depth_to_color: Pose, depth_scale: float = 1.0) -> np.ndarray:
    """Re-render a depth image into the colour camera (the 'align depth to colour' of RGB-D cameras).

    Args:
        depth: (H, W) depth of the depth camera (raw units with ``depth_scale``, or float metres).
        depth_intrinsics, color_intrinsics: the two cameras.
        depth_to_color: pose mapping depth-camera points to the colour-camera frame.
        depth_scale: metres per unit of ``depth``.

    Returns:
        (Hc, Wc) depth in the colour camera, same dtype and units as ``depth``; 0 where nothing lands.
        Occlusions are resolved by a z-buffer (nearest surface wins).
    """
    pts = depth_to_points(depth, depth_intrinsics, depth_scale)
    pts_c = depth_to_color.transform_points(pts)
    if np.asarray(depth).dtype == np.uint16:
        return points_to_depth(pts_c, color_intrinsics, depth_scale=depth_scale)
    return points_to_depth(pts_c, color_intrinsics).astype(np.asarray(depth).dtype)


def align_frame(frame: RGBDFrame, to: str) -> RGBDFrame:
    """An RGB-D frame with both images in one camera (what ``rs.align`` does for a RealSense, for any source
    whose frame carries both cameras' intrinsics and the depth-to-colour pose).

    Args:
        frame: depth (H, W) in the depth camera, colour (Hc, Wc, 3) in the colour camera.
        to: ``"color"``: depth re-rendered into the colour camera (:func:`register_depth_to_color`, z-buffered;
            0 where no depth lands); ``"depth"``: colour sampled at each depth pixel's point (black where the
            point falls outside the colour image or has no depth).
    Returns:
        a new frame with ``color_intrinsics`` None (colour registered to depth) and an identity
        ``depth_to_color``; a frame already registered is returned unchanged.
    Raises:
        InputError: ``to`` is not "color"/"depth", or the frame has no colour image.
    """
    import dataclasses

    from depth3d.core.errors import InputError

    if to not in ("color", "depth"):
        raise InputError(f"align: expected 'color' or 'depth', got {to!r}")
    if frame.color is None:
        raise InputError("align: the frame has no colour image to align with")
    if frame.color_intrinsics is None:
        return frame
    if to == "color":
        depth = register_depth_to_color(frame.depth, frame.depth_intrinsics, frame.color_intrinsics,
                                        frame.depth_to_color, frame.depth_scale)
        return dataclasses.replace(frame, depth=depth, depth_intrinsics=frame.color_intrinsics,
                                   color_intrinsics=None, depth_to_color=Pose.identity())
    h, w = np.asarray(frame.depth).shape[:2]
    pts, pix = depth_to_points(frame.depth, frame.depth_intrinsics, frame.depth_scale, return_index=True)
    color = np.zeros((h, w, 3), np.uint8)
    if len(pts):
        rgb, seen = _sample_colors(frame.color, frame.color_intrinsics, frame.depth_to_color.transform_points(pts))
        flat = color.reshape(-1, 3)
        flat[np.asarray(pix)[seen]] = np.clip(np.rint(rgb[seen] * 255.0), 0, 255).astype(np.uint8)
    return dataclasses.replace(frame, color=color, color_intrinsics=None, depth_to_color=Pose.identity())


def _sample_colors(color: np.ndarray, color_intr: Intrinsics, pts_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colours (N, 3) float32 in 0..1 of colour-camera points, and a mask of points that see the image."""
    uv, z = color_intr.project(pts_c)
    u = np.rint(uv[:, 0]).astype(np.int64)
    v = np.rint(uv[:, 1]).astype(np.int64)
    ok = (z > 0) & (u >= 0) & (u < color_intr.width) & (v >= 0) & (v < color_intr.height)
    cols = np.zeros((len(pts_c), 3), np.float32)
    cols[ok] = color[v[ok], u[ok]].astype(np.float32) / 255.0
    return cols, ok


def rgbd_to_cloud(frame: RGBDFrame, *, min_depth: float = 0.0, max_depth: float = float("inf"),
                  drop_uncoloured: bool = False) -> PointCloud:
    """Coloured point cloud of an RGB-D frame, in the depth camera frame (metres).

    When colour and depth come from different cameras (``frame.registered`` is False), each depth point
    is transformed into the colour camera with ``frame.depth_to_color``, projected through the colour
    intrinsics, and takes the colour of the pixel it lands on. Points outside the colour image get black
    (or are dropped with ``drop_uncoloured``). Occlusion between the two viewpoints is not modelled.

    Returns:
        PointCloud with points (N, 3) float32 and colors (N, 3) float32 in 0..1 (None without colour).
    """
    if not isinstance(frame, RGBDFrame):
        raise TypeError(f"frame must be depth3d.core.RGBDFrame, got {type(frame).__name__}")
    pts, index = depth_to_points(frame.depth, frame.depth_intrinsics, frame.depth_scale, min_depth=min_depth,
                                 max_depth=max_depth, return_index=True)
    if frame.color is None:
        return PointCloud(pts)
    if frame.registered:
        cols = frame.color.reshape(-1, 3)[index].astype(np.float32) * np.float32(1 / 255)
        return PointCloud(pts, cols)
    pts_c = frame.depth_to_color.transform_points(pts)
    cols, ok = _sample_colors(frame.color, frame.color_intrinsics, pts_c)
    if drop_uncoloured:
        return PointCloud(pts[ok], cols[ok])
    return PointCloud(pts, cols)
