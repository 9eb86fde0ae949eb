"""Projector calibration "like a second camera" from a checkerboard seen under the patterns.

Per board view (method of Moreno & Taubin, 2012):

1. find the board's inner corners in the camera's white capture (``cv2.findChessboardCorners`` +
   ``cornerSubPix``);
2. decode projector column and row per camera pixel (patterns with ``rows=True``);
3. around each corner fit a local homography camera pixels -> projector pixels to the decoded pixels in a
   window and map the corner through it: the corner's projector coordinates.

Then ``cv2.calibrateCamera`` gives the camera and the projector intrinsics (the projector from the board's
projector coordinates) and ``cv2.stereoCalibrate`` (intrinsics fixed) the camera -> projector pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth3d.core.intrinsics import Intrinsics
from depth3d.structured_light.decode import SLCalibration, SLDecoding


def board_object_points(inner_cols: int, inner_rows: int, square: float) -> np.ndarray:
    """(inner_cols * inner_rows, 3) float32 board-frame corner positions (metres, z = 0), in the order
    :func:`find_board_corners` returns the corners (the stereo calibration's board model)."""
    from depth3d.geometry.board import Board

    return Board("chessboard", inner_cols, inner_rows, float(square)).object_points()


def find_board_corners(white: np.ndarray, inner_cols: int, inner_rows: int) -> np.ndarray | None:
    """(N, 2) float32 sub-pixel camera corners of the board in a grey image, or None if not found.

    The same detection as stereo calibration (:func:`depth3d.geometry.board.find_corners`), including
    its canonical corner order on symmetric boards; non-8-bit images are stretched to 0..255 first."""
    import cv2

    from depth3d.geometry.board import Board, find_corners

    img = np.asarray(white)
    if img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    found = find_corners(img, Board("chessboard", inner_cols, inner_rows))
    return None if found is None else found[0].reshape(-1, 2).astype(np.float32)


def projector_corners(corners: np.ndarray, decoding: SLDecoding, window: int = 12, min_points: int = 30
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Projector coordinates of camera corners through local homographies.

    Args:
        corners: (N, 2) camera pixel coordinates (u, v).
        decoding: a decoding with both ``column`` and ``row`` (patterns with rows).
        window: half size (camera pixels) of the window around each corner.
        min_points: fewest valid decoded pixels a window needs.

    Returns:
        (N, 2) float32 projector (u, v) and (N,) bool ok.
    """
    import cv2

    if decoding.row is None:
        raise ValueError("projector_corners: the decoding has no rows; project patterns with rows=True")
    h, w = decoding.column.shape
    out = np.zeros((len(corners), 2), np.float32)
    ok = np.zeros(len(corners), bool)
    good = decoding.valid & np.isfinite(decoding.column) & np.isfinite(decoding.row)
    for i, (u, v) in enumerate(np.asarray(corners, np.float64)):
        x0, x1 = int(max(0, np.floor(u) - window)), int(min(w, np.ceil(u) + window + 1))
        y0, y1 = int(max(0, np.floor(v) - window)), int(min(h, np.ceil(v) + window + 1))
        m = good[y0:y1, x0:x1]
        if m.sum() < min_points:
            continue
        yy, xx = np.nonzero(m)
        src = np.stack([xx + x0, yy + y0], axis=1).astype(np.float64)
        dst = np.stack([decoding.column[y0:y1, x0:x1][m], decoding.row[y0:y1, x0:x1][m]], axis=1).astype(np.float64)
        H, _ = cv2.findHomography(src, dst, cv2.RANSAC, 1.5)
        if H is None:
            continue
        p = H @ np.array([u, v, 1.0])
        out[i] = p[:2] / p[2]
        ok[i] = True
    return out, ok


@dataclass
class CalibrationResult:
    """Calibration and its RMS reprojection errors (pixels)."""

    calibration: SLCalibration
    camera_rms: float
    projector_rms: float
    stereo_rms: float
    views: int


def calibrate_projector_camera(object_points: np.ndarray, camera_corners: list[np.ndarray],
                               projector_corners_list: list[np.ndarray], camera_size: tuple[int, int],
                               projector_size: tuple[int, int], fix_distortion: bool = True) -> CalibrationResult:
    """Calibrate camera, projector and their relative pose from V board views.

    Args:
        object_points: (N, 3) board corners (metres, board frame).
        camera_corners: V arrays (N, 2) camera pixels. projector_corners_list: V arrays (N, 2) projector pixels.
        camera_size, projector_size: (width, height).
        fix_distortion: estimate no lens distortion (few views; the simulator has none).

    Returns:
        :class:`CalibrationResult`; ``calibration.R, t`` map camera-frame points to the projector frame.
    """
    import cv2

    if len(camera_corners) != len(projector_corners_list) or len(camera_corners) < 3:
        raise ValueError(f"calibration needs >= 3 views with camera and projector corners, got "
                         f"{len(camera_corners)} and {len(projector_corners_list)}")
    obj = [np.asarray(object_points, np.float32)] * len(camera_corners)
    cam = [np.asarray(c, np.float32).reshape(-1, 1, 2) for c in camera_corners]
    prj = [np.asarray(c, np.float32).reshape(-1, 1, 2) for c in projector_corners_list]
    flags = (cv2.CALIB_ZERO_TANGENT_DIST | cv2.CALIB_FIX_K1 | cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3) \
        if fix_distortion else 0
    rms_c, Kc, dc, _, _ = cv2.calibrateCamera(obj, cam, tuple(camera_size), None, None, flags=flags)
    rms_p, Kp, dp, _, _ = cv2.calibrateCamera(obj, prj, tuple(projector_size), None, None, flags=flags)
    rms_s, Kc, dc, Kp, dp, R, T, _, _ = cv2.stereoCalibrate(
        obj, cam, prj, Kc, dc, Kp, dp, tuple(camera_size), flags=cv2.CALIB_FIX_INTRINSIC)
    camera = Intrinsics.from_K(Kc, camera_size[0], camera_size[1], dc.ravel()[:5])
    projector = Intrinsics.from_K(Kp, projector_size[0], projector_size[1], dp.ravel()[:5])
    return CalibrationResult(SLCalibration(camera, projector, R, T.ravel()), float(rms_c), float(rms_p),
                             float(rms_s), len(camera_corners))
