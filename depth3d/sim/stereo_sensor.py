"""Virtual active stereo camera (RealSense D435-like) with exact ground-truth depth.

The sensor renders an already rectified left/right pair: two identical pinhole cameras (no distortion),
the right one shifted by ``baseline`` along the left camera's +x axis, so a point at depth Z has
disparity ``d = fx * baseline / Z`` exactly. Images are rendered with the lead's ray caster
(:func:`depth3d.sim.render.raycast`), supersampled (``supersample`` x ``supersample`` rays per pixel,
box-averaged) so that sub-pixel disparity is meaningful.

Appearance (all view-independent, so both cameras see the same surface brightness):

* ``mode="ir"``: an active IR projector at ``projector_offset`` (default midway between the cameras, as on
  the D435) casts a pseudo-random dot pattern. The pattern is a function of the ray direction from the
  projector (a "projector at camera" pattern), evaluated at every hit point, so it is glued to the scene
  and consistent in both views. Plus a weak ambient term times the surface albedo.
* ``mode="color"``: procedural surface texture (multi-scale value noise in world coordinates, tinted per
  mesh), lit by a Lambertian term from the projector position.
* Projector shadows are not modelled (the projector is 25 mm from each camera).

Defaults (stated): 640x480, baseline 50 mm (D435), horizontal field of view 87 deg (the D435's IR
imagers at 16:10; at 4:3 the same fx gives ~ 87 x 70 deg), fx = fy = 320 / tan(43.5 deg) = 337.2 px.
``hfov_deg`` can be narrowed (e.g. 58 deg) for more disparity per metre.

Coordinate frames: camera x right, y down, z forward, metres; ``world_from_left`` places the left camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose


@dataclass
class StereoSensorConfig:
    """Virtual stereo camera settings (see the module docstring for the defaults' origin)."""

    width: int = 640
    height: int = 480
    hfov_deg: float = 87.0
    baseline: float = 0.050
    mode: str = "ir"  # "ir" (projected dots) or "color" (textured surfaces)
    projector_offset: float | None = None  # projector x in the left camera frame; None = baseline / 2
    dot_spacing_px: float = 3.5  # mean distance between projected dots, in camera pixels
    dot_fill: float = 0.85  # fraction of pattern cells holding a dot
    ambient: float = 0.25
    noise_std: float = 1.0  # grey levels of Gaussian sensor noise (0 = none)
    supersample: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("ir", "color"):
            raise ValueError(f"stereo sensor mode must be 'ir' or 'color', got {self.mode!r}")
        if not (0 < self.hfov_deg < 179):
            raise ValueError(f"hfov_deg must be in (0, 179), got {self.hfov_deg}")
        if self.baseline <= 0:
            raise ValueError(f"baseline must be positive (metres), got {self.baseline}")


@dataclass
class StereoPair:
    """One rendered stereo pair.

    left, right: (H, W) uint8 IR images (mode "ir") or (H, W, 3) uint8 BGR (mode "color"), rectified.
    depth: (H, W) float32 exact planar depth of the left camera in metres (0 where nothing is hit).
    disparity: (H, W) float32 exact disparity fx * B / depth (0 where nothing is hit).
    instance: (H, W) int32 mesh index per left pixel (-1 = none).
    intrinsics: of both cameras; baseline: metres; world_from_left: the left camera's pose.
    """

    left: np.ndarray
    right: np.ndarray
    depth: np.ndarray
    disparity: np.ndarray
    instance: np.ndarray
    intrinsics: Intrinsics
    baseline: float
    world_from_left: Pose = field(default_factory=Pose.identity)


def _hash2(ix: np.ndarray, iy: np.ndarray, seed: int, k: int) -> np.ndarray:
    """Deterministic pseudo-random floats in [0, 1) from integer lattice coordinates."""
    h = (ix.astype(np.int64) * 73856093) ^ (iy.astype(np.int64) * 19349663) ^ ((seed * 83492791 + k * 2654435761)
                                                                                & 0x7FFFFFFF)
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    return ((h & 0xFFFFFF).astype(np.float64)) / float(0x1000000)


def dot_pattern(u: np.ndarray, v: np.ndarray, cell: float, fill: float = 0.85, seed: int = 0) -> np.ndarray:
    """Projected dot intensity in [0, 1] at projector-plane coordinates (u, v) = (x/z, y/z).

    One dot per ``cell`` x ``cell`` lattice cell (with probability ``fill``), jittered, Gaussian profile
    (sigma = 0.22 cell), random brightness 0.5..1. Any shape of u, v (float64).
    """
    gu, gv = u / cell, v / cell
    cu, cv = np.floor(gu), np.floor(gv)
    out = np.zeros(np.shape(u), np.float64)
    sig2 = 2 * 0.22 ** 2
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            ix, iy = cu + dx, cv + dy
            present = _hash2(ix, iy, seed, 0) < fill
            px = ix + 0.15 + 0.7 * _hash2(ix, iy, seed, 1)
            py = iy + 0.15 + 0.7 * _hash2(ix, iy, seed, 2)
            b = 0.5 + 0.5 * _hash2(ix, iy, seed, 3)
            r2 = (gu - px) ** 2 + (gv - py) ** 2
            out = np.maximum(out, np.where(present, b * np.exp(-r2 / sig2), 0.0))
    return out


def value_noise(p: np.ndarray, scale: float, seed: int = 0, octaves: int = 4) -> np.ndarray:
    """Smooth 3-D value noise in [0, 1] at world points p (..., 3), finest feature ``scale`` metres."""
    total = np.zeros(p.shape[:-1])
    amp_sum = 0.0
    for o in range(octaves):
        s = scale * (2.0 ** (octaves - 1 - o))
        q = p / s
        i = np.floor(q)
        f = q - i
        f = f * f * (3 - 2 * f)
        acc = 0.0
        for cx in (0, 1):
            for cy in (0, 1):
                for cz in (0, 1):
                    ix, iy, iz = i[..., 0] + cx, i[..., 1] + cy, i[..., 2] + cz
                    r = _hash2(ix + 7919 * iz, iy - 104729 * iz, seed, 10 + o)
                    w = ((f[..., 0] if cx else 1 - f[..., 0]) * (f[..., 1] if cy else 1 - f[..., 1])
                         * (f[..., 2] if cz else 1 - f[..., 2]))
                    acc = acc + w * r
        amp = 0.6 ** o
        total += amp * acc
        amp_sum += amp
    return total / amp_sum


class StereoSensor:
    """Render rectified active-stereo pairs of trimesh scenes.

    Example::

        sensor = StereoSensor(StereoSensorConfig(hfov_deg=87))
        pair = sensor.render(meshes, world_from_left=Pose.identity())
        pair.left, pair.right, pair.depth   # uint8 IR, uint8 IR, float32 metres
    """

    def __init__(self, config: StereoSensorConfig | None = None, **overrides) -> None:
        from depth3d.core.validate import apply_overrides

        cfg = apply_overrides(config or StereoSensorConfig(), overrides, "stereo sensor")
        cfg.__post_init__()
        self.config = cfg
        f = (cfg.width / 2.0) / np.tan(np.radians(cfg.hfov_deg) / 2.0)
        self.intrinsics = Intrinsics(cfg.width, cfg.height, f, f, (cfg.width - 1) / 2.0, (cfg.height - 1) / 2.0)
        self._rng = np.random.default_rng(cfg.seed)

    @property
    def baseline(self) -> float:
        return self.config.baseline

    def calibration(self):
        """The sensor as a :class:`~depth3d.stereo.calibration.StereoCalibration` (metres, rectified)."""
        from depth3d.stereo.calibration import StereoCalibration

        K = self.intrinsics.K
        return StereoCalibration.from_extrinsics(
            K, np.zeros(5), K, np.zeros(5), np.eye(3), np.array([-self.baseline, 0.0, 0.0]),
            (self.config.width, self.config.height), alpha=-1,
            board={"kind": "synthetic", "sensor": "depth3d.sim.stereo_sensor", "hfov_deg": self.config.hfov_deg},
            rms=0.0)

    def _shade(self, res, world_from_cam: Pose, world_from_proj: Pose, colors: Sequence | None) -> np.ndarray:
        """(h, w) or (h, w, 3) float radiance in [0, 1] of one supersampled render."""
        cfg = self.config
        hit = res.instance >= 0
        pts_w = world_from_cam.transform_points(res.points.reshape(-1, 3).astype(np.float64)).reshape(
            res.points.shape)
        proj_from_world = world_from_proj.inverse()
        pp = proj_from_world.transform_points(pts_w.reshape(-1, 3)).reshape(pts_w.shape)
        n_w = res.normals.reshape(-1, 3).astype(np.float64) @ world_from_cam.R.T
        to_light = world_from_proj.t[None, :] - pts_w.reshape(-1, 3)
        to_light /= np.linalg.norm(to_light, axis=1, keepdims=True) + 1e-12
        lambert = np.abs(np.sum(n_w * to_light, axis=1)).reshape(hit.shape)
        inst = np.clip(res.instance, 0, None)
        if cfg.mode == "ir":
            z = np.where(hit, pp[..., 2], 1.0)
            z = np.where(np.abs(z) < 1e-6, 1e-6, z)
            cell = cfg.dot_spacing_px / self.intrinsics.fx
            dots = dot_pattern(pp[..., 0] / z, pp[..., 1] / z, cell, cfg.dot_fill, cfg.seed)
            albedo = 0.55 + 0.45 * value_noise(pts_w, 0.05, cfg.seed + 1, 3)
            if colors is not None:
                tint = np.array([np.mean(c) / 255.0 if c is not None else 0.8 for c in colors])
                albedo = albedo * (0.5 + 0.5 * tint[inst])
            rad = albedo * (cfg.ambient + (1 - cfg.ambient) * lambert * dots)
        else:
            tex = value_noise(pts_w, 0.01, cfg.seed + 2, 4)
            if colors is not None:
                tints = np.array([np.asarray(c if c is not None else (200, 200, 200), np.float64)[:3] / 255.0
                                  for c in colors])
            else:
                tints = 0.35 + 0.65 * np.stack([_hash2(np.arange(64), np.zeros(64), cfg.seed, k) for k in (4, 5, 6)],
                                               axis=1)
            tint = tints[inst % len(tints)]
            rad = (0.25 + 0.75 * tex)[..., None] * tint * (0.35 + 0.65 * lambert)[..., None]
            rad = rad[..., ::-1]  # RGB -> BGR (OpenCV order)
        rad = np.where(hit[..., None] if rad.ndim == 3 else hit, rad, 0.0)
        return rad

    def render(self, meshes: Sequence, world_from_left: Pose | None = None,
               colors: Sequence | None = None) -> StereoPair:
        """Render the rectified pair and the exact left depth.

        Args:
            meshes: ``trimesh.Trimesh`` objects in world coordinates (metres).
            world_from_left: pose of the left camera (identity: world = left camera frame).
            colors: optional per-mesh RGB (0..255) tints.
        """
        import cv2

        from depth3d.sim.render import raycast

        cfg = self.config
        pose_l = world_from_left or Pose.identity()
        pose_r = pose_l @ Pose.from_Rt(np.eye(3), np.array([cfg.baseline, 0.0, 0.0]))
        off = cfg.baseline / 2 if cfg.projector_offset is None else cfg.projector_offset
        pose_p = pose_l @ Pose.from_Rt(np.eye(3), np.array([off, 0.0, 0.0]))
        ss = max(int(cfg.supersample), 1)
        hi = self.intrinsics.scaled(ss) if ss > 1 else self.intrinsics
        images = []
        for pose in (pose_l, pose_r):
            res = raycast(meshes, hi, pose)
            rad = self._shade(res, pose, pose_p, colors)
            img = (rad * 255.0).astype(np.float32)
            if ss > 1:
                img = cv2.resize(img, (cfg.width, cfg.height), interpolation=cv2.INTER_AREA)
            if cfg.noise_std > 0:
                img = img + self._rng.normal(0.0, cfg.noise_std, img.shape).astype(np.float32)
            images.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
        gt = raycast(meshes, self.intrinsics, pose_l)
        depth = gt.depth.astype(np.float32)
        disp = np.zeros_like(depth)
        np.divide(np.float32(self.intrinsics.fx * cfg.baseline), depth, out=disp, where=depth > 0)
        return StereoPair(images[0], images[1], depth, disp, gt.instance, self.intrinsics, cfg.baseline, pose_l)


# ------------------------------------------------------------------------------------------ test scenes
def plane_mesh(depth: float, size: float = 20.0, tilt_deg: float = 0.0, axis: str = "y"):
    """A square plane facing the camera at ``depth`` metres (camera = world frame), tilted about ``axis``."""
    import trimesh

    h = size / 2
    v = np.array([[-h, -h, 0], [h, -h, 0], [h, h, 0], [-h, h, 0]], np.float64)
    a = np.radians(tilt_deg)
    if axis == "y":
        R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    else:
        R = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    v = v @ R.T + np.array([0, 0, depth])
    return trimesh.Trimesh(v, np.array([[0, 1, 2], [0, 2, 3]]), process=False)


def box_mesh(center: Sequence[float], extents: Sequence[float], yaw_deg: float = 0.0):
    """An axis-aligned (then rotated about the camera's y axis) box, camera = world frame."""
    import trimesh

    m = trimesh.creation.box(extents=extents)
    a = np.radians(yaw_deg)
    T = np.eye(4)
    T[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    T[:3, 3] = center
    m.apply_transform(T)
    return m


def test_scene(seed: int = 0, far: float = 3.2) -> list:
    """Boxes at 0.5-3 m in front of a back wall at ``far`` metres and a floor 0.8 m below the camera.

    Camera frame = world frame (x right, y down, z forward). Returns a list of ``trimesh.Trimesh``.
    """
    rng = np.random.default_rng(seed)
    meshes = [plane_mesh(far, size=30.0), ]
    import trimesh

    floor = trimesh.Trimesh(np.array([[-8, 0.8, 0.2], [8, 0.8, 0.2], [8, 0.8, far], [-8, 0.8, far]], np.float64),
                            np.array([[0, 2, 1], [0, 3, 2]]), process=False)
    meshes.append(floor)
    for z in (0.6, 0.9, 1.3, 1.8, 2.4):
        x = rng.uniform(-0.5, 0.5) * z
        s = 0.12 * z + 0.05
        meshes.append(box_mesh((x, rng.uniform(-0.2, 0.3) * z, z), (s, s, s), rng.uniform(-40, 40)))
    return meshes
