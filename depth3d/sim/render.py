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


_SHADE_LEVELS = 128
_SHADE_STEP = 0.01

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
        fn = []
        for m in meshes:  # the triangles' own normals (winding order), as Embree reports them
            tri = np.asarray(m.vertices, np.float64)[np.asarray(m.faces)]
            n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
            fn.append(n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30))
        self.face_normals = np.concatenate(fn).astype(np.float32)

    def _colour_lut(self) -> np.ndarray:
        """(F * levels, 3) uint8: tone-mapped colour of each face at each quantised shade level."""
        if getattr(self, "_lut", None) is None:
            levels = (np.arange(_SHADE_LEVELS, dtype=np.float32) * np.float32(_SHADE_STEP))[None, :, None]
            lin = np.clip(self.face_albedo[:, None, :] * levels, 0, 1)
            self._lut = (np.sqrt(lin) * 255 + 0.5).astype(np.uint8).reshape(-1, 3)
        return self._lut

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
                plus a head-light), then a square-root tone curve (gamma ~1/2) to uint8 (through a per-face
                lookup table over shade levels 0.01 apart).
            ambient: ambient term of the shading.

        Speed: pixel rays come from Open3D's ``create_rays_pinhole`` (undistorted intrinsics) or a cached
        per-intrinsics table, scaled so that the hit distance IS the planar depth; per-pixel normals,
        albedo and light come from one gather in a per-face table transformed once per frame.
        """
        import open3d as o3d

        pose = world_from_camera or Pose.identity()
        R = pose.R.astype(np.float32)
        if rays is None:
            unit = _camera_rays32(intrinsics)
            h, w = unit.shape[:2]
            if not intrinsics.distorted:
                K = intrinsics.K.copy()
                K[0, 2] += 0.5  # Open3D casts through (u + 0.5, v + 0.5); ours through pixel centres (u, v)
                K[1, 2] += 0.5
                o3d_rays = self._scene.create_rays_pinhole(o3d.core.Tensor(K), o3d.core.Tensor(
                    pose.inverse().matrix), w, h).reshape((h * w, 6))
            else:
                z1 = _camera_rays_z1(intrinsics).reshape(-1, 3)
                buf = np.empty((h * w, 6), np.float32)
                buf[:, :3] = pose.t
                buf[:, 3:] = _rotate(z1, R)
                o3d_rays = o3d.core.Tensor.from_numpy(buf)
            planar = True  # ray directions have camera z = 1: t_hit is the planar depth
        else:
            unit = np.asarray(rays, dtype=np.float32)
            h, w = unit.shape[:2]
            buf = np.empty((h * w, 6), np.float32)
            buf[:, :3] = pose.t
            buf[:, 3:] = _rotate(unit.reshape(-1, 3), R)
            o3d_rays = o3d.core.Tensor.from_numpy(buf)
            planar = False
        ans = self._scene.cast_rays(o3d_rays, nthreads=self.nthreads)
        t_hit = ans["t_hit"].numpy()
        hit = np.isfinite(t_hit)
        t = np.where(hit, t_hit, np.float32(0))
        flat = unit.reshape(-1, 3)
        if planar:
            depth = t
            rng = t * _ray_norm_z1(intrinsics).reshape(-1)
            pts = _camera_rays_z1(intrinsics).reshape(-1, 3) * depth[:, None]
        else:
            rng = t
            pts = flat * t[:, None]
            depth = pts[:, 2].copy()
        geom = ans["geometry_ids"].numpy().astype(np.int64)
        geom[~hit] = 0
        face = self.face_offsets[geom] + ans["primitive_ids"].numpy()
        face[~hit] = 0
        instance = np.where(hit, geom, -1).astype(np.int32)
        class_id = np.where(hit, self.class_ids[geom], -1).astype(np.int32)
        # per-face tables for this frame (F triangles, cheap), then per-pixel gathers
        fn_cam = _rotate(self.face_normals, R.T)  # (F, 3): R^T n (small: F triangles)
        all_hit = bool(hit.all())
        n_cam = np.take(fn_cam, face, axis=0)
        cosr = np.einsum("ij,ij->i", n_cam, flat)
        sign = np.where(cosr > 0, np.float32(-1), np.float32(1))  # make normals face the camera
        if not all_hit:
            sign[~hit] = 0
        n_cam *= sign[:, None]
        albedo = col = None
        if color:
            lvec = np.asarray(light, np.float64)
            lvec = (lvec / np.linalg.norm(lvec)).astype(np.float32)
            nl = np.take(_rotate(self.face_normals, lvec[None, :])[:, 0], face)
            albedo = np.take(self.face_albedo, face, axis=0)
            if not all_hit:
                albedo[~hit] = 0
            shade = (np.float32(ambient) + np.float32(0.45) * np.maximum(nl * sign, 0)
                     + np.float32(0.7 - ambient) * np.abs(cosr))
            # colour = sqrt(clip(albedo * shade)) from a per-face lookup table over quantised shade levels
            # (step 0.01: at most half a level of 255 off), one uint8 gather instead of float maths per pixel
            lvl = np.minimum((shade * np.float32(1.0 / _SHADE_STEP) + np.float32(0.5)).astype(np.int64),
                             _SHADE_LEVELS - 1)
            col = np.take(self._colour_lut(), face * _SHADE_LEVELS + lvl, axis=0).reshape(h, w, 3)
            if not all_hit:
                col.reshape(-1, 3)[~hit] = 0
            albedo = albedo.reshape(h, w, 3)
        return RenderResult(depth=depth.reshape(h, w), range=rng.reshape(h, w),
                            normals=n_cam.reshape(h, w, 3), instance=instance.reshape(h, w),
                            points=pts.reshape(h, w, 3), rays=unit, class_id=class_id.reshape(h, w),
                            albedo=albedo, color=col)


@lru_cache(maxsize=16)
def _camera_rays_z1(intrinsics: Intrinsics) -> np.ndarray:
    """(H, W, 3) float32 pixel rays scaled to camera z = 1 (x/z, y/z, 1)."""
    xy = intrinsics.ray_map()
    r = np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], axis=-1).astype(np.float32)
    r.setflags(write=False)
    return r


@lru_cache(maxsize=16)
def _ray_norm_z1(intrinsics: Intrinsics) -> np.ndarray:
    """(H, W) float32 length of the z = 1 rays (range = depth * this)."""
    xy = intrinsics.ray_map()
    r = np.sqrt(1.0 + xy[..., 0] ** 2 + xy[..., 1] ** 2).astype(np.float32)
    r.setflags(write=False)
    return r


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


def sim_target_views(scheme: str, target: str, seed: int, frames: int, **demo_kwargs) -> tuple[SceneRenderer,
                                                                                                 list[Pose]]:
    """The renderer and camera poses of a simulated sensor source's target (``tof:``/``sl:`` ``demo``/``sim``).

    ``demo``: :func:`~depth3d.sim.scene.demo_scene` (``seed``, ``demo_kwargs``) seen ``frames`` times from
    the identity pose; ``sim``: the room :func:`~depth3d.sim.scene.generate_room` (``seed``) along an
    ``orbit`` trajectory of ``frames`` poses (world from camera, metres).

    Raises InputError naming ``scheme`` for any other target."""
    check_sim_target(scheme, target)
    from depth3d.sim.scene import demo_scene, generate_room
    from depth3d.sim.trajectory import make_trajectory

    if target == "demo":
        return SceneRenderer(demo_scene(seed, **demo_kwargs)), [Pose.identity()] * frames
    scene = generate_room(seed)
    return SceneRenderer(scene), make_trajectory(scene, "orbit", frames)


def check_sim_target(scheme: str, target: str) -> None:
    """Raise InputError unless ``target`` is ``sim`` or ``demo`` (the simulated ``scheme:`` source's targets)."""
    if target not in ("sim", "demo"):
        from depth3d.core.errors import InputError

        raise InputError(f"simulated {scheme} source: target must be 'sim' or 'demo', got {target!r}")
