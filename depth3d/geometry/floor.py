"""Floor plane and gravity from a single depth view: level a camera-frame cloud without an IMU.

Indoor detectors (VoteNet) work in an upright frame (z up). A depth camera held by hand or on a robot is
pitched and rolled; when the floor is in view its plane gives the up direction. :func:`estimate_floor`
finds the lowest large plane that is roughly horizontal under a loose prior (the camera is pitched less
than ``max_tilt_deg`` and rolled less than ``max_roll_deg``), with a seeded RANSAC (same input, same answer);
every candidate, the least-squares refined plane included, is checked against that prior, so a wall beside
the camera is never taken for the floor. :func:`level_camera` turns the result (or, without a floor, a given
pitch) into a :class:`Levelling` record with the rotation camera frame -> upright frame, and
:func:`guess_frame` tells an upright scan from a camera-frame one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CAMERA_UP = (0.0, -1.0, 0.0)  # camera frame: x right, y down, z forward
CAMERA_FORWARD = (0.0, 0.0, 1.0)
UPRIGHT_UP = (0.0, 0.0, 1.0)  # upright (VoteNet depth) frame: x right, y forward, z up
UPRIGHT_FORWARD = (0.0, 1.0, 0.0)


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


def pitch_roll(up: np.ndarray, up_prior=CAMERA_UP, forward=CAMERA_FORWARD) -> tuple[float, float]:
    """(pitch, roll) in degrees of a camera whose world up direction is ``up`` (3,) in its own frame:
    pitch > 0 when the camera looks down, roll > 0 when it is turned clockwise about its viewing axis (the
    world's up leans to the image's right). ``up_prior``/``forward``: the frame's up and viewing directions
    for a level camera (default: the camera frame, up -y, forward +z)."""
    u = np.asarray(up_prior, np.float64)
    u = u / np.linalg.norm(u)
    f = np.asarray(forward, np.float64)
    f = f - (f @ u) * u
    f = f / np.linalg.norm(f)
    r = np.cross(f, u)
    n = np.asarray(up, np.float64)
    n = n / np.linalg.norm(n)
    return (float(np.degrees(np.arcsin(np.clip(-(n @ f), -1.0, 1.0)))),
            float(np.degrees(np.arctan2(n @ r, n @ u))))


def _plane_ok(normal: np.ndarray, offset: float, p: np.ndarray, tol: np.ndarray, up: np.ndarray,
              right: np.ndarray, cos_max: float, tan_roll: float, min_height: float,
              min_count: float) -> tuple[bool, np.ndarray]:
    """Whether a candidate (or refined) plane qualifies as the floor, and its inlier mask."""
    cu = float(normal @ up)
    if cu < cos_max or abs(float(normal @ right)) > tan_roll * cu or offset < min_height:
        return False, np.zeros(len(p), bool)
    h = p @ normal + offset  # signed height above the plane
    inl = np.abs(h) < tol
    if np.count_nonzero(inl) < min_count:
        return False, inl
    if np.count_nonzero(h < -3 * tol) > 0.005 * len(p):  # something (a floor) lies below: not the lowest
        return False, inl
    return True, inl


def estimate_floor(points: np.ndarray, up_prior: tuple[float, float, float] = CAMERA_UP,
                   max_tilt_deg: float = 60.0, inlier_dist: float = 0.03, min_fraction: float = 0.03,
                   min_height: float = 0.2, iterations: int = 600, sample: int = 6000,
                   seed: int = 0, max_roll_deg: float = 45.0, min_extent: float = 0.1,
                   forward: tuple[float, float, float] = CAMERA_FORWARD) -> FloorPlane | None:
    """The floor plane of a cloud, or None when no plane qualifies.

    Args:
        points: (N, 3) float, metres, any frame (default prior: the camera frame, x right, y down, z forward,
            so "up" is -y). Non-finite rows are ignored.
        up_prior: rough up direction in the points' frame.
        max_tilt_deg: planes whose normal is further than this from ``up_prior`` are not the floor.
        max_roll_deg: nor are planes that would mean the camera is rolled (turned about ``forward``, its
            viewing direction) by more than this: a camera is often pitched far down at the floor, seldom
            rolled far, and a wall beside it looks like the floor of a camera rolled by 60-90 degrees.
        inlier_dist: metres; points this close to a plane support it (within 2 m of the camera; the band
            widens with the square of the range beyond, as stereo depth noise does).
        min_fraction: the floor must hold at least this fraction of the (sub-sampled) points.
        min_height: metres; the frame's origin (the camera) must be at least this far above the plane.
        iterations: RANSAC hypotheses (half from random triples of the lowest 30% of the points, half from
            triples within 0.5 m of each other, which finds a floor that fills only a corner of the view);
        sample: points sub-sampled for the search; seed: RNG seed.
        min_extent: metres; the floor's inliers must spread at least this much (standard deviation) across
            their long axis: a plane through a strip (the foot of a wall, a box edge) is not determined by it.

    The floor is the candidate with the most support (inliers weighted by the cosine to ``up_prior``) that has
    the origin at least ``min_height`` above it and (almost) nothing below it: at most 0.5% of the points more
    than ``3 * inlier_dist`` under the plane (a table top has the floor below it; a floor has nothing). The
    best candidate is refined by least squares and the refined plane is checked again against all of these
    (angle, roll, height, support, nothing below, extent); when it fails, the next distinct candidate is tried.
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
    fwd = np.asarray(forward, np.float64)
    fwd = fwd - (fwd @ up) * up
    fwd = fwd / np.linalg.norm(fwd) if np.linalg.norm(fwd) > 1e-9 else np.zeros(3)
    right = np.cross(fwd, up)
    cos_max = float(np.cos(np.deg2rad(max_tilt_deg)))
    tan_roll = float(np.tan(np.deg2rad(min(max_roll_deg, 89.9))))
    min_count = min_fraction * len(p)
    # depth noise of active stereo grows with the square of the range: widen the inlier band with it
    tol = inlier_dist * np.maximum(1.0, (np.linalg.norm(p, axis=1) / 2.0) ** 2)
    # hypotheses: triples from the lowest 30% of the points along the prior (where the floor is), and
    # local triples (a seed from the low points, two partners within 0.5 m of it)
    low = np.flatnonzero(p @ up <= np.percentile(p @ up, 30))
    n_glob = iterations - iterations // 2
    tri = low[rng.integers(0, len(low), size=(iterations, 3))]
    if iterations // 2:
        from scipy.spatial import cKDTree

        # the neighbours of each seed within 0.5 m, in ascending index, as one array of (seed, point) pairs
        # (a ball query per seed returns Python lists, which cost more than the rest of the search)
        seeds = tri[n_glob:, 0]
        pairs = cKDTree(p[seeds]).sparse_distance_matrix(cKDTree(p), 0.5, output_type="ndarray")
        flat = np.sort(pairs["i"].astype(np.int64) * len(p) + pairs["j"])  # row-major (seed, point)
        counts = np.bincount(pairs["i"], minlength=len(seeds))
        has = np.flatnonzero(counts >= 3)
        # one draw for all seeds: the same numbers as one rng.integers(0, count, 2) per seed in turn
        j = rng.integers(0, counts[has, None], size=(len(has), 2))
        starts = np.cumsum(counts) - counts
        tri[n_glob + has, 1:] = flat[starts[has, None] + j] % len(p)
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    n = np.cross(b - a, c - a)
    norm = np.linalg.norm(n, axis=1)
    ok = norm > 1e-9
    n[ok] /= norm[ok, None]
    n *= np.where(n @ up < 0, -1.0, 1.0)[:, None]
    ok &= n @ up > cos_max
    # the checks of _plane_ok, one plane at a time (a gemv each: faster than blocks of planes at once) with
    # the cheap ones first: angle, roll and height for all planes, then nothing below, then support
    d_all = -np.einsum("ij,ij->i", n, a)
    cu_all = n @ up
    ok &= (cu_all >= cos_max) & (np.abs(n @ right) <= tan_roll * cu_all) & (d_all >= min_height)
    neg3tol, max_below = -3 * tol, 0.005 * len(p)
    cands = []
    for i in np.flatnonzero(ok):
        h = p @ n[i]
        h += d_all[i]
        if np.count_nonzero(h < neg3tol) > max_below:
            continue  # something (a floor) lies below: not the lowest plane
        np.abs(h, out=h)
        if np.count_nonzero(h < tol) < min_count:
            continue
        # support counted in the narrow band and weighted by agreement with the prior: a wall ahead of a
        # steeply pitched camera can hold as many points as the floor but lies further from the prior up
        # direction, and the wide far-range band lets a plane slanting through the far part of the scene
        # gather as many points as a floor that fills only a corner of the view
        cands.append((np.count_nonzero(h < inlier_dist) * float(cu_all[i]), i, float(d_all[i])))
    cands.sort(key=lambda t: -t[0])
    tried: list[tuple[np.ndarray, float]] = []
    for _, i, d in cands:
        if any(float(n[i] @ tn) > np.cos(np.deg2rad(2.0)) and abs(d - td) < 2 * inlier_dist for tn, td in tried):
            continue  # the same plane as one already refined and rejected
        if len(tried) >= 8:
            break
        tried.append((n[i], d))
        normal, offset = _refine(p[np.abs(p @ n[i] + d) < tol], up)
        # once more on the refined plane's own band (the hypothesis' band may hold a slanted slice)
        normal, offset = _refine(p[np.abs(p @ normal + offset) < tol], up) if np.count_nonzero(
            np.abs(p @ normal + offset) < tol) >= 3 else (normal, offset)
        good, inl2 = _plane_ok(normal, offset, p, tol, up, right, cos_max, tan_roll, min_height, min_count)
        if good and _minor_extent(p[inl2]) >= min_extent:
            inliers = int(np.count_nonzero(inl2))
            return FloorPlane(normal, offset, inliers, inliers / len(p))
    return None


