"""Small pyrealsense2 helpers shared by the live, playback and recording code (imported lazily)."""

from __future__ import annotations

import math

import numpy as np

from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose


def import_rs():
    """Import pyrealsense2 or raise a clear ImportError."""
    try:
        import pyrealsense2 as rs
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("pyrealsense2 is not installed: `pip install pyrealsense2` (needed for RealSense "
                          "cameras and .db3/.bag recordings)") from exc
    return rs


def extrinsics_to_pose(ex) -> Pose:
    """``rs.extrinsics`` (rotation column-major 3x3, translation metres) -> :class:`Pose`."""
    R = np.asarray(ex.rotation, dtype=np.float64).reshape(3, 3).T  # librealsense stores column-major
    t = np.asarray(ex.translation, dtype=np.float64)
    # float32 storage leaves R slightly non-orthonormal; project back onto SO(3)
    u, _, vt = np.linalg.svd(R)
    Rn = u @ vt
    if np.linalg.det(Rn) < 0:
        u[:, -1] *= -1
        Rn = u @ vt
    return Pose.from_Rt(R if np.allclose(R @ R.T, np.eye(3), atol=1e-6) else Rn, t)


def pose_to_extrinsics(pose: Pose):
    """:class:`Pose` -> ``rs.extrinsics`` (column-major rotation)."""
    rs = import_rs()
    ex = rs.extrinsics()
    ex.rotation = [float(v) for v in pose.R.T.ravel()]
    ex.translation = [float(v) for v in pose.t]
    return ex


def ms_for_seconds(t: float) -> float:
    """A millisecond timestamp ``ms`` such that ``ms / 1000.0 == t`` exactly (so seconds round-trip)."""
    ms = float(t) * 1000.0
    if not math.isfinite(ms):
        raise ValueError(f"timestamp {t!r} is not finite")
    lo = hi = ms
    for _ in range(16):
        for cand in (lo, hi):
            if cand / 1000.0 == t:
                return cand
        lo, hi = math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)
    return ms


def f32(x: float) -> float:
    """``x`` rounded to float32 (librealsense stores intrinsics and depth units as float32)."""
    return float(np.float32(x))


def intrinsics_f32(intr: Intrinsics) -> Intrinsics:
    """The intrinsics as they come back from a librealsense file (every number rounded to float32)."""
    return Intrinsics.from_realsense(intr.to_realsense())


def stop_and_close(sensors) -> None:
    """Stop, then close, each librealsense sensor; a sensor already stopped or closed is skipped silently
    (teardown must reach every sensor even when one of them fails)."""
    for s in sensors:
        try:
            s.stop()
        except Exception:
            pass
        try:
            s.close()
        except Exception:
            pass
