"""Rectification: undistort + rotate both images so that epipolar lines are image rows.

The maps are computed once per calibration (``cv2.initUndistortRectifyMap``) in OpenCV's fixed-point form
(``CV_16SC2`` + ``CV_16UC1``), which ``cv2.remap`` applies about twice as fast as float maps.
"""

from __future__ import annotations

import numpy as np

from depth3d.stereo.calibration import StereoCalibration


class Rectifier:
    """Rectify left/right images of a calibrated pair.

    Args:
        calib: the calibration (its R1/R2/P1/P2 decide the rectified cameras).
        alpha: None keeps the calibration's rectification; a number recomputes it (0 = zoom in so that
            every output pixel is valid, 1 = keep every source pixel, black borders).
        interpolation: ``cv2.INTER_LINEAR`` (default) or another OpenCV interpolation flag.
        fixed_point: use fixed-point maps (fast); False keeps float32 maps (exact, slower).
    """

    def __init__(self, calib: StereoCalibration, alpha: float | None = None, interpolation: int | None = None,
                 fixed_point: bool = True) -> None:
        import cv2

        if alpha is not None and alpha != calib.alpha:
            calib = calib.rectified(alpha)
        self.calib = calib
        self.size = tuple(int(s) for s in calib.image_size)
        self.interpolation = cv2.INTER_LINEAR if interpolation is None else interpolation
        m1type = cv2.CV_16SC2 if fixed_point else cv2.CV_32FC1
        self.map_left = cv2.initUndistortRectifyMap(calib.K1, calib.D1, calib.R1, calib.P1, self.size, m1type)
        self.map_right = cv2.initUndistortRectifyMap(calib.K2, calib.D2, calib.R2, calib.P2, self.size, m1type)

    def _check(self, image: np.ndarray, side: str) -> None:
        if image.shape[1] != self.size[0] or image.shape[0] != self.size[1]:
            raise ValueError(f"{side} image is {image.shape[1]}x{image.shape[0]} but the calibration is for "
                             f"{self.size[0]}x{self.size[1]}")

    def rectify_left(self, image: np.ndarray) -> np.ndarray:
        """Rectified left image, same size/dtype/channels as the input (H, W[, C])."""
        import cv2

        self._check(image, "left")
        return cv2.remap(image, self.map_left[0], self.map_left[1], self.interpolation)

    def rectify_right(self, image: np.ndarray) -> np.ndarray:
        """Rectified right image, same size/dtype/channels as the input (H, W[, C])."""
        import cv2

        self._check(image, "right")
        return cv2.remap(image, self.map_right[0], self.map_right[1], self.interpolation)

    def __call__(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rectify a pair; returns (left_rect, right_rect)."""
        return self.rectify_left(left), self.rectify_right(right)

    def rectify_points(self, points: np.ndarray, side: str = "left") -> np.ndarray:
        """Map (N, 2) or (N, 1, 2) pixel coordinates of the raw image to the rectified image (N, 2) float64."""
        import cv2

        c = self.calib
        K, D, R, P = (c.K1, c.D1, c.R1, c.P1) if side == "left" else (c.K2, c.D2, c.R2, c.P2)
        pts = np.asarray(points, np.float64).reshape(-1, 1, 2)
        return cv2.undistortPoints(pts, K, D, R=R, P=P).reshape(-1, 2)


def draw_rectification(left_rect: np.ndarray, right_rect: np.ndarray, spacing: int = 16,
                       points: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Side-by-side picture of a rectified pair with horizontal lines every ``spacing`` rows.

    Matching features must lie on the same line in both halves. ``points`` (optional): rectified (N, 2)
    left and right positions of the same features (e.g. board corners), drawn as circles with the row
    difference printed. Returns (H, 2W, 3) uint8 BGR.
    """
    import cv2

    def bgr(im):
        return cv2.cvtColor(im, cv2.COLOR_GRAY2BGR) if im.ndim == 2 else im.copy()

    out = np.hstack([bgr(left_rect), bgr(right_rect)])
    h, w = left_rect.shape[:2]
    for i, y in enumerate(range(spacing // 2, h, spacing)):
        color = (0, 255, 0) if i % 2 == 0 else (0, 200, 255)
        cv2.line(out, (0, y), (2 * w - 1, y), color, 1, cv2.LINE_AA)
    if points is not None:
        pl, pr = (np.asarray(p, np.float64).reshape(-1, 2) for p in points)
        for a, b in zip(pl, pr):
            cv2.circle(out, (int(round(a[0])), int(round(a[1]))), 2, (0, 0, 255), -1, cv2.LINE_AA)
            cv2.circle(out, (int(round(b[0])) + w, int(round(b[1]))), 2, (0, 0, 255), -1, cv2.LINE_AA)
        dy = float(np.mean(np.abs(pl[:, 1] - pr[:, 1]))) if len(pl) else float("nan")
        cv2.putText(out, f"mean |row L - row R| = {dy:.3f} px", (5, h - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return out