def _minor_extent(q: np.ndarray) -> float:
    """Standard deviation (metres) of points (M, 3) along their second principal axis: how wide a patch is
    across its long axis (a strip where a plane cuts through a wall or a box edge is narrow)."""
    if len(q) < 3:
        return 0.0
    return float(np.sqrt(max(np.linalg.eigvalsh(np.cov(q.T))[1], 0.0)))


def _refine(q: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane of the inliers ``q`` (M, 3), then twice more on those within 3 robust sigmas (the
    wide far-range band also catches the feet of walls and furniture). Normal oriented along ``up``."""
    normal, offset = up, 0.0
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
    return normal, offset


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


def tilt_rotation(tilt_deg: float) -> np.ndarray:
    """(3, 3) rotation camera frame (x right, y down, z forward) -> upright frame (x right, y forward, z up)
    of a camera pitched down by ``tilt_deg`` degrees with no roll: ``p_upright = R @ p_cam`` (0: level
    camera; 90: looking straight down)."""
    t = np.deg2rad(float(tilt_deg))
    c, s = np.cos(t), np.sin(t)
    cam_to_depth = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    return np.array([[1, 0, 0], [0, c, s], [0, -s, c]]) @ cam_to_depth


@dataclass
class Levelling:
    """How a camera-frame cloud was turned upright.

    ``rotation``: (3, 3) camera frame (x right, y down, z forward) -> upright frame (x right, y forward, z up),
    ``p_up = rotation @ p_cam``; ``floor``: the floor plane found (camera frame) or None; ``method``: "floor"
    (levelled on the floor), "fallback" (``tilt="auto"`` found no floor and used ``tilt_deg``) or "given"
    (a pitch was given, no floor searched); ``tilt_deg``: the fallback/given pitch (None when levelled on
    the floor); ``message``: why no floor was used, else None."""

    rotation: np.ndarray
    floor: FloorPlane | None
    method: str
    tilt_deg: float | None = None
    message: str | None = None

    @property
    def up(self) -> np.ndarray:
        """(3,) unit world up in the camera frame (the floor normal when levelled on the floor)."""
        return np.asarray(self.rotation[2], np.float64)

    @property
    def tilt_angle_deg(self) -> float:
        """Angle between the world up and the camera's up (-y), degrees."""
        return float(np.degrees(np.arccos(np.clip(-self.up[1], -1.0, 1.0))))

    @property
    def camera_height(self) -> float | None:
        """The camera's height above the floor in metres, None without a floor."""
        return None if self.floor is None else self.floor.camera_height

    def to_dict(self) -> dict:
        """JSON-ready record (the ``levelling`` field of the boxes JSON): angles in degrees, metres, camera
        frame (x right, y down, z forward)."""
        pitch, roll = pitch_roll(self.up)
        fl = self.floor
        return {"method": self.method, "floor": fl is not None,
                "floor_normal_camera": None if fl is None else [round(float(v), 6) for v in fl.normal],
                "up_camera": [round(float(v), 6) for v in self.up],
                "tilt_deg": round(self.tilt_angle_deg, 3), "pitch_deg": round(pitch, 3) + 0.0,
                "roll_deg": round(roll, 3) + 0.0,
                "camera_height_m": None if fl is None else round(fl.camera_height, 4),
                "floor_fraction": None if fl is None else round(fl.fraction, 4),
                "fallback_tilt_deg": self.tilt_deg if self.method == "fallback" else None,
                "message": self.message}


def level_camera(points: np.ndarray, tilt: float | str = "auto", fallback_tilt_deg: float = 0.0,
                 **kwargs) -> Levelling:
    """Level a camera-frame cloud (N, 3) (x right, y down, z forward, metres).

    ``tilt``: the camera's downward pitch in degrees (no floor search), or ``"auto"``: pitch and roll from the
    floor plane (:func:`estimate_floor`, kwargs go to it); when no floor qualifies, the camera is taken as
    pitched by ``fallback_tilt_deg`` (0: level) and the record says so in ``message``."""
    if isinstance(tilt, str):
        if tilt != "auto":
            raise ValueError(f"tilt must be degrees or 'auto', got {tilt!r}")
        p = np.asarray(points, np.float64).reshape(-1, 3)
        floor = estimate_floor(p, **kwargs)
        if floor is not None:
            return Levelling(upright_rotation(floor.normal), floor, "floor")
        msg = (f"tilt auto: no floor in view (no large plane below the camera within "
               f"{kwargs.get('max_tilt_deg', 60.0):g} deg pitch and {kwargs.get('max_roll_deg', 45.0):g} deg "
               f"roll of level); assuming the camera is pitched {fallback_tilt_deg:g} deg")
        return Levelling(tilt_rotation(fallback_tilt_deg), None, "fallback", float(fallback_tilt_deg), msg)
    return Levelling(tilt_rotation(float(tilt)), None, "given", float(tilt))


def guess_frame(points: np.ndarray, seed: int = 0) -> tuple[str, str]:
    """Whether a cloud of unknown frame is upright (x right, y forward, z up, as VoteNet's) or in the camera
    frame (x right, y down, z forward), from the data: ``(frame, reason)`` with ``frame`` "upright" or
    "camera" and ``reason`` one sentence saying why.

    ``points``: (N, 3) metres (non-finite rows ignored; 20,000 sub-sampled). A depth camera sees only what
    lies in front of it, so a camera-frame cloud has (almost) every point at z > 0; an upright view has its
    floor below the origin (z < 0) and an upright room scan has it at z = 0. When every point is in front,
    the floor decides: a floor plane under the camera (normal within 60 deg of -y, see
    :func:`estimate_floor`) means camera frame; the lowest large plane with its normal within 20 deg of +z
    (and nothing below it) means upright; both: the one holding more points; neither: camera."""
    p = np.asarray(points, np.float64).reshape(-1, 3)
    p = p[np.isfinite(p).all(1)]
    if len(p) < 3:
        return "camera", "too few points to tell; taken as the camera frame"
    if len(p) > 20000:
        p = p[np.random.default_rng(seed).choice(len(p), 20000, replace=False)]
    behind = float(np.mean(p[:, 2] <= 0.01))
    up_fl = estimate_floor(p, up_prior=UPRIGHT_UP, forward=UPRIGHT_FORWARD, max_tilt_deg=20.0, max_roll_deg=20.0,
                           min_height=-np.inf, seed=seed)
    up_txt = ("" if up_fl is None else
              f"; its floor plane ({100 * up_fl.fraction:.0f}% of the points) is "
              f"{np.degrees(np.arccos(np.clip(up_fl.normal[2], -1, 1))):.1f} deg from +z")
    if behind > 0.01:
        return "upright", (f"{100 * behind:.0f}% of the points lie at z <= 0, behind a camera (a camera-frame "
                           f"cloud has every point in front, z > 0){up_txt}")
    cam_fl = estimate_floor(p, seed=seed)
    if cam_fl is not None and (up_fl is None or cam_fl.fraction >= up_fl.fraction):
        pitch, roll = pitch_roll(cam_fl.normal)
        return "camera", (f"every point lies in front (z > 0) and a floor plane ({100 * cam_fl.fraction:.0f}% of "
                          f"the points) lies {cam_fl.camera_height:.2f} m below the origin along -y (camera "
                          f"pitch {pitch:.0f} deg, roll {roll:.0f} deg)")
    if up_fl is not None:
        return "upright", (f"the lowest large plane is horizontal in z (nothing below it){up_txt}, and no floor "
                           f"lies below the origin along -y")
    return "camera", "every point lies in front (z > 0), as a depth camera sees them, and no floor plane either way"


def level_cloud(points: np.ndarray, **kwargs) -> tuple[np.ndarray, FloorPlane | None]:
    """Camera-frame points (N, 3) (x right, y down, z forward, metres) -> (upright points (N, 3) float32,
    x right, y forward, z up, camera at the origin; the floor plane found or None). Without a floor the
    camera is assumed level (pitch and roll 0). kwargs go to :func:`estimate_floor`."""
    p = np.asarray(points, np.float64).reshape(-1, 3)
    lev = level_camera(p, "auto", **kwargs)
    return (p @ lev.rotation.T).astype(np.float32), lev.floor
