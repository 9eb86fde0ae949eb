"""Synthetic single-view scans of furnished rooms for training and testing VoteNet, written in VoteNet's
SUN RGB-D layout (``{idx:06d}_pc.npz`` / ``_bbox.npy`` / ``_votes.npz``; see
:mod:`depth3d.datasets.votenet_detection`).

Each scene: a floor, two walls, and 2-6 objects of the ten SUN RGB-D classes, each built from boxes with
a class-typical structure (bed with headboard, table top on four legs, chair with seat, legs and back,
open bookshelf, hollow bathtub, ...) and sizes jittered around VoteNet's class mean sizes, at random
positions and headings without overlap. A depth camera (default 160 x 120, ~62 deg horizontal field of
view) at 1.0-1.6 m height, pitched down 10-30 deg, is ray-cast with :func:`depth3d.sim.render.raycast`
(Open3D), the hits are rotated into the upright depth frame (x right, y forward, z up, camera at the
origin) and Gaussian noise (sigma 5 mm) is added. Boxes keep their labels only when at least
``min_points`` points fall inside them.

This generator exists because the simulator issue's scans were not on main when VoteNet was trained; the
simulator writes the same layout, so the dataset classes read both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depth3d.models.votenet.config import SUNRGBD_CLASSES, SUNRGBD_MEAN_SIZE


def _part(parts, lo, hi):
    parts.append((np.asarray(lo, float), np.asarray(hi, float)))


def object_parts(cls: str, size: np.ndarray, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Axis-aligned sub-boxes (lo, hi) in the object's local frame (l along x, w along y, z up, centred,
    bottom at -h/2) making up an object of class ``cls`` and full size (l, w, h)."""
    l, w, h = size / 2
    t = 0.04
    p: list = []
    if cls == "bed":
        _part(p, [-l, -w, -h], [l, w, -h + 1.1 * h * 0.5])
        _part(p, [-l, -w, -h], [-l + 0.08, w, h])
    elif cls in ("table", "desk"):
        _part(p, [-l, -w, h - t], [l, w, h])
        if cls == "table":
            for sx in (-1, 1):
                for sy in (-1, 1):
                    _part(p, [sx * (l - 0.03) - 0.03, sy * (w - 0.03) - 0.03, -h], [sx * (l - 0.03) + 0.03, sy * (w - 0.03) + 0.03, h - t])
        else:
            for sy in (-1, 1):
                _part(p, [-l, sy * w - (t if sy > 0 else 0), -h], [l, sy * w + (0 if sy > 0 else t), h - t])
            _part(p, [-l, -w, -h], [-l + t, w, h - t])
    elif cls == "sofa":
        _part(p, [-l, -w, -h], [l, w, -h + 0.9 * h])
        _part(p, [-l, -w, -h], [-l + 0.25 * 2 * l, w, h])
        for sy in (-1, 1):
            _part(p, [-l, sy * w - (0.15 if sy > 0 else 0), -h], [l, sy * w + (0 if sy > 0 else 0.15), -h + 1.3 * h])
    elif cls == "chair":
        _part(p, [-l, -w, -0.05], [l, w, 0.0])
        for sx in (-1, 1):
            for sy in (-1, 1):
                _part(p, [sx * (l - 0.03) - 0.02, sy * (w - 0.03) - 0.02, -h], [sx * (l - 0.03) + 0.02, sy * (w - 0.03) + 0.02, -0.05])
        _part(p, [-l, -w, 0.0], [-l + 0.05, w, h])
    elif cls == "toilet":
        _part(p, [-l, -0.7 * w, -h], [l, 0.7 * w, -h + 1.1 * h])
        _part(p, [-l, -w, -h], [-l + 0.35 * l, w, h])
    elif cls in ("dresser", "night_stand"):
        _part(p, [-l, -w, -h], [l, w, h])
    elif cls == "bookshelf":
        _part(p, [-l, -w, -h], [-l + t, w, h])
        for sy in (-1, 1):
            _part(p, [-l, sy * w - (t if sy > 0 else 0), -h], [l, sy * w + (0 if sy > 0 else t), h])
        for z in np.linspace(-h, h - t, 5):
            _part(p, [-l, -w, z], [l, w, z + t])
    elif cls == "bathtub":
        _part(p, [-l, -w, -h], [l, w, -h + 0.1])
        for sx in (-1, 1):
            _part(p, [sx * l - (0.08 if sx > 0 else 0), -w, -h], [sx * l + (0 if sx > 0 else 0.08), w, h])
        for sy in (-1, 1):
            _part(p, [-l, sy * w - (0.08 if sy > 0 else 0), -h], [l, sy * w + (0 if sy > 0 else 0.08), h])
    else:
        raise ValueError(f"unknown class {cls!r}")
    return p


