"""Disparity -> depth and points, two ways that agree: ``Z = f * B / d`` and the Q matrix.

Rectified left camera frame: x right, y down, z forward; units are those of the calibration's ``T``
(metres for a metric calibration, board squares for the real chessboard pairs). Invalid disparities
(<= ``min_disparity``) give depth 0 and are never turned into huge depths; ``max_depth`` also masks far
values (tiny disparities are the least accurate).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from depth3d.core.intrinsics import Intrinsics
from depth3d.geometry import depth_to_points
from depth3d.stereo.calibration import StereoCalibration

#: disparities at or below this (pixels; OpenCV's 1/16 resolution) are invalid: never 'very far'
MIN_DISPARITY = 1.0 / 16.0


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


def disparity_to_depth(disparity: np.ndarray, focal: float, baseline: float, min_disparity: float = MIN_DISPARITY,
                       max_depth: float | None = None, doffs: float = 0.0) -> np.ndarray:
    """Planar depth ``Z = f * B / (d + doffs)`` with invalid pixels set to 0.

    Args:
        disparity: (H, W) float32 pixels (0 = invalid).
        focal: rectified focal length in pixels; baseline: camera distance (calibration units).
        min_disparity: disparities <= this are invalid (default 1/16 px); max_depth: depths above it are set to 0.
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


def reproject_q(disparity: np.ndarray, Q: np.ndarray, min_disparity: float = MIN_DISPARITY) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.reprojectImageTo3D`` with masking: (points (H, W, 3) float32, valid (H, W) bool).

    Invalid points (disparity <= ``min_disparity``) are 0, not OpenCV's 10000 fill.
    """
    import cv2

    d = np.asarray(disparity, np.float32)
    pts = cv2.reprojectImageTo3D(d, np.asarray(Q, np.float64), handleMissingValues=False)
    valid = (d > max(min_disparity, 0.0)) & np.isfinite(pts[..., 2]) & (pts[..., 2] > 0)
    pts[~valid] = 0.0
    return pts, valid


class CloudMaker:
    """Depth -> coloured cloud for a fixed rectified camera: :func:`depth3d.geometry.depth_to_points` (the
    fused back-projection kernel) plus the colour of each point's pixel.

    Args:
        intrinsics: the rectified camera (``StereoCalibration.rectified_intrinsics()``).

    ``__call__(depth, image=None, stride=1)``: depth (H, W) float32 (0 = invalid); image (H, W) uint8 grey or
    (H, W, 3) uint8 (any channel order, kept as is); stride: use every stride-th pixel along both axes.
    Returns (points (N, 3) float32, colours (N, 3) float32 in 0..1 or None), rectified camera frame
    (x right, y down, z forward), in the units of the depth, valid pixels in row-major order.
    """

    def __init__(self, intrinsics: Intrinsics) -> None:
        self.intrinsics = intrinsics
        self.shape = (intrinsics.height, intrinsics.width)

    def _decimated(self, stride: int) -> Intrinsics:
        i = self.intrinsics
        # pixel u of the decimated image is pixel u * stride of the full one
        return replace(i, width=-(-i.width // stride), height=-(-i.height // stride), fx=i.fx / stride,
                       fy=i.fy / stride, cx=i.cx / stride, cy=i.cy / stride)

    def __call__(self, depth: np.ndarray, image: np.ndarray | None = None,
                 stride: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
        if depth.shape != self.shape:
            raise ValueError(f"depth is {depth.shape[1]}x{depth.shape[0]}, cloud maker is for "
                             f"{self.shape[1]}x{self.shape[0]}")
        if not (isinstance(stride, int) and stride >= 1):
            raise ValueError(f"stride must be a positive integer, got {stride!r}")
        intr = self.intrinsics if stride == 1 else self._decimated(stride)
        z = depth if stride == 1 else depth[::stride, ::stride]
        pts, idx = depth_to_points(z, intr, return_index=True)
        cols = None
        if image is not None:
            img = image if stride == 1 else image[::stride, ::stride]
            flat = img.reshape(z.size, -1)[idx]
            cols = flat.astype(np.float32)
            cols *= np.float32(1.0 / 255.0)
            if cols.shape[1] == 1:
                cols = np.repeat(cols, 3, axis=1)
        return pts, cols
