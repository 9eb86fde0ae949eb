"""Decoding structured-light captures into projector coordinates, and triangulation to depth.

Input: camera images (H, W) uint8/uint16/float of the patterns of a :class:`~.patterns.PatternSet`, keyed by
pattern name. Output per camera pixel: projector column (and row), continuous, in projector pixels, with a
validity mask (lit by the projector, not in shadow, every code bit reliable).

* Shadow / unlit mask: ``white - black > min_contrast``.
* Each Gray-code bit: ``pattern > inverse``; a bit is unreliable where ``|pattern - inverse| < min_bit_contrast``.
* Gray -> binary by lookup table: integer column, exact to +-1 column.
* Phase shift (pixels where a uint8 phase image saturates at 255 keep the Gray column): ``phi = atan2(-sum I_k sin t_k, sum I_k cos t_k)`` gives ``u mod P`` with sub-pixel precision;
  the period index is chosen so that the result lies nearest the Gray-code column (robust to a one-column
  Gray error as long as it stays within half a period).

Triangulation (:func:`triangulate_columns`): the camera ray of each pixel meets the plane of its projector
column (the plane through the projector centre that contains the projector's column ``u``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth3d.core.intrinsics import Intrinsics
from depth3d.structured_light._jsonfile import JsonFile
from depth3d.structured_light.patterns import PatternSet, gray_decode_table


@dataclass
class SLCalibration(JsonFile):
    """Camera-projector calibration.

    Attributes:
        camera: camera intrinsics.
        projector: projector intrinsics (a projector is modelled as an inverse camera; distortion ignored
            in triangulation).
        R: (3, 3) rotation, t: (3,) translation (metres) of the camera -> projector transform:
            ``X_projector = R @ X_camera + t`` (both frames x right, y down, z forward).
    """

    json_what = "structured-light calibration"
    camera: Intrinsics
    projector: Intrinsics
    R: np.ndarray
    t: np.ndarray

    def __post_init__(self) -> None:
        self.R = np.asarray(self.R, np.float64).reshape(3, 3)
        self.t = np.asarray(self.t, np.float64).reshape(3)

    @property
    def baseline(self) -> float:
        """Distance between the camera and projector centres (metres)."""
        return float(np.linalg.norm(self.R.T @ self.t))

    def to_dict(self) -> dict:
        return {"format": "depth3d.sl_calibration", "version": 1, "camera": self.camera.to_dict(),
                "projector": self.projector.to_dict(), "R": self.R.tolist(), "t": self.t.tolist()}

    @classmethod
    def from_dict(cls, d: dict, source: str = "calibration") -> "SLCalibration":
        try:
            return cls(Intrinsics.from_dict(d["camera"], source), Intrinsics.from_dict(d["projector"], source),
                       np.asarray(d["R"], np.float64), np.asarray(d["t"], np.float64))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: not a structured-light calibration ({exc}); expected keys camera, "
                             "projector (intrinsics), R (3x3), t (3) of camera -> projector") from None



@dataclass
class SLDecoding:
    """Decoded projector coordinates (H, W camera pixels).

    column: float32 projector column (pixels, continuous with phase shift, integer with Gray code alone),
        NaN where invalid. column_gray: int32 Gray-code column (-1 invalid).
    row, row_gray: the same for rows (None without row patterns).
    valid: bool lit, unshadowed and reliably decoded. lit: bool ``white - black > min_contrast``.
    contrast: float32 ``white - black``.
    """

    column: np.ndarray
    column_gray: np.ndarray
    valid: np.ndarray
    lit: np.ndarray
    contrast: np.ndarray
    row: np.ndarray | None = None
    row_gray: np.ndarray | None = None


def _f32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).astype(np.float32, copy=False)


def _decode_axis(images: dict, axis: str, code, size: int, lit: np.ndarray, min_bit_contrast: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    names = code.names(axis)
    n = code.bits
    val = np.zeros(lit.shape, np.int32)
    ok = lit.copy()
    thr = min_bit_contrast
    for b in range(n):
        p = images[names[2 * b]]
        q = images[names[2 * b + 1]]
        if p.dtype == np.uint8:
            bit = p > q
            if thr > 0:
                ok &= (np.maximum(p, q) - np.minimum(p, q)) >= np.uint8(min(thr, 255))
        else:
            pf, qf = _f32(p), _f32(q)
            bit = pf > qf
            if thr > 0:
                ok &= np.abs(pf - qf) >= np.float32(thr)
        val <<= 1
        val |= bit
    if code.code == "gray":
        val = gray_decode_table(n)[val]
    ok &= val < size
    gray_col = np.where(ok, val, -1).astype(np.int32)
    if code.steps:
        ks = [_f32(images[f"{axis}_phase_{k}"]) for k in range(code.steps)]
        if code.steps == 4:
            c = ks[0] - ks[2]
            s = ks[1] - ks[3]
        else:
            th = 2 * np.pi * np.arange(code.steps) / code.steps
            c = sum(np.float32(np.cos(t)) * k for t, k in zip(th, ks))
            s = sum(np.float32(np.sin(t)) * k for t, k in zip(th, ks))
        # I_k = A + B cos(phi + t_k): sum I_k cos t_k = N/2 B cos(phi), sum I_k sin t_k = -N/2 B sin(phi)
        phi = np.arctan2(-s, c)
        period = np.float32(code.period)
        frac = phi * (period / np.float32(2 * np.pi))  # in (-P/2, P/2]
        g = val.astype(np.float32)
        col = frac + period * np.rint((g - frac) / period)
        raw = [images[f"{axis}_phase_{k}"] for k in range(code.steps)]
        if raw[0].dtype == np.uint8:  # clipped sinusoids give a biased phase: fall back to the Gray column
            sat = np.maximum.reduce(raw) == 255
            col = np.where(sat, g, col)
        col = np.where(ok, col, np.float32(np.nan)).astype(np.float32)
    else:
        col = np.where(ok, val.astype(np.float32), np.float32(np.nan))
    return col, gray_col, ok


def decode_captures(images: dict[str, np.ndarray], patterns: PatternSet, *, min_contrast: float = 6.0,
                    min_bit_contrast: float = 0.0) -> SLDecoding:
    """Decode camera captures of a pattern set into projector coordinates.

    Args:
        images: pattern name -> (H, W) camera image (uint8, uint16 or float; all the same size), every
            name of ``patterns.names()`` present.
        patterns: the projected :class:`PatternSet`.
        min_contrast: shadow mask threshold on ``white - black`` (image units).
        min_bit_contrast: a code bit is unreliable (pixel invalid) where ``|pattern - inverse|`` is smaller.

    Returns:
        :class:`SLDecoding`.
    """
    names = patterns.names()
    missing = [n for n in names if n not in images]
    if missing:
        raise ValueError(f"structured-light decode: missing capture(s) {missing[:4]}{'...' if len(missing) > 4 else ''} "
                         f"of the {len(names)} patterns")
    shape = np.asarray(images["white"]).shape
    for n in names:
        if np.asarray(images[n]).shape != shape or np.asarray(images[n]).ndim != 2:
            raise ValueError(f"structured-light decode: capture {n!r} is {np.asarray(images[n]).shape}, expected "
                             f"{shape} single-channel like 'white'")
    contrast = _f32(images["white"]) - _f32(images["black"])
    lit = contrast > np.float32(min_contrast)
    col, colg, ok = _decode_axis(images, "col", patterns.columns, patterns.width, lit, min_bit_contrast)
    row = rowg = None
    valid = ok
    if patterns.rows is not None:
        row, rowg, okr = _decode_axis(images, "row", patterns.rows, patterns.height, lit, min_bit_contrast)
        valid = ok & okr
    return SLDecoding(column=col, column_gray=colg, valid=valid, lit=lit, contrast=contrast, row=row,
                      row_gray=rowg)


_RAY_CACHE: dict = {}


def _rotated_rays(calib: SLCalibration) -> np.ndarray:
    key = (calib.camera, calib.R.tobytes())
    out = _RAY_CACHE.get(key)
    if out is None:
        xy = calib.camera.ray_map()
        r = np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], axis=-1)
        a = r @ calib.R.T  # R r per pixel
        out = (a[..., 0].astype(np.float32), a[..., 2].astype(np.float32))
        if len(_RAY_CACHE) > 8:
            _RAY_CACHE.clear()
        _RAY_CACHE[key] = out
    return out


def triangulate_columns(column: np.ndarray, calib: SLCalibration, min_depth: float = 0.05,
                        max_depth: float = 100.0) -> np.ndarray:
    """Planar depth (H, W) float32 metres (camera frame, z forward; 0 where invalid) from the projector
    column of every camera pixel (NaN = invalid) by ray-plane intersection.

    The plane of projector column ``u`` in the projector frame is ``x - k z = 0`` with
    ``k = (u - cx_p) / fx_p``; the camera ray ``s (x_n, y_n, 1)`` (normalised coordinates, distortion
    removed) maps to ``s R r + t``, so ``s = -(t_x - k t_z) / ((R r)_x - k (R r)_z)`` and depth = s.
    """
    col = np.asarray(column, np.float32)
    if col.shape != (calib.camera.height, calib.camera.width):
        raise ValueError(f"column map is {col.shape[1]}x{col.shape[0]} but the camera is "
                         f"{calib.camera.width}x{calib.camera.height}")
    ax, az = _rotated_rays(calib)
    k = (col - np.float32(calib.projector.cx)) * np.float32(1.0 / calib.projector.fx)
    num = -(np.float32(calib.t[0]) - k * np.float32(calib.t[2]))
    den = ax - k * az
    with np.errstate(divide="ignore", invalid="ignore"):
        z = num / den
    good = np.isfinite(z) & (z > min_depth) & (z < max_depth)
    return np.where(good, z, np.float32(0)).astype(np.float32)
