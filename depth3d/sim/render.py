"""Exact ray-cast rendering of triangle-mesh scenes with Open3D's ``RaycastingScene`` (Embree).

Coordinate frames: world frame is z up, metres. A camera pose ``world_from_camera`` (:class:`Pose`) maps
camera-frame points (x right, y down, z forward) to the world frame.

Two entry points:

* :func:`raycast` (one-shot): builds the Embree scene, casts one frame, returns :class:`RenderResult`.
* :class:`SceneRenderer` (cached): builds the Embree scene ONCE for a :class:`~depth3d.sim.scene.Scene`
  (or a list of meshes) and renders many frames from it, with per-pixel class ids and shaded colour.
  Use it for streams and datasets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
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
    class_id: (H, W) int32 class id of the hit mesh (see ``depth3d.sim.scene.ALL_CLASSES``), -1 where no
        hit or where the renderer was given no class ids.
    albedo: (H, W, 3) float32 surface albedo in 0..1 (per-face colour), 0 where no hit; None if not asked.
    color: (H, W, 3) uint8 RGB shaded image (Lambertian, see :meth:`SceneRenderer.render`); None if not
        asked.
    """

    depth: np.ndarray
    range: np.ndarray
    normals: np.ndarray
    instance: np.ndarray
    points: np.ndarray
    rays: np.ndarray
    class_id: np.ndarray | None = None
    albedo: np.ndarray | None = None
    color: np.ndarray | None = None

    @property
    def hit(self) -> np.ndarray:
        """(H, W) bool: a surface was hit."""
        return self.instance >= 0


def camera_rays(intrinsics: Intrinsics) -> np.ndarray:
    """(H, W, 3) float64 unit ray directions of each pixel centre in the camera frame (distortion applied)."""
    xy = intrinsics.ray_map()
    d = np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


@lru_cache(maxsize=16)
def _camera_rays32(intrinsics: Intrinsics) -> np.ndarray:
    r = camera_rays(intrinsics).astype(np.float32)
    r.setflags(write=False)
    return r


#: default light: direction TOWARDS the light in the world frame (from above, slightly oblique)
DEFAULT_LIGHT = (0.3, -0.2, 1.0)


