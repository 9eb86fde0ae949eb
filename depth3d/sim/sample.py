"""Synthetic RGB-D sequences (a small ray-cast room with a moving camera) and the bundled sample recording.

``python -m depth3d.sim.sample data/sample.db3`` regenerates ``data/sample.db3`` from the simulator's
``sim:`` source; :func:`synthetic_frames` (a small ray-cast room without furniture, any colour/depth
geometry) serves tests and benchmarks.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator

import numpy as np

from depth3d.core.frame import RGBDFrame
from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose
from depth3d.sim.render import raycast

_PALETTE = np.array([[200, 190, 170], [90, 140, 200], [210, 80, 60], [80, 170, 90], [230, 200, 60]], np.float32)


def _scene():
    import trimesh

    room = trimesh.creation.box(extents=(4.0, 3.0, 6.0))
    room.apply_translation((0.0, -0.3, 2.2))
    room.invert()  # normals inwards: we look at the walls from inside
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.35)
    sphere.apply_translation((-0.5, 0.6, 2.4))
    box = trimesh.creation.box(extents=(0.6, 0.6, 0.6))
    box.apply_translation((0.6, 0.9, 2.8))
    cyl = trimesh.creation.cylinder(radius=0.2, height=1.2)
    cyl.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (1, 0, 0)))
    cyl.apply_translation((0.1, 0.6, 3.6))
    return [room, sphere, box, cyl]


def _look_at(eye: np.ndarray, target: np.ndarray) -> Pose:
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)  # camera y points down (world y is down too)
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    return Pose.from_Rt(np.stack([x, y, z], axis=1), eye)


def synthetic_frames(n: int = 30, width: int = 320, height: int = 240, fps: float = 30.0,
                     depth_scale: float = 0.001, color_size: tuple[int, int] | None = None,
                     baseline: float = 0.0) -> Iterator[RGBDFrame]:
    """Ray-cast frames of a small room seen by a camera sweeping sideways.

    Returns RGBDFrames with uint16 depth (``depth_scale`` m/unit), RGB colour (shaded instance colours
    with a floor checkerboard), timestamps ``i / fps`` s, index ``i``, sensor "sim". With ``color_size``
    or ``baseline`` the colour comes from a second camera ``baseline`` metres to the right (not registered).
    """
    meshes = _scene()
    f = 0.75 * width
    di = Intrinsics(width, height, f, f, (width - 1) / 2, (height - 1) / 2)
    cw, ch = color_size or (width, height)
    ci = Intrinsics(cw, ch, 0.75 * cw, 0.75 * cw, (cw - 1) / 2, (ch - 1) / 2)
    d2c = Pose.from_Rt(np.eye(3), (-baseline, 0.0, 0.0))
    registered = color_size is None and baseline == 0.0
    light = np.array([0.3, -0.6, -0.75])
    light /= np.linalg.norm(light)
    for i in range(n):
        a = (i / max(n - 1, 1) - 0.5) * 0.8
        eye = np.array([1.2 * np.sin(a), -0.2, -0.2 + 0.3 * (1 - np.cos(a))])
        pose = _look_at(eye, np.array([0.0, 0.5, 2.8]))
        r = raycast(meshes, di, pose)
        depth = np.where(r.depth > 0, np.rint(r.depth / depth_scale), 0).clip(0, 65535).astype(np.uint16)
        if registered:
            cr = r
        else:
            cr = raycast(meshes, ci, pose @ d2c.inverse())
        inst = cr.instance
        base = _PALETTE[np.clip(inst, 0, len(_PALETTE) - 1)]
        world = cr.points @ pose.R.T.astype(np.float32) + pose.t.astype(np.float32)
        checker = ((np.floor(world[..., 0] * 2) + np.floor(world[..., 2] * 2)) % 2).astype(np.float32)
        floor = (inst == 0) & (cr.normals[..., 1] < -0.5)
        base = np.where(floor[..., None], base * (0.6 + 0.4 * checker[..., None]), base)
        shade = 0.35 + 0.65 * np.clip(-(cr.normals @ (pose.R.T @ light).astype(np.float32)), 0, 1)
        color = np.where(inst[..., None] >= 0, base * shade[..., None], 0).clip(0, 255).astype(np.uint8)
        yield RGBDFrame(depth=depth, depth_intrinsics=di, color=color, color_intrinsics=None if registered else ci,
                        depth_to_color=d2c, depth_scale=depth_scale, timestamp=i / fps, index=i, sensor="sim")


#: the bundled recording: a walk through simulated room 5 (bed, toilet, desk, dresser, bookshelf, bathtub;
#: the floor stays in view so ``depth3d detect --tilt auto`` levels every frame; exact depth, no sensor noise:
#: noisy frames do not compress and would make the file six times larger)
SAMPLE_SPEC = "sim:room?seed=5&frames=30&width=320&height=240&trajectory=walk&fps=15&noise=none"


def make_sample_recording(path: str | Path, spec: str = SAMPLE_SPEC, frames: int | None = None) -> Path:
    """Write the bundled sample: the frames of the source ``spec`` (default: a walk through a simulated
    room, :data:`SAMPLE_SPEC`) into a librealsense ``.db3`` recording (at most ``frames`` of them)."""
    from depth3d.capture.record import Recorder
    from depth3d.capture.source import open_source

    with open_source(spec) as src, Recorder(path, fps=int(round(float(src.info.get("fps", 30)))),
                                            name="depth3d sample (simulated)") as rec:
        for i, frame in enumerate(src):
            if frames is not None and i >= frames:
                break
            rec.add_frame(frame)
    return Path(path)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="write the bundled sample recording (data/sample.db3)")
    ap.add_argument("output", nargs="?", default="data/sample.db3")
    ap.add_argument("--source", default=SAMPLE_SPEC, help=f"source spec (default {SAMPLE_SPEC})")
    ap.add_argument("--frames", type=int, default=None, help="at most this many frames")
    a = ap.parse_args()
    out = make_sample_recording(a.output, a.source, a.frames)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