def _mesh_from_parts(parts, center, heading):
    import trimesh

    c, s = np.cos(-heading), np.sin(-heading)
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = center
    meshes = []
    for lo, hi in parts:
        ext = np.maximum(hi - lo, 1e-3)
        local = np.eye(4)
        local[:3, 3] = (lo + hi) / 2
        meshes.append(trimesh.creation.box(extents=ext, transform=T @ local))
    return trimesh.util.concatenate(meshes)


def make_scene(rng: np.random.Generator, width: int = 160, height: int = 120, min_points: int = 40,
               noise: float = 0.005) -> tuple[np.ndarray, np.ndarray]:
    """One scan: (pc (N, 6) float32 upright depth frame + grey colours, bboxes (K, 8) float32 with half
    sizes and VoteNet headings)."""
    import trimesh

    from depth3d.core.intrinsics import Intrinsics
    from depth3d.core.pose import Pose
    from depth3d.sim.render import raycast

    cam_h = rng.uniform(1.0, 1.6)
    pitch = np.deg2rad(rng.uniform(10, 30))
    floor_z = -cam_h
    meshes = [trimesh.creation.box(extents=[12, 12, 0.1], transform=_tr([0, 4, floor_z - 0.05]))]
    back = rng.uniform(4.5, 6.5)
    side = rng.uniform(2.2, 3.5) * rng.choice([-1, 1])
    meshes.append(trimesh.creation.box(extents=[12, 0.1, 3.0], transform=_tr([0, back, floor_z + 1.5])))
    meshes.append(trimesh.creation.box(extents=[0.1, 12, 3.0], transform=_tr([side, 3, floor_z + 1.5])))
    placed, boxes = [], []
    for _ in range(int(rng.integers(2, 7))):
        for _try in range(20):
            cid = int(rng.integers(0, len(SUNRGBD_CLASSES)))
            cls = SUNRGBD_CLASSES[cid]
            size = np.asarray(SUNRGBD_MEAN_SIZE[cls]) * rng.uniform(0.8, 1.2, 3)
            heading = rng.uniform(-np.pi, np.pi)
            r = 0.5 * np.hypot(size[0], size[1])
            xy = np.array([rng.uniform(-2.2, 2.2), rng.uniform(1.2, back - r - 0.05)])
            if abs(xy[0] - side) < r + 0.05 or any(np.hypot(*(xy - q)) < r + rq for q, rq in placed):
                continue
            center = np.array([xy[0], xy[1], floor_z + size[2] / 2])
            meshes.append(_mesh_from_parts(object_parts(cls, size, rng), center, heading))
            placed.append((xy, r))
            boxes.append([*center, *(size / 2), heading, cid])
            break
    f = width / (2 * np.tan(np.deg2rad(31)))
    intr = Intrinsics(width=width, height=height, fx=f, fy=f, cx=(width - 1) / 2, cy=(height - 1) / 2)
    # camera frame (x right, y down, z forward) -> world (x right, y forward, z up), pitched down
    base = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
    cp, sp = np.cos(pitch), np.sin(pitch)
    tilt = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])  # rotate forward axis towards -z
    R = tilt @ base
    res = raycast(meshes, intr, Pose.from_Rt(R, np.zeros(3)))
    hit = res.depth > 0
    pts = res.points[hit].astype(np.float64) @ R.T
    pts += rng.normal(0, noise, pts.shape)
    from depth3d.detection.boxes import points_in_box

    keep = [b for b in boxes if points_in_box(pts, b[0:3], 2 * np.asarray(b[3:6]), b[6]).sum() >= min_points]
    grey = np.clip(0.3 + 0.5 * (pts[:, 2:3] - floor_z) / 3.0, 0, 1).repeat(3, 1)
    pc = np.concatenate([pts, grey], 1).astype(np.float32)
    return pc, np.asarray(keep, np.float32).reshape(-1, 8)


def _tr(t):
    T = np.eye(4)
    T[:3, 3] = t
    return T


def write_scans(out_dir: str | Path, num: int, seed: int = 0, start: int = 0, **kwargs) -> list[int]:
    """Write ``num`` scans ``start .. start+num-1`` into ``out_dir`` (VoteNet SUN RGB-D layout, votes
    included); returns their ids. Deterministic for a given seed."""
    from tqdm import tqdm

    from depth3d.datasets.votenet_detection import compute_votes
    from depth3d.io.atomic import atomic_write

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids = []
    for idx in tqdm(range(start, start + num), desc="synthetic scans", leave=False):
        rng = np.random.default_rng([seed, idx])
        pc, bb = make_scene(rng, **kwargs)
        with atomic_write(out / f"{idx:06d}_pc.npz") as f:
            np.savez_compressed(f, pc=pc)
        with atomic_write(out / f"{idx:06d}_bbox.npy") as f:
            np.save(f, bb)
        with atomic_write(out / f"{idx:06d}_votes.npz") as f:
            np.savez_compressed(f, point_votes=compute_votes(pc, bb))
        ids.append(idx)
    return ids
