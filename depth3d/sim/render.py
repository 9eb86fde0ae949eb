"""Exact ray-cast rendering of triangle-mesh scenes with Open3D's ``RaycastingScene`` (Embree).

Coordinate frames: world frame is z up, metres. A camera pose ``world_from_camera`` (:class:`Pose`) maps
camera-frame points (x right, y down, z forward) to the world frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose


@dataclass
class RenderResult:
    """Per-pixel ray-cast output (H, W = intrinsics size).

    depth: (H, W) float32 planar depth z in metres, 0 where no surface is hit.
    range: (H, W) float32 distance along the ray (radial distance) in metres, 0 where no hit.
    normals: (H, W, 3) float32 unit surface normals in the camera frame (facing the camera), 0 where no hit.
    instance: (H, W) int32 index into the mesh list, -1 where no hit.
    points: (H, W, 3) float32 hit points in the camera frame (metres), 0 where no hit.
    rays: (H, W, 3) float32 unit ray directions in the camera frame.
    """

    depth: np.ndarray
    range: np.ndarray
    normals: np.ndarray
    instance: np.ndarray
    points: np.ndarray
    rays: np.ndarray


def camera_rays(intrinsics: Intrinsics) -> np.ndarray:
    """(H, W, 3) float64 unit ray directions of each pixel centre in the camera frame (distortion applied)."""
    xy = intrinsics.ray_map()
    d = np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def raycast(meshes: Sequence, intrinsics: Intrinsics, world_from_camera: Pose | None = None,
            rays: np.ndarray | None = None) -> RenderResult:
    """Ray-cast trimesh meshes (world frame) from a camera.

    Args:
        meshes: sequence of ``trimesh.Trimesh`` (vertices in metres, world frame).
        intrinsics: camera intrinsics (distortion is honoured: each pixel's ray is its undistorted ray).
        world_from_camera: camera pose; identity puts the camera at the world origin looking along +z.
        rays: optional (H, W, 3) camera-frame unit rays to cast instead of the pixel rays.
    """
    import open3d as o3d

    pose = world_from_camera or Pose.identity()
    scene = o3d.t.geometry.RaycastingScene()
    for mesh in meshes:
        v = o3d.core.Tensor(np.asarray(mesh.vertices, dtype=np.float32))
        f = o3d.core.Tensor(np.asarray(mesh.faces, dtype=np.uint32))
        scene.add_triangles(v, f)
    dirs_cam = camera_rays(intrinsics) if rays is None else np.asarray(rays, dtype=np.float64)
    h, w = dirs_cam.shape[:2]
    dirs_world = dirs_cam.reshape(-1, 3) @ pose.R.T
    origins = np.broadcast_to(pose.t, dirs_world.shape)
    o3d_rays = o3d.core.Tensor(np.concatenate([origins, dirs_world], axis=1).astype(np.float32))
    ans = scene.cast_rays(o3d_rays, nthreads=0)
    t_hit = ans["t_hit"].numpy().reshape(h, w)
    hit = np.isfinite(t_hit)
    rng = np.where(hit, t_hit, 0.0).astype(np.float32)
    pts = (dirs_cam * rng[..., None]).astype(np.float32)
    depth = pts[..., 2].copy()
    geom = ans["geometry_ids"].numpy().reshape(h, w).astype(np.int64)
    instance = np.where(hit, geom, -1).astype(np.int32)
    n_world = ans["primitive_normals"].numpy().reshape(h, w, 3).astype(np.float64)
    n_cam = n_world @ pose.R  # R^T n, row-vector form
    flip = np.sum(n_cam * dirs_cam, axis=-1) > 0
    n_cam[flip] *= -1
    n_cam[~hit] = 0
    return RenderResult(depth=depth, range=rng, normals=n_cam.astype(np.float32), instance=instance,
                        points=pts, rays=dirs_cam.astype(np.float32))
