"""Disparity -> depth and points, two ways that agree: ``Z = f * B / d`` and the Q matrix.

Rectified left camera frame: x right, y down, z forward; units are those of the calibration's ``T``
(metres for a metric calibration, board squares for the real chessboard pairs). Invalid disparities
(<= ``min_disparity``) give depth 0 and are never turned into huge depths; ``max_depth`` also masks far
values (tiny disparities are the least accurate).
"""

from __future__ import annotations

import numpy as np

from depth3d.stereo.calibration import StereoCalibration


def focal_baseline(Q: np.ndarray) -> tuple[float, float, float]:
    """(f pixels, B baseline, cx offset term) from a Q matrix of ``cv2.stereoRectify``.

    Q = [[1,0,0,-cx],[0,1,0,-cy],[0,0,0,f],[0,0,-1/Tx,(cx-cx')/Tx]]; with Tx = -B (right camera at +x).
    """
    Q = np.asarray(Q, np.float64)
    f = Q[2, 3]
    inv_tx = -Q[3, 2]
    if inv_tx == 0:
        raise ValueError("Q matrix has Q[3,2] == 0 (no baseline)")
    B = -1.0 / inv_tx  # Tx = 1 / (1/Tx); B = -Tx
    return float(f), float(abs(B)), float(Q[3, 3])


def disparity_to_depth(disparity: np.ndarray, focal: float, baseline: float, min_disparity: float = 0.0,
                       max_depth: float | None = None, doffs: float = 0.0) -> np.ndarray:
    """Planar depth ``Z = f * B / (d + doffs)`` with invalid pixels set to 0.

    Args:
        disparity: (H, W) float32 pixels (0 = invalid).
        focal: rectified focal length in pixels; baseline: camera distance (calibration units).
        min_disparity: disparities <= this are invalid; max_depth: depths above it are set to 0.
        doffs: ``cx_left - cx_right`` of the rectified cameras (0 with ``CALIB_ZERO_DISPARITY``).
    Returns:
        (H, W) float32 depth, 0 where invalid.
    """
    d = np.asarray(disparity, np.float32) + np.float32(doffs)
    valid = d > max(min_disparity, 0.0)
    fb = np.float32(focal * baseline)
    z = np.zeros_like(d)
    np.divide(fb, d, out=z, where=valid)
    if max_depth is not None:
        z[z > max_depth] = 0.0
    return z


def depth_from_calibration(disparity: np.ndarray, calib: StereoCalibration, **kwargs) -> np.ndarray:
    """:func:`disparity_to_depth` with f, B and doffs from the calibration's P1/P2."""
    f = calib.P1[0, 0]
    B = abs(calib.P2[0, 3] / calib.P2[0, 0])
    doffs = calib.P2[0, 2] - calib.P1[0, 2]
    return disparity_to_depth(disparity, f, B, doffs=-doffs if doffs else 0.0, **kwargs)


def reproject_q(disparity: np.ndarray, Q: np.ndarray, min_disparity: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.reprojectImageTo3D`` with masking: (points (H, W, 3) float32, valid (H, W) bool).

    Invalid points (disparity <= ``min_disparity``) are 0, not OpenCV's 10000 fill.
    """
    import cv2

    d = np.asarray(disparity, np.float32)
    pts = cv2.reprojectImageTo3D(d, np.asarray(Q, np.float64), handleMissingValues=False)
    valid = (d > max(min_disparity, 0.0)) & np.isfinite(pts[..., 2]) & (pts[..., 2] > 0)
    pts[~valid] = 0.0
    return pts, valid


def depth_to_points(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float,
                    color: np.ndarray | None = None, stride: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """Back-project a depth image (no distortion: rectified) to points of the valid pixels.

    depth: (H, W) float32, 0 = invalid. color: optional (H, W, 3) uint8 (any channel order, kept as is).
    Returns (points (N, 3) float32, colors (N, 3) float32 in 0..1 or None), camera frame x right, y down,
    z forward.
    """
    z = depth[::stride, ::stride]
    h, w = z.shape
    valid = z > 0
    vv, uu = np.nonzero(valid)
    zz = z[valid]
    us = uu.astype(np.float32) * stride
    vs = vv.astype(np.float32) * stride
    pts = np.empty((len(zz), 3), np.float32)
    pts[:, 0] = (us - np.float32(cx)) * zz * np.float32(1.0 / fx)
    pts[:, 1] = (vs - np.float32(cy)) * zz * np.float32(1.0 / fy)
    pts[:, 2] = zz
    cols = None
    if color is not None:
        c = color[::stride, ::stride]
        cols = c[valid].astype(np.float32) * np.float32(1.0 / 255.0)
    return pts, cols
