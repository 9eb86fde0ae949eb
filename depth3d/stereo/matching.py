"""Disparity from a rectified pair: OpenCV StereoSGBM / StereoBM with checks, filters and sub-pixel refinement.

Disparity convention: float32 pixels, ``x_left - x_right`` of the same scene point in the rectified images;
invalid pixels are 0 (disparity 0 would be infinitely far, so it never means a real surface here).
OpenCV's matchers return fixed point (value * 16, int16); :func:`from_fixed_point` is the one place that
converts it.

Left-right consistency: SGBM does it internally (``disp12MaxDiff``: it compares with the right view's
disparity it gets for free from the same cost volume); for BM we match the mirrored pair to get the right
disparity and compare (:func:`left_right_check`).

Edge-aware filtering: opencv-contrib's ``ximgproc`` (``DisparityWLSFilter``) is not part of opencv-python, so
:func:`edge_aware_fill` gives a simple alternative: a confidence-weighted guided filter (He et al. 2010) of
the disparity with the left image as guide, which fills holes and smooths inside regions without crossing
strong image edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def from_fixed_point(disp16: np.ndarray, min_disparity: int = 0) -> np.ndarray:
    """OpenCV int16 fixed-point disparity (value * 16) -> float32 pixels; invalid (< min_disparity) -> 0."""
    d = disp16.astype(np.float32)
    d *= np.float32(1.0 / 16.0)
    d[disp16 < max(min_disparity, 0) * 16 + 1] = 0.0  # also drops 0 (at infinity) and OpenCV's negative fills
    return d


def default_num_disparities(width: int) -> int:
    """A sensible disparity range for an image width: width / 5 rounded up to a multiple of 16, 16..256."""
    return int(np.clip(int(np.ceil(width / 5 / 16.0)) * 16, 16, 256))


def default_block_size(width: int, method: str = "sgbm") -> int:
    """Odd block size by resolution: SGBM 3 (<= 400 px wide), 5 (<= 1000), 7; BM 9 / 15 / 21."""
    if method == "bm":
        return 9 if width <= 400 else 15 if width <= 1000 else 21
    return 3 if width <= 400 else 5 if width <= 1000 else 7


@dataclass
class MatcherConfig:
    """Matcher settings. ``None`` picks the default for the image width (see the default_* functions).

    method: "sgbm" (semi-global, 5-direction ``MODE_SGBM``; "sgbm3way" / "hh" pick the other modes) or "bm".
    num_disparities: disparity search range in pixels (multiple of 16); min_disparity: start of the range.
    block_size: matching window (odd). uniqueness: percent margin of the best cost over the second best.
    lr_check: max left-right disagreement in pixels (-1 disables). speckle_window / speckle_range: remove
    connected blobs smaller than ``speckle_window`` pixels whose disparity varies by <= ``speckle_range``.
    subpixel: extra iterations of gradient-based (Lucas-Kanade-style) sub-pixel refinement on top of
    OpenCV's 1/16 parabola fit (0 disables). edge_aware: radius of the edge-aware hole filling (0 disables).
    """

    method: str = "sgbm"
    num_disparities: int | None = None
    min_disparity: int = 0
    block_size: int | None = None
    uniqueness: int = 10
    lr_check: int = 1
    speckle_window: int = 100
    speckle_range: int = 2
    subpixel: int = 0
    subpixel_window: int = 7
    edge_aware: int = 0


class StereoMatcher:
    """Compute float disparity from rectified grey (or BGR) images.

    Example::

        m = StereoMatcher(MatcherConfig(method="sgbm", num_disparities=128))
        disparity = m(left_rect, right_rect)   # (H, W) float32 pixels, 0 = invalid
    """

    def __init__(self, config: MatcherConfig | None = None, **overrides) -> None:
        from depth3d.core.validate import apply_overrides

        cfg = apply_overrides(config or MatcherConfig(), overrides, "matcher")
        if cfg.method not in ("sgbm", "sgbm3way", "hh", "bm"):
            raise ValueError(f"matcher method must be sgbm, sgbm3way, hh or bm, got {cfg.method!r}")
        if cfg.num_disparities is not None and (cfg.num_disparities <= 0 or cfg.num_disparities % 16):
            raise ValueError(f"num_disparities must be a positive multiple of 16, got {cfg.num_disparities}")
        self.config = cfg
        self._width = None
        self._left = None
        self._right = None

    def _build(self, width: int, channels: int) -> None:
        import cv2

        cfg = self.config
        nd = cfg.num_disparities or default_num_disparities(width)
        bs = cfg.block_size or default_block_size(width, "bm" if cfg.method == "bm" else "sgbm")
        if cfg.method == "bm":
            m = cv2.StereoBM_create(numDisparities=nd, blockSize=bs)
            m.setMinDisparity(cfg.min_disparity)
            m.setUniquenessRatio(cfg.uniqueness)
            m.setSpeckleWindowSize(cfg.speckle_window)
            m.setSpeckleRange(cfg.speckle_range * 16)
            m.setTextureThreshold(10)
            m.setPreFilterCap(31)
            m.setDisp12MaxDiff(-1)  # BM's own check is weak; done explicitly below
        else:
            mode = {"sgbm": cv2.STEREO_SGBM_MODE_SGBM, "sgbm3way": cv2.STEREO_SGBM_MODE_SGBM_3WAY,
                    "hh": cv2.STEREO_SGBM_MODE_HH}[cfg.method]
            m = cv2.StereoSGBM_create(minDisparity=cfg.min_disparity, numDisparities=nd, blockSize=bs,
                                      P1=8 * channels * bs * bs, P2=32 * channels * bs * bs,
                                      disp12MaxDiff=cfg.lr_check, preFilterCap=63,
                                      uniquenessRatio=cfg.uniqueness, speckleWindowSize=cfg.speckle_window,
                                      speckleRange=cfg.speckle_range, mode=mode)
        self._left = m
        self._width = (width, channels)
        self.num_disparities = nd
        self.block_size = bs

    def compute_fixed(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Raw OpenCV output: (H, W) int16 disparity * 16 (SGBM/BM semantics)."""
        channels = 1 if left.ndim == 2 else left.shape[2]
        if self.config.method == "bm" and channels != 1:
            raise ValueError("StereoBM needs grey images; convert with cv2.cvtColor first")
        if self._width != (left.shape[1], channels):
            self._build(left.shape[1], channels)
        return self._left.compute(left, right)

    def __call__(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Disparity of a rectified pair.

        Args:
            left, right: (H, W) uint8 grey (or (H, W, 3) uint8 BGR for SGBM), rectified.
        Returns:
            (H, W) float32 disparity in pixels, 0 where invalid.
        """
        import cv2

        if left.shape != right.shape:
            raise ValueError(f"left image is {left.shape} but right image is {right.shape}")
        cfg = self.config
        disp = from_fixed_point(self.compute_fixed(left, right), cfg.min_disparity)
        if cfg.method == "bm" and cfg.lr_check >= 0:
            disp_r = from_fixed_point(
                self._left.compute(np.ascontiguousarray(right[:, ::-1]), np.ascontiguousarray(left[:, ::-1])),
                cfg.min_disparity)[:, ::-1]
            disp = left_right_check(disp, np.ascontiguousarray(disp_r), max(cfg.lr_check, 1))
            if cfg.speckle_window > 0:
                d16 = (disp * 16).astype(np.int16)
                cv2.filterSpeckles(d16, 0, cfg.speckle_window, cfg.speckle_range * 16)
                disp[d16 == 0] = 0.0
        if cfg.subpixel > 0:
            disp = refine_subpixel(left, right, disp, cfg.subpixel, cfg.subpixel_window)
        if cfg.edge_aware > 0:
            disp = edge_aware_fill(disp, left, cfg.edge_aware)
        return disp


def left_right_check(disp_left: np.ndarray, disp_right: np.ndarray, max_diff: float = 1.0) -> np.ndarray:
    """Invalidate left disparities that the right view does not confirm.

    disp_left: (H, W) float32, left view (x_r = x - d); disp_right: (H, W) float32 right view (x_l = x + d).
    Returns a copy of ``disp_left`` with 0 where ``|d_L(x) - d_R(x - d_L(x))| > max_diff``.
    """
    h, w = disp_left.shape
    xs = np.arange(w, dtype=np.float32)[None, :]
    xr = np.rint(xs - disp_left).astype(np.int32)
    ok = (disp_left > 0) & (xr >= 0) & (xr < w)
    rows = np.broadcast_to(np.arange(h)[:, None], (h, w))
    dr = disp_right[rows, np.clip(xr, 0, w - 1)]
    ok &= np.abs(dr - disp_left) <= max_diff
    out = disp_left.copy()
    out[~ok] = 0.0
    return out


def refine_subpixel(left: np.ndarray, right: np.ndarray, disp: np.ndarray, iterations: int = 1,
                    window: int = 7) -> np.ndarray:
    """Gauss-Newton refinement of a float disparity (1-D Lucas-Kanade along rows over a ``window`` box).

    Removes the "pixel locking" bias of cost-curve interpolation. Each step warps the right image by the
    current disparity and solves ``delta = -sum(e * g) / sum(g * g)`` per pixel (e = L - R_warped,
    g = d R_warped / dx); steps are clamped to +-0.5 px and invalid pixels stay 0.
    """
    import cv2

    def grey(im):
        im = cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) if im.ndim == 3 else im
        return im.astype(np.float32)

    L, Rimg = grey(left), grey(right)
    h, w = disp.shape
    valid = disp > 0
    xs = np.arange(w, dtype=np.float32)[None, :].repeat(h, 0)
    ys = np.arange(h, dtype=np.float32)[:, None].repeat(w, 1)
    gx_r = cv2.Sobel(Rimg, cv2.CV_32F, 1, 0, ksize=1, scale=0.5)
    d = disp.copy()
    for _ in range(iterations):
        mapx = xs - d
        rw = cv2.remap(Rimg, mapx, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        g = cv2.remap(gx_r, mapx, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        e = L - rw
        num = cv2.boxFilter(e * g, -1, (window, window), normalize=False)
        den = cv2.boxFilter(g * g, -1, (window, window), normalize=False)
        # R_w(x) = R(x - d): dR_w/dd = -g, so the linearised residual is e + g * delta
        delta = np.where(den > 1e-3, -num / np.maximum(den, 1e-3), 0.0).astype(np.float32)
        d = d + np.clip(delta, -0.5, 0.5)
    d[~valid] = 0.0
    d[d <= 0] = 0.0
    return d


def _box(a: np.ndarray, r: int) -> np.ndarray:
    import cv2

    return cv2.boxFilter(a, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def edge_aware_fill(disp: np.ndarray, guide: np.ndarray, radius: int = 8, eps: float = 1e-3,
                    fill_only: bool = True) -> np.ndarray:
    """Confidence-weighted guided filter of the disparity (edge-aware hole filling / smoothing).

    disp: (H, W) float32, 0 = invalid; guide: (H, W) uint8 grey or (H, W, 3) BGR left image.
    ``fill_only`` keeps measured disparities and only fills holes; False replaces every pixel by the
    filtered value. Pixels with no valid neighbour within ``radius`` stay 0.
    """
    import cv2

    I = (cv2.cvtColor(guide, cv2.COLOR_BGR2GRAY) if guide.ndim == 3 else guide).astype(np.float32) / 255.0
    m = (disp > 0).astype(np.float32)
    # normalised convolution inside the guided filter: statistics over valid pixels only
    n = _box(m, radius)
    safe = np.maximum(n, 1e-6)
    mean_I = _box(I * m, radius) / safe
    mean_p = _box(disp * m, radius) / safe
    cov_Ip = _box(I * disp * m, radius) / safe - mean_I * mean_p
    var_I = _box(I * I * m, radius) / safe - mean_I * mean_I
    a = cov_Ip / (var_I + eps)
    b = mean_p - a * mean_I
    mean_a = _box(a * (n > 0), radius) / np.maximum(_box((n > 0).astype(np.float32), radius), 1e-6)
    mean_b = _box(b * (n > 0), radius) / np.maximum(_box((n > 0).astype(np.float32), radius), 1e-6)
    q = (mean_a * I + mean_b).astype(np.float32)
    q[(n < 1e-3) | (q <= 0)] = 0.0
    if fill_only:
        return np.where(disp > 0, disp, q).astype(np.float32)
    return q
