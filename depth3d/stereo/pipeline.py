"""Rectify -> match -> depth -> cloud in one object, with maps and matchers built once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth3d.stereo.calibration import StereoCalibration
from depth3d.stereo.depth import CloudMaker, depth_from_calibration
from depth3d.stereo.matching import MatcherConfig, StereoMatcher
from depth3d.stereo.rectify import Rectifier


@dataclass
class StereoResult:
    """Output of :class:`StereoPipeline` for one pair.

    left_rect, right_rect: rectified inputs (H, W[, 3]) uint8. disparity: (H, W) float32 pixels, 0 invalid.
    depth: (H, W) float32 in calibration units (metres for metric calibrations), 0 invalid.
    points: (N, 3) float32 rectified-left-camera frame (x right, y down, z forward) or None;
    colors: (N, 3) float32 0..1 RGB or None.
    """

    left_rect: np.ndarray
    right_rect: np.ndarray
    disparity: np.ndarray
    depth: np.ndarray
    points: np.ndarray | None = None
    colors: np.ndarray | None = None


class StereoPipeline:
    """Depth from a calibrated stereo pair.

    Args:
        calib: calibration; alpha: rectification alpha override (None keeps the file's).
        matcher: :class:`MatcherConfig` or None for defaults; max_depth: depths beyond are masked (units of
            the calibration); rectify: False when the inputs are already rectified (simulator, RealSense IR).
    """

    def __init__(self, calib: StereoCalibration, matcher: MatcherConfig | None = None, alpha: float | None = None,
                 max_depth: float | None = None, rectify: bool = True) -> None:
        self.rectifier = Rectifier(calib, alpha) if rectify else None
        self.calib = self.rectifier.calib if rectify else calib
        self.matcher = StereoMatcher(matcher)
        self.max_depth = max_depth
        self.intrinsics = self.calib.rectified_intrinsics()
        self.cloud_maker = CloudMaker(self.intrinsics)

    def __call__(self, left: np.ndarray, right: np.ndarray, cloud: bool = True, stride: int = 1) -> StereoResult:
        """Run on raw (or, with ``rectify=False``, rectified) uint8 grey/BGR images of the calibrated size."""
        import cv2

        if self.rectifier is not None:
            lr, rr = self.rectifier(left, right)
        else:
            lr, rr = left, right
        gl = cv2.cvtColor(lr, cv2.COLOR_BGR2GRAY) if lr.ndim == 3 else lr
        gr = cv2.cvtColor(rr, cv2.COLOR_BGR2GRAY) if rr.ndim == 3 else rr
        disp = self.matcher(gl, gr)
        depth = depth_from_calibration(disp, self.calib, max_depth=self.max_depth)
        res = StereoResult(lr, rr, disp, depth)
        if cloud:
            res.points, res.colors = self.cloud_maker(depth, lr[..., ::-1] if lr.ndim == 3 else lr, stride)
        return res


def colorize(values: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Colour-map a disparity/depth image (0 = invalid, drawn black): (H, W, 3) uint8 BGR (TURBO)."""
    import cv2

    v = np.asarray(values, np.float32)
    valid = v > 0
    if not valid.any():
        return np.zeros(v.shape + (3,), np.uint8)
    lo = float(np.percentile(v[valid], 1)) if vmin is None else vmin
    hi = float(np.percentile(v[valid], 99)) if vmax is None else vmax
    n = np.clip((v - lo) / max(hi - lo, 1e-9), 0, 1)
    out = cv2.applyColorMap((n * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
    out[~valid] = 0
    return out
