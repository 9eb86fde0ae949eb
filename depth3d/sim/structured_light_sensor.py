"""A virtual projector-camera structured-light rig.

A calibrated projector sits beside the camera (default 0.15 m to the right, toed in 4 degrees). For every
camera pixel the hit point ``X`` (ray cast with :class:`depth3d.sim.render.SceneRenderer`) is projected into
the projector; it is lit when it lies inside the projector image and the projector sees it (a ray from the
projector centre reaches ``X`` first -- otherwise it is in the projector's *shadow*). The camera image of
a pattern ``P`` is::

    I = albedo * (ambient + power * max(cos(incidence_p), 0) / d_p^2 * P(u_p, v_p)) + noise

(``d_p`` distance to the projector, ``P`` sampled bilinearly between projector pixel centres -- a slight
defocus), Gaussian noise ``noise`` (grey levels, plus shot-like ``shot * sqrt(I)``), quantised to uint8.
Ground truth: continuous projector column/row per camera pixel, the lit mask, depth and range.
Frames: camera x right, y down, z forward, metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose
from depth3d.structured_light.decode import SLCalibration
from depth3d.structured_light.patterns import PatternSet


def default_calibration(width: int = 640, height: int = 480, proj_width: int = 800, proj_height: int = 600,
                        baseline: float = 0.15, toe_in_deg: float = 4.0, hfov_deg: float = 60.0,
                        proj_hfov_deg: float = 56.0) -> SLCalibration:
    """A camera (``hfov_deg``) and a projector (``proj_hfov_deg``) ``baseline`` metres to its right, rotated
    ``toe_in_deg`` towards the camera axis (about y)."""
    fx = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
    cam = Intrinsics(width, height, fx, fx, (width - 1) / 2, (height - 1) / 2)
    fp = 0.5 * proj_width / np.tan(np.radians(proj_hfov_deg) / 2)
    proj = Intrinsics(proj_width, proj_height, fp, fp, (proj_width - 1) / 2, (proj_height - 1) / 2)
    a = np.radians(toe_in_deg)
    # projector frame axes in the camera frame: rotated by -a about y (z turns towards -x: looks back left)
    R_cp = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])  # camera_from_projector
    C = np.array([baseline, 0.0, 0.0])
    R = R_cp.T
    t = -R @ C
    return SLCalibration(cam, proj, R, t)


@dataclass
class StructuredLightRig:
    """Virtual projector-camera rig; see the module docstring.

    Attributes:
        calibration: camera/projector intrinsics and camera -> projector pose.
        patterns: the :class:`PatternSet` projected (default: 10 Gray bits + 4-step phase shift, columns).
        power: projector brightness: grey levels on a white surface at 1 m, normal incidence.
        ambient: ambient light (grey levels on white).
        noise: Gaussian read noise (grey levels); shot: shot-like noise factor (x sqrt(I)).
    """

    calibration: SLCalibration = field(default_factory=default_calibration)
    patterns: PatternSet = field(default_factory=PatternSet.default)
    power: float = 400.0
    ambient: float = 10.0
    noise: float = 1.5
    shot: float = 0.3

    def __post_init__(self) -> None:
        if (self.patterns.width, self.patterns.height) != (self.calibration.projector.width,
                                                          self.calibration.projector.height):
            raise ValueError(f"pattern set is {self.patterns.width}x{self.patterns.height} but the projector is "
                             f"{self.calibration.projector.width}x{self.calibration.projector.height}")

    def render(self, scene, world_from_camera: Pose | None = None, rng: np.random.Generator | None = None,
               names: list[str] | None = None) -> dict:
        """Render the camera captures of every pattern.

        Args:
            scene: a SceneRenderer, Scene or list of trimesh meshes (world frame).
            world_from_camera: camera pose (identity: camera at the origin looking along +z).
            rng: noise generator (default seeded 0).
            names: render only these patterns (default all).

        Returns:
            dict: ``images`` name -> (H, W) uint8, ``gt_column``/``gt_row`` (H, W) float32 projector pixels
            (NaN where unlit), ``lit`` (H, W) bool (hit, inside the projector image, not in shadow),
            ``shadow`` (H, W) bool (hit and inside the projector frustum but occluded from the projector),
            ``gt_depth`` (H, W) float32 planar metres, ``instance`` (H, W) int32.
        """
        import cv2

        from depth3d.sim.render import SceneRenderer

        renderer = scene if isinstance(scene, SceneRenderer) else SceneRenderer(scene)
        rng = rng or np.random.default_rng(0)
        cal = self.calibration
        pose = world_from_camera or Pose.identity()
        r = renderer.render(cal.camera, pose, color=True)
        h, w = r.depth.shape
        hit = r.instance >= 0
        X = r.points.reshape(-1, 3).astype(np.float64)
        Xp = X @ cal.R.T + cal.t
        with np.errstate(divide="ignore", invalid="ignore"):
            uv, zp = cal.projector.project(Xp)
        up = uv[:, 0].reshape(h, w)
        vp = uv[:, 1].reshape(h, w)
        zp = zp.reshape(h, w)
        inside = hit & (zp > 0) & (up >= -0.5) & (up <= cal.projector.width - 0.5) & \
            (vp >= -0.5) & (vp <= cal.projector.height - 0.5)
        # shadow test: ray from the projector centre to the hit point (world frame)
        C_cam = -cal.R.T @ cal.t
        C_world = pose.transform_points(C_cam[None])[0] if hasattr(pose, "transform_points") else \
            pose.R @ C_cam + pose.t
        P_world = (X @ pose.R.T + pose.t)
        vis = np.zeros(h * w, bool)
        idx = np.nonzero(inside.ravel())[0]
        if idx.size:
            vis[idx] = renderer.visible_from(P_world[idx], C_world, eps=3e-3)
        vis = vis.reshape(h, w)
        lit = inside & vis
        shadow = inside & ~vis
        # irradiance from the projector
        to_p = C_cam[None, None, :] - r.points
        dp = np.linalg.norm(to_p, axis=-1)
        cos_p = np.einsum("hwc,hwc->hw", r.normals, to_p) / np.maximum(dp, 1e-9)
        irr = np.where(lit, self.power * np.maximum(cos_p, 0) / np.maximum(dp, 1e-3) ** 2, 0.0)
        albedo = r.albedo.mean(axis=-1) if r.albedo is not None else np.full((h, w), 0.6)
        albedo = np.where(hit, albedo, 0.0)
        mapx = np.where(lit, up, -10).astype(np.float32)
        mapy = np.where(lit, vp, -10).astype(np.float32)
        images = {}
        profiles = self.patterns.profiles()
        for name in (names or self.patterns.names()):
            axis, prof = profiles[name]
            if axis == "all":
                pat = np.full((h, w), float(prof[0]), np.float32)
            else:
                img1d = prof[None, :] if axis == "col" else prof[:, None]
                coord = mapx if axis == "col" else mapy
                pat = cv2.remap(np.ascontiguousarray(img1d, dtype=np.float32),
                                coord if axis == "col" else np.zeros_like(coord),
                                np.zeros_like(coord) if axis == "col" else coord,
                                cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            val = albedo * (self.ambient + irr * pat)
            val = val + rng.standard_normal(val.shape) * np.sqrt(self.noise ** 2 + self.shot ** 2 * np.maximum(val, 0))
            images[name] = np.clip(np.rint(val), 0, 255).astype(np.uint8)
        gt_col = np.where(lit, up, np.nan).astype(np.float32)
        gt_row = np.where(lit, vp, np.nan).astype(np.float32)
        return {"images": images, "gt_column": gt_col, "gt_row": gt_row, "lit": lit, "shadow": shadow,
                "gt_depth": r.depth, "instance": r.instance}


def checkerboard_mesh(inner_cols: int = 8, inner_rows: int = 6, square: float = 0.04,
                      world_from_board: np.ndarray | None = None, dark: float = 0.25, light: float = 0.9):
    """A flat checkerboard (trimesh, per-face albedo) with ``inner_cols x inner_rows`` inner corners.

    Board frame: corners at ``(i * square, j * square, 0)`` for the inner corners i, j >= 0 (the same as
    :func:`depth3d.structured_light.calibrate.board_object_points`), one extra square of border all round.
    ``world_from_board``: (4, 4) pose (default identity).
    """
    import trimesh

    nc, nr = inner_cols + 1, inner_rows + 1
    verts, faces, cols = [], [], []
    for j in range(-2, nr):
        for i in range(-2, nc):
            x0, y0 = i * square, j * square
            k = len(verts)
            verts += [(x0, y0, 0), (x0 + square, y0, 0), (x0 + square, y0 + square, 0), (x0, y0 + square, 0)]
            faces += [(k, k + 1, k + 2), (k, k + 2, k + 3)]
            border = i < -1 or j < -1 or i >= nc - 1 or j >= nr - 1
            a = light if border or (i + j) % 2 else dark
            cols += [a, a]
    m = trimesh.Trimesh(np.asarray(verts, float), np.asarray(faces), process=False)
    c = (np.asarray(cols) * 255).astype(np.uint8)
    m.visual.face_colors = np.stack([c, c, c, np.full_like(c, 255)], axis=1)
    if world_from_board is not None:
        m.apply_transform(np.asarray(world_from_board, float))
    return m


def simulated_board_views(rig: StructuredLightRig, views: int, inner_cols: int = 8, inner_rows: int = 6,
                          square: float = 0.05, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Projector-camera calibration input from ``views`` simulated checkerboard poses seen by ``rig``.

    Each board (:func:`checkerboard_mesh`) is tilted up to 25 deg about x and y and 10 deg about z, 0.8 to
    1.1 m in front of the camera, poses drawn from ``seed``; view ``k`` renders with noise seed ``k``.

    Returns ``(camera_corners, projector_corners)``: per usable view (board found, every corner decoded)
    (inner_cols * inner_rows, 2) float pixel coordinates in the camera and the projector, ready for
    :func:`depth3d.structured_light.calibrate.calibrate_projector_camera` with
    ``board_object_points(inner_cols, inner_rows, square)``; views that are not usable are left out."""
    from scipy.spatial.transform import Rotation

    from depth3d.structured_light.calibrate import find_board_corners, projector_corners
    from depth3d.structured_light.decode import decode_captures

    ic, ir, sq = inner_cols, inner_rows, square
    rng = np.random.default_rng(seed)
    cams, prjs = [], []
    for k in range(views):
        T = np.eye(4)
        T[:3, :3] = Rotation.from_euler("xyz", [rng.uniform(-25, 25), rng.uniform(-25, 25), rng.uniform(-10, 10)],
                                        degrees=True).as_matrix()
        centre = np.array([(ic - 1) * sq / 2, (ir - 1) * sq / 2, 0])
        T[:3, 3] = np.array([0.07 + rng.uniform(-0.1, 0.1), rng.uniform(-0.08, 0.08), rng.uniform(0.8, 1.1)]) \
            - T[:3, :3] @ centre
        out = rig.render([checkerboard_mesh(ic, ir, sq, T)], rng=np.random.default_rng(k))
        c = find_board_corners(out["images"]["white"], ic, ir)
        if c is None:
            continue
        p, ok = projector_corners(c, decode_captures(out["images"], rig.patterns))
        if ok.all():
            cams.append(c)
            prjs.append(p)
    return cams, prjs
