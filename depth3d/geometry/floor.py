"""Floor plane and gravity from a single depth view: level a camera-frame cloud without an IMU.

Indoor detectors (VoteNet) work in an upright frame (z up). A depth camera held by hand or on a robot is
pitched and rolled; when the floor is in view its plane gives the up direction. :func:`estimate_floor`
finds the lowest large plane that is roughly horizontal under a loose prior (the camera is closer to
upright than ``max_tilt_deg``), with a seeded RANSAC (same input, same answer), and :func:`upright_rotation`
turns its normal into the rotation camera frame -> upright frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FloorPlane:
    """Plane ``normal . p + offset = 0`` in the input frame. ``normal``: (3,) unit, pointing up (away from
    the floor, towards the camera side); ``offset``: metres (the camera's height above the floor when the
    points are camera-frame, since the camera sits at the origin); ``inliers``: points within the inlier
    distance; ``fraction``: inliers / points."""

    normal: np.ndarray
    offset: float
    inliers: int
    fraction: float

    @property
    def camera_height(self) -> float:
        """Height of the input frame's origin above the floor, metres."""
        return float(self.offset)


def estimate_floor(points: np.ndarray, up_prior: tuple[float, float, float] = (0.0, -1.0, 0.0),
                   max_tilt_deg: float = 70.0, inlier_dist: float = 0.03, min_fraction: float = 0.03,
                   min_height: float = 0.2, iterations: int = 600, sample: int = 6000,
                   seed: int = 0) -> FloorPlane | None:
    """The floor plane of a cloud, or None when no plane qualifies.

    Args:
        points: (N, 3) float, metres, any frame (default prior: the camera frame, x right, y down, z forward,
            so "up" is -y). Non-finite rows are ignored.
        up_prior: rough up direction in the points' frame.
        max_tilt_deg: planes whose normal is further than this from ``up_prior`` are not candidates.
        inlier_dist: metres; points this close to a plane support it (within 2 m of the camera; the band
            widens with the square of the range beyond, as stereo depth noise does).
        min_fraction: the floor must hold at least this fraction of the (sub-sampled) points.
        min_height: metres; the frame's origin (the camera) must be at least this far above the plane.
        iterations: RANSAC hypotheses; sample: points sub-sampled for the search; seed: RNG seed.

    The floor is the candidate with the most support (inliers weighted by the cosine to ``up_prior``) that has
    the origin at least ``min_height`` above it and (almost) nothing below it: at most 0.5% of the points more
    than ``3 * inlier_dist`` under the plane (a table top has the floor below it; a floor has nothing).
    """
    p = np.asarray(points, np.float64).reshape(-1, 3)
    p = p[np.isfinite(p).all(1)]
    if len(p) < 3:
        return None
    rng = np.random.default_rng(seed)
    if len(p) > sample:
        p = p[rng.choice(len(p), sample, replace=False)]
    up = np.asarray(up_prior, np.float64)
    up = up / np.linalg.norm(up)
    cos_max = np.cos(np.deg2rad(max_tilt_deg))
    # depth noise of active stereo grows with the square of the range: widen the inlier band with it
    tol = inlier_dist * np.maximum(1.0, (np.linalg.norm(p, axis=1) / 2.0) ** 2)
    # hypotheses from the lowest 30% of the points along the prior (where the floor is)
    low = np.flatnonzero(p @ up <= np.percentile(p @ up, 30))
    tri = low[rng.integers(0, len(low), size=(iterations, 3))]
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    n = np.cross(b - a, c - a)
    norm = np.linalg.norm(n, axis=1)
    ok = norm > 1e-9
    n[ok] /= norm[ok, None]
    n *= np.where(n @ up < 0, -1.0, 1.0)[:, None]
    ok &= n @ up > cos_max
    best, best_score = None, 0
    for i in np.flatnonzero(ok):
        d = -float(n[i] @ a[i])
        if d < min_height:  # the camera (origin) must stand above the floor
            continue
        h = p @ n[i] + d  # signed height above the plane
        inl = np.abs(h) < tol
        count = int(inl.sum())
        # support weighted by agreement with the prior: a wall ahead of a steeply pitched camera can hold
        # as many points as the floor, but lies further from the prior up direction
        score = count * float(n[i] @ up)
        if score <= best_score or count < min_fraction * len(p):
            continue
        if np.count_nonzero(h < -3 * tol) > 0.005 * len(p):
            continue
        best, best_score = (i, d, inl), score
    if best is None:
        return None
    i, d, inl = best
    # least-squares refinement on the inliers, then twice more on those within 3 robust sigmas (the wide
    # far-range band also catches the feet of walls and furniture)
    q = p[inl]
    for _ in range(3):
        centre = q.mean(0)
        _, _, vt = np.linalg.svd(q - centre, full_matrices=False)
        normal = vt[2] * (1.0 if vt[2] @ up > 0 else -1.0)
        offset = -float(normal @ centre)
        r = q @ normal + offset
        sigma = 1.4826 * float(np.median(np.abs(r)))
        keep = np.abs(r) < max(3.0 * sigma, 1e-3)
        if keep.sum() < 3 or keep.all():
            break
        q = q[keep]
    inliers = int(np.count_nonzero(np.abs(p @ normal + offset) < tol))
    return FloorPlane(normal, offset, inliers, inliers / len(p))


def upright_rotation(up: np.ndarray, forward: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """(3, 3) rotation R mapping the points' frame to an upright frame (x right, y forward, z up) where
    ``up`` becomes +z and ``forward`` (the camera's viewing direction; default camera-frame +z), projected
    onto the horizontal plane, becomes +y: ``p_upright = R @ p``."""
    z = np.asarray(up, np.float64)
    z = z / np.linalg.norm(z)
    f = np.asarray(forward, np.float64)
    y = f - (f @ z) * z
    if np.linalg.norm(y) < 1e-6:
        raise ValueError("upright_rotation: the forward direction is parallel to up (camera looks straight "
                         "down or up); no heading to keep")
    y = y / np.linalg.norm(y)
    x = np.cross(y, z)
    return np.stack([x, y, z])


def level_cloud(points: np.ndarray, **kwargs) -> tuple[np.ndarray, FloorPlane | None]:
    """Camera-frame points (N, 3) (x right, y down, z forward, metres) -> (upright points (N, 3) float32,
    x right, y forward, z up, camera at the origin; the floor plane found or None). Without a floor the
    camera is assumed level (pitch and roll 0). kwargs go to :func:`estimate_floor`."""
    p = np.asarray(points, np.float64).reshape(-1, 3)
    floor = estimate_floor(p, **kwargs)
    up = floor.normal if floor is not None else np.array([0.0, -1.0, 0.0])
    R = upright_rotation(up)
    return (p @ R.T).astype(np.float32), floor
