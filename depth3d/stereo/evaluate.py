"""Accuracy of stereo depth against exact ground truth (simulator)."""

from __future__ import annotations

import numpy as np


def matchable_mask(gt_disparity: np.ndarray, num_disparities: int, min_disparity: int = 0) -> np.ndarray:
    """(H, W) bool: pixels with ground truth that a matcher can be asked to match.

    Excludes pixels without a surface, pixels occluded in (or outside) the right image, and the left band
    ``x < min_disparity + num_disparities - 1`` where OpenCV's matchers cannot search the whole range.
    Occlusion: a left pixel is hidden in the right view when a pixel further right on the same row lands on
    the same or a smaller right-image column (it is nearer and covers it).
    """
    d = np.asarray(gt_disparity, np.float64)
    h, w = d.shape
    x = np.arange(w, dtype=np.float64)[None, :]
    xr = np.where(d > 0, x - d, np.inf)
    # minimum of xr over the pixels strictly to the right
    rev_min = np.minimum.accumulate(xr[:, ::-1], axis=1)[:, ::-1]
    right_min = np.concatenate([rev_min[:, 1:], np.full((h, 1), np.inf)], axis=1)
    visible = xr < right_min - 0.5
    band = x >= (min_disparity + num_disparities - 1)
    return (d > 0) & visible & (xr >= 0) & band & (d < min_disparity + num_disparities)


def error_table(depth: np.ndarray, gt_depth: np.ndarray, mask: np.ndarray,
                edges: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0)) -> list[dict]:
    """Per ground-truth-depth bin: pixels, valid fraction, median |error| (m) and relative (% of depth).

    depth, gt_depth: (H, W) float32 metres (0 = invalid); mask: pixels to score (see matchable_mask).
    """
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = mask & (gt_depth >= lo) & (gt_depth < hi)
        n = int(m.sum())
        if n == 0:
            continue
        v = m & (depth > 0)
        err = np.abs(depth[v] - gt_depth[v])
        rel = err / gt_depth[v]
        rows.append({"bin": f"{lo:.2f}-{hi:.2f}", "pixels": n, "valid": float(v.sum()) / n,
                     "median_abs_m": float(np.median(err)) if len(err) else float("nan"),
                     "median_rel": float(np.median(rel)) if len(rel) else float("nan"),
                     "p90_rel": float(np.percentile(rel, 90)) if len(rel) else float("nan")})
    return rows
