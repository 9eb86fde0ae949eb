"""Camera poses and paths through a room.

All poses are ``world_from_camera`` (:class:`~depth3d.core.pose.Pose`): camera frame x right, y down,
z forward; world frame z up, metres.
"""

from __future__ import annotations

import numpy as np

from depth3d.core.pose import Pose

TRAJECTORIES = ("orbit", "walk")


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> Pose:
    """Camera pose at ``eye`` (3,) looking at ``target`` (3,) with world ``up`` (3,) pointing image-up."""
    eye = np.asarray(eye, dtype=np.float64)
    f = np.asarray(target, dtype=np.float64) - eye
    n = np.linalg.norm(f)
    if n < 1e-9:
        raise ValueError("look_at: eye and target coincide")
    f /= n
    x = np.cross(f, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(x) < 1e-6:
        raise ValueError("look_at: viewing direction is parallel to up")
    x /= np.linalg.norm(x)
    y = np.cross(f, x)
    return Pose.from_Rt(np.stack([x, y, f], axis=1), eye)


def _free(scene, p: np.ndarray, clearance: float = 0.25) -> bool:
    """True when position p (3,) is inside the room and not inside/near any furniture box."""
    lx, ly, hz = scene.room_size
    if abs(p[0]) > lx / 2 - clearance or abs(p[1]) > ly / 2 - clearance or not (0.1 < p[2] < hz - 0.1):
        return False
    for o in scene.objects:
        c, s = np.cos(o.heading), np.sin(o.heading)
        d = p - o.centre
        u, v = c * d[0] + s * d[1], -s * d[0] + c * d[1]
        if abs(u) < o.size[0] / 2 + clearance and abs(v) < o.size[1] / 2 + clearance and p[2] < o.size[2] + 0.2:
            return False
    return True


def orbit(scene, frames: int, height: float = 1.4, radius_frac: float = 0.38, turns: float = 1.0,
          bob: float = 0.1) -> list[Pose]:
    """Camera poses on an ellipse around the room centre, looking across the room at its centre
    (at 0.6 m height), height ``height`` +- ``bob`` metres. Positions inside furniture are pulled towards
    the centre until free."""
    if frames <= 0:
        raise ValueError(f"orbit: frames must be positive, got {frames}")
    lx, ly, hz = scene.room_size
    poses = []
    for i in range(frames):
        a = 2 * np.pi * turns * i / frames
        z = min(height + bob * np.sin(3 * a), hz - 0.3)
        for k in range(20):
            r = radius_frac * (1 - 0.045 * k)
            eye = np.array([r * lx * np.cos(a), r * ly * np.sin(a), z])
            if _free(scene, eye):
                break
        target = np.array([-0.25 * eye[0], -0.25 * eye[1], 0.6])
        poses.append(look_at(eye, target))
    return poses


def walk(scene, frames: int, height: float = 1.5, seed: int = 0) -> list[Pose]:
    """A smooth walk: the camera moves back and forth along the room's long axis at ``height`` metres,
    looking ahead and slightly down, panning left and right (positions kept clear of furniture)."""
    if frames <= 0:
        raise ValueError(f"walk: frames must be positive, got {frames}")
    rng = np.random.default_rng(seed)
    lx, ly, hz = scene.room_size
    long_x = lx >= ly
    L, S = (lx, ly) if long_x else (ly, lx)
    phase = rng.uniform(0, 2 * np.pi)
    poses = []
    for i in range(frames):
        s = i / max(frames - 1, 1)
        along = 0.35 * L * np.sin(2 * np.pi * s + phase)
        across = 0.2 * S * np.sin(4 * np.pi * s + 0.5 * phase)
        eye = np.array([along, across, height]) if long_x else np.array([across, along, height])
        for k in range(20):
            if _free(scene, eye):
                break
            eye[:2] *= 0.9
        heading = 2 * np.pi * s + phase + 0.6 * np.sin(6 * np.pi * s)
        fwd = np.array([np.cos(heading), np.sin(heading), -0.45])
        poses.append(look_at(eye, eye + fwd))
    return poses


def make_trajectory(scene, kind: str, frames: int, **kwargs) -> list[Pose]:
    """Poses of a named trajectory (``"orbit"`` or ``"walk"``); kwargs go to that function."""
    if kind == "orbit":
        return orbit(scene, frames, **kwargs)
    if kind == "walk":
        return walk(scene, frames, **kwargs)
    raise ValueError(f"unknown trajectory {kind!r}; expected one of {TRAJECTORIES}")


def random_view(scene, rng: np.random.Generator, min_dist: float = 1.2, max_dist: float = 3.5,
                height: tuple[float, float] = (1.0, 1.6), tries: int = 100) -> Pose:
    """A random camera pose looking at one of the room's objects (or the room centre when it has none)
    from ``min_dist``..``max_dist`` metres, eye at ``height`` metres, from a free position in the room:
    a single-view scan like SUN RGB-D's."""
    lx, ly, hz = scene.room_size
    for _ in range(tries):
        if scene.objects:
            o = scene.objects[int(rng.integers(len(scene.objects)))]
            target = o.centre.copy()
        else:
            target = np.array([0.0, 0.0, 0.5])
        target[:2] += rng.normal(0, 0.3, 2)
        a = rng.uniform(-np.pi, np.pi)
        dist = rng.uniform(min_dist, max_dist)
        eye = np.array([target[0] + dist * np.cos(a), target[1] + dist * np.sin(a),
                        rng.uniform(*height)])
        if _free(scene, eye, clearance=0.3):
            return look_at(eye, target)
    # fall back: from a free spot near a wall corner, looking at the centre
    eye = np.array([0.35 * lx, 0.35 * ly, np.mean(height)])
    return look_at(eye, [0.0, 0.0, 0.5])