class SceneRenderer:
    """Ray-caster holding one Embree scene, built once and reused for every frame.

    Args:
        scene: a :class:`~depth3d.sim.scene.Scene`, or a sequence of ``trimesh.Trimesh`` (world frame).
        class_ids: (M,) per-mesh class ids when ``scene`` is a mesh list (default -1).
        nthreads: Embree threads (0 = all cores).

    Per-face albedo comes from the meshes' face colours (mid grey when absent).
    """

    def __init__(self, scene, class_ids: Sequence[int] | None = None, nthreads: int = 0) -> None:
        import open3d as o3d

        from depth3d.sim.objects import face_albedo

        meshes = list(getattr(scene, "meshes", scene))
        if not meshes:
            raise ValueError("SceneRenderer: the scene has no meshes")
        if hasattr(scene, "class_ids") and class_ids is None:
            class_ids = scene.class_ids
        self.meshes = meshes
        self.class_ids = (np.full(len(meshes), -1, np.int32) if class_ids is None
                          else np.asarray(class_ids, dtype=np.int32))
        if len(self.class_ids) != len(meshes):
            raise ValueError(f"SceneRenderer: {len(meshes)} meshes but {len(self.class_ids)} class ids")
        self.nthreads = int(nthreads)
        self._scene = o3d.t.geometry.RaycastingScene(nthreads=self.nthreads) if _has_nthreads_arg() \
            else o3d.t.geometry.RaycastingScene()
        for mesh in meshes:
            v = o3d.core.Tensor(np.ascontiguousarray(mesh.vertices, dtype=np.float32))
            f = o3d.core.Tensor(np.ascontiguousarray(mesh.faces, dtype=np.uint32))
            self._scene.add_triangles(v, f)
        self.face_offsets = np.concatenate([[0], np.cumsum([len(m.faces) for m in meshes])]).astype(np.int64)
        self.face_albedo = np.concatenate([face_albedo(m) for m in meshes]).astype(np.float32)

    # ------------------------------------------------------------------ ray casting
    def cast(self, origins: np.ndarray, directions: np.ndarray) -> dict:
        """Cast world-frame rays. origins, directions: (N, 3) (directions unit length).

        Returns a dict of numpy arrays: ``t_hit`` (N,) float32 (inf where missed), ``geometry_ids`` (N,)
        uint32, ``primitive_ids`` (N,) uint32, ``primitive_normals`` (N, 3) float32 world frame.
        """
        import open3d as o3d

        rays = np.empty((len(directions), 6), dtype=np.float32)
        rays[:, :3] = origins
        rays[:, 3:] = directions
        ans = self._scene.cast_rays(o3d.core.Tensor(rays), nthreads=self.nthreads)
        return {k: ans[k].numpy() for k in ("t_hit", "geometry_ids", "primitive_ids", "primitive_normals")}

    def visible_from(self, points_world: np.ndarray, eye: np.ndarray, eps: float = 2e-3) -> np.ndarray:
        """(N,) bool: each world point (N, 3) is seen unobstructed from the world position ``eye`` (3,)
        (the first surface hit on the ray from ``eye`` lies within ``eps`` metres of the point)."""
        d = np.asarray(points_world, np.float32) - np.asarray(eye, np.float32)
        dist = np.linalg.norm(d, axis=1)
        dist_safe = np.maximum(dist, 1e-9)
        ans = self.cast(np.broadcast_to(np.asarray(eye, np.float32), d.shape), d / dist_safe[:, None])
        return ans["t_hit"] >= dist - eps

    def render(self, intrinsics: Intrinsics, world_from_camera: Pose | None = None,
               rays: np.ndarray | None = None, color: bool = True,
               light: Sequence[float] = DEFAULT_LIGHT, ambient: float = 0.3) -> RenderResult:
        """Render one frame.

        Args:
            intrinsics: camera intrinsics (distortion honoured).
            world_from_camera: camera pose (identity: camera at the origin looking along +z).
            rays: optional (H, W, 3) camera-frame unit rays instead of the pixel rays.
            color: also compute ``albedo`` and the shaded ``color`` image.
            light: world-frame direction towards a distant light; shading is
                ``albedo * (ambient + 0.45 * max(0, n.light) + (0.7 - ambient) * |n.ray|)`` (a distant light
                plus a head-light), gamma 1/2.2, to uint8.
            ambient: ambient term of the shading.
        """
        pose = world_from_camera or Pose.identity()
        dirs_cam = _camera_rays32(intrinsics) if rays is None else np.asarray(rays, dtype=np.float32)
        h, w = dirs_cam.shape[:2]
        R = pose.R.astype(np.float32)
        flat = dirs_cam.reshape(-1, 3)
        dirs_world = _rotate(flat, R)
        ans = self.cast(np.broadcast_to(pose.t.astype(np.float32), dirs_world.shape), dirs_world)
        t_hit = ans["t_hit"]
        hit = np.isfinite(t_hit)
        rng = np.where(hit, t_hit, np.float32(0)).astype(np.float32)
        pts = flat * rng[:, None]
        depth = pts[:, 2].copy()
        geom = ans["geometry_ids"].astype(np.int64)
        geom[~hit] = 0
        instance = np.where(hit, geom, -1).astype(np.int32)
        class_id = np.where(hit, self.class_ids[geom], -1).astype(np.int32)
        n_world = ans["primitive_normals"]
        n_cam = _rotate(n_world, R.T)  # R^T n
        cosr = np.einsum("ij,ij->i", n_cam, flat)
        flip = cosr > 0
        n_cam[flip] *= -1
        n_world[flip] *= -1
        n_cam[~hit] = 0
        albedo = col = None
        if color:
            face = self.face_offsets[geom] + np.where(hit, ans["primitive_ids"], 0).astype(np.int64)
            albedo = self.face_albedo[face]
            albedo[~hit] = 0
            lvec = np.asarray(light, np.float32)
            lvec = lvec / np.linalg.norm(lvec)
            shade = (np.float32(ambient) + np.float32(0.45) * np.maximum(n_world[:, 0] * lvec[0] + n_world[:, 1] * lvec[1] + n_world[:, 2] * lvec[2], 0)
                     + np.float32(0.7 - ambient) * np.abs(cosr))
            lin = np.clip(albedo * shade[:, None], 0, 1)
            col = (np.sqrt(lin) * 255 + 0.5).astype(np.uint8)  # gamma ~ 1/2 (cheap sRGB-like curve)
            col = col.reshape(h, w, 3)
            albedo = albedo.reshape(h, w, 3)
        return RenderResult(depth=depth.reshape(h, w), range=rng.reshape(h, w),
                            normals=n_cam.reshape(h, w, 3), instance=instance.reshape(h, w),
                            points=pts.reshape(h, w, 3), rays=np.asarray(dirs_cam), class_id=class_id.reshape(h, w),
                            albedo=albedo, color=col)


def _rotate(v: np.ndarray, M: np.ndarray) -> np.ndarray:
    """(N, 3) rows ``v`` mapped by the (3, 3) matrix ``M`` (``v @ M.T``) without BLAS: after Open3D's
    parallel ray casting, BLAS threads contend with its spinning workers and a (N, 3) x (3, 3) product
    takes ~100x longer than this einsum."""
    return np.einsum("ij,kj->ik", v, M)


@lru_cache(maxsize=1)
def _has_nthreads_arg() -> bool:
    import open3d as o3d

    try:
        o3d.t.geometry.RaycastingScene(nthreads=1)
        return True
    except TypeError:
        return False


def raycast(meshes: Sequence, intrinsics: Intrinsics, world_from_camera: Pose | None = None,
            rays: np.ndarray | None = None) -> RenderResult:
    """Ray-cast trimesh meshes (world frame) from a camera (one shot; builds the Embree scene each call,
    use :class:`SceneRenderer` to render many frames of one scene).

    Args:
        meshes: sequence of ``trimesh.Trimesh`` (vertices in metres, world frame).
        intrinsics: camera intrinsics (distortion is honoured: each pixel's ray is its undistorted ray).
        world_from_camera: camera pose; identity puts the camera at the world origin looking along +z.
        rays: optional (H, W, 3) camera-frame unit rays to cast instead of the pixel rays.

    Returns:
        :class:`RenderResult` (``class_id`` is -1 everywhere, no colour).
    """
    return SceneRenderer(meshes).render(intrinsics, world_from_camera, rays=rays, color=False)
