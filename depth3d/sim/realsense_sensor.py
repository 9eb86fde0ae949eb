"""A RealSense-like active-stereo depth camera (Intel RealSense D435 defaults) on top of exact renders.

What it reproduces, from a :class:`~depth3d.sim.render.RenderResult` (exact depth, normals, albedo):

* **Noise growing with distance squared.** Stereo depth is ``z = f B / d`` for disparity ``d`` (pixels).
  The matcher's disparity error is Gaussian with RMS ``subpixel`` pixels, so to first order

      sigma_z(z) = z**2 * subpixel / (f * B)

  with ``f`` the depth camera's focal length in pixels (``intrinsics.fx``) and ``B`` the baseline in metres.
  Defaults: ``subpixel = 0.08`` px, ``B = 0.050`` m (D435); at 640x480 ``f = 383`` px, so
  sigma_z = 4.18 mm at 1 m, 16.7 mm at 2 m, 66.8 mm at 4 m.
  The noise is applied in disparity (``d' = d + N(0, subpixel**2)``, ``z' = f B / d'``), as a stereo
  matcher would, which follows the law above to first order.
* **Quantisation** to the depth unit: uint16 raw depth, ``depth_scale = 0.001`` m (1 mm).
* **Range limits:** depth outside ``[min_z, max_z]`` reads 0.
* **Stereo shadow:** points the right imager (``B`` to the right of the left imager, which is the depth
  origin) cannot see read 0: the invalid band left of near objects that real active-stereo cameras show.
* **Edge dropouts:** pixels at depth discontinuities (relative jump above ``edge_threshold`` to a
  4-neighbour) drop out with probability ``edge_dropout``.
* **Holes:** random blobs covering ``hole_fraction`` of the image (specular/low-texture failures), dark
  surfaces (albedo luminance below ``dark_albedo``: the projector's dots are not seen) and grazing surfaces
  (angle between ray and normal above ``grazing_deg``).
* **Disparity steps** (off by default; Kinect v1 / structured-light cameras: ``disparity_step = 1/8`` px):
  the noisy disparity is rounded to multiples of ``disparity_step``, giving depth layers that spread with
  distance.
* **Flying pixels** (off by default): a share ``flying_pixels`` of the discontinuity pixels that do not drop
  out read a depth drawn uniformly between the near and far side of the edge (the mixed pixels of
  time-of-flight and smoothed stereo depth).
* **Colour:** the shaded render with Gaussian pixel noise (``color_noise`` 8-bit levels), registered to
  depth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from depth3d.core.intrinsics import Intrinsics

#: D435 depth focal length (pixels) at 640x480; scales with the image width
D435_FX_640 = 383.0


def d435_intrinsics(width: int = 640, height: int = 480) -> Intrinsics:
    """D435-like depth intrinsics (pinhole, fx = fy = 383 px at 640x480, scaled with ``width``; principal
    point at the image centre)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"d435_intrinsics: width and height must be positive, got {width}x{height}")
    f = D435_FX_640 * width / 640.0
    return Intrinsics(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)


@dataclass
class RealSenseModel:
    """Parameters of the RealSense-like depth camera (defaults: D435). Lengths in metres.

    Attributes:
        baseline: stereo baseline B, metres (D435: 0.050).
        subpixel: RMS disparity error, pixels (0.08).
        depth_unit: metres per raw depth unit (0.001).
        min_z, max_z: valid depth range, metres (0.2, 10.0).
        edge_threshold: relative depth jump marking a discontinuity (0.04 = 4 %).
        edge_dropout: probability that a discontinuity pixel reads 0 (0.6).
        hole_fraction: fraction of the image covered by random hole blobs (0.01).
        hole_scale: blob size in pixels (about 20).
        dark_albedo: albedo luminance under which depth is lost (0.05).
        grazing_deg: angle between ray and surface normal over which depth is lost (82 degrees).
        shadow: drop points the right imager cannot see (True).
        color_noise: colour noise RMS in 8-bit levels (2.0).
        disparity_step: disparity quantisation step, pixels (0 = none).
        flying_pixels: share of kept discontinuity pixels that read a depth between the two sides (0).
    """

    baseline: float = 0.050
    subpixel: float = 0.08
    depth_unit: float = 0.001
    min_z: float = 0.2
    max_z: float = 10.0
    edge_threshold: float = 0.04
    edge_dropout: float = 0.6
    hole_fraction: float = 0.01
    hole_scale: float = 20.0
    dark_albedo: float = 0.05
    grazing_deg: float = 82.0
    shadow: bool = True
    color_noise: float = 2.0
    disparity_step: float = 0.0
    flying_pixels: float = 0.0

    def __post_init__(self) -> None:
        if self.baseline <= 0 or self.subpixel < 0 or self.depth_unit <= 0:
            raise ValueError(f"RealSenseModel: baseline and depth_unit must be > 0 and subpixel >= 0, got "
                             f"baseline={self.baseline}, subpixel={self.subpixel}, depth_unit={self.depth_unit}")
        if not 0 <= self.min_z < self.max_z:
            raise ValueError(f"RealSenseModel: need 0 <= min_z < max_z, got {self.min_z}, {self.max_z}")
        if self.disparity_step < 0:
            raise ValueError(f"RealSenseModel.disparity_step must be >= 0, got {self.disparity_step}")
        for name in ("edge_dropout", "hole_fraction", "flying_pixels"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"RealSenseModel.{name} must be in [0, 1], got {getattr(self, name)}")

    @classmethod
    def ideal(cls) -> "RealSenseModel":
        """No noise, no dropouts: only quantisation and range limits."""
        return cls(subpixel=0.0, edge_dropout=0.0, hole_fraction=0.0, dark_albedo=0.0, grazing_deg=90.0,
                   shadow=False, color_noise=0.0)

    def to_dict(self) -> dict:
        return asdict(self)

    def sigma_z(self, z: np.ndarray | float, fx: float) -> np.ndarray:
        """Stated depth noise RMS (metres) at depth ``z`` (metres): ``z**2 * subpixel / (fx * baseline)``."""
        return np.asarray(z, dtype=np.float64) ** 2 * self.subpixel / (fx * self.baseline)

    # ------------------------------------------------------------------ the sensor
    def noisy_depth(self, depth: np.ndarray, fx: float, rng: np.random.Generator) -> np.ndarray:
        """(H, W) float32 metres: exact depth with disparity noise (0 stays 0); no quantisation."""
        z = np.asarray(depth, dtype=np.float32)
        valid = z > 0
        fb = np.float32(fx * self.baseline)
        disp = np.where(valid, fb / np.where(valid, z, 1), 0).astype(np.float32)
        if self.subpixel > 0:
            disp = disp + rng.standard_normal(z.shape, dtype=np.float32) * np.float32(self.subpixel)
        if self.disparity_step > 0:
            step = np.float32(self.disparity_step)
            disp = np.round(disp / step) * step
        ok = valid & (disp > 1e-3)
        return np.where(ok, fb / np.where(ok, disp, 1), 0).astype(np.float32)

    def invalid_mask(self, render, intrinsics: Intrinsics, rng: np.random.Generator) -> np.ndarray:
        """(H, W) bool: pixels where the camera returns no depth (shadow, edges, holes, dark, grazing)."""
        z = render.depth
        h, w = z.shape
        bad = z <= 0
        if self.shadow:
            bad |= stereo_shadow(z, intrinsics.fx, self.baseline)
        if self.edge_dropout > 0:
            zp = np.pad(z, 1, mode="edge")
            jump = np.zeros_like(z)
            for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
                jump = np.maximum(jump, np.abs(zp[dy:dy + h, dx:dx + w] - z))
            edge = np.flatnonzero(jump > self.edge_threshold * np.maximum(z, 1e-3))
            drop = edge[rng.random(len(edge), dtype=np.float32) < self.edge_dropout]
            bad.reshape(-1)[drop] = True
        if self.hole_fraction > 0:
            bad |= random_blobs((h, w), self.hole_fraction, self.hole_scale, rng)
        if self.dark_albedo > 0 and render.albedo is not None:
            a = render.albedo
            lum = 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]
            bad |= lum < self.dark_albedo
        if self.grazing_deg < 90:
            cos = np.abs(np.einsum("hwc,hwc->hw", render.normals, render.rays))
            bad |= cos < np.cos(np.deg2rad(self.grazing_deg))
        return bad

    def apply(self, render, intrinsics: Intrinsics, rng: np.random.Generator,
              ) -> tuple[np.ndarray, np.ndarray | None]:
        """Turn an exact render into what the camera outputs.

        Args:
            render: :class:`~depth3d.sim.render.RenderResult` (depth, normals, rays; albedo and color if
                rendered with colour).
            intrinsics: the depth camera's intrinsics (``fx`` sets the noise).
            rng: random generator (the output is a pure function of its state).

        Returns:
            ``(depth, color)``: (H, W) uint16 raw depth (metres = value * ``depth_unit``, 0 = invalid) and
            (H, W, 3) uint8 RGB registered to depth (None when the render has no colour).
        """
        z = self.noisy_depth(render.depth, intrinsics.fx, rng)
        if self.flying_pixels > 0:
            z = self._fly(render.depth, z, rng)
        z[self.invalid_mask(render, intrinsics, rng)] = 0
        z[(z < self.min_z) | (z > self.max_z)] = 0
        raw = np.minimum(np.rint(z / np.float32(self.depth_unit)), 65535).astype(np.uint16)
        color = None
        if render.color is not None:
            if self.color_noise > 0:
                c = render.color.astype(np.float32) + rng.standard_normal(render.color.shape, dtype=np.float32) \
                    * np.float32(self.color_noise)
                color = np.clip(c + 0.5, 0, 255).astype(np.uint8)
            else:
                color = render.color.copy()
        return raw, color


    def _fly(self, exact: np.ndarray, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Flying pixels: a share of the discontinuity pixels of ``exact`` (H, W) metres get a depth drawn
        uniformly between the nearest and farthest valid 4-neighbour; returns the new (H, W) float32."""
        e = np.asarray(exact, np.float32)
        h, w = e.shape
        ep = np.pad(np.where(e > 0, e, np.nan), 1, mode="edge")
        nbs = np.stack([ep[dy:dy + h, dx:dx + w] for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2), (1, 1))])
        lo, hi = np.fmin.reduce(nbs, axis=0), np.fmax.reduce(nbs, axis=0)  # NaN (no depth) ignored
        with np.errstate(invalid="ignore"):
            edge = np.flatnonzero(((hi - lo) > self.edge_threshold * np.maximum(e, 1e-3)) & (e > 0) & (z > 0))
        pick = edge[rng.random(len(edge), dtype=np.float32) < self.flying_pixels]
        out = z.copy()
        u = rng.random(len(pick), dtype=np.float32)
        out.reshape(-1)[pick] = lo.reshape(-1)[pick] + u * (hi.reshape(-1)[pick] - lo.reshape(-1)[pick])
        return out


def stereo_shadow(depth: np.ndarray, fx: float, baseline: float) -> np.ndarray:
    """(H, W) bool: pixels of the left (depth) image that the right imager, ``baseline`` metres to the
    right (+x), cannot see because a nearer surface further right in the same row hides them.

    Rectified geometry: pixel u with disparity d maps to ``u - d`` in the right image; it is hidden when
    some pixel u' > u maps at or left of it (``u' - d' <= u - d - 0.5``).
    """
    z = np.asarray(depth, dtype=np.float32)
    h, w = z.shape
    valid = z > 0
    disp = np.where(valid, np.float32(fx * baseline) / np.where(valid, z, 1), 0)
    xr = np.arange(w, dtype=np.float32)[None, :] - disp
    xr = np.where(valid, xr, np.inf)
    # minimum of xr strictly to the right of each pixel
    rev_min = np.minimum.accumulate(xr[:, ::-1], axis=1)[:, ::-1]
    right_min = np.concatenate([rev_min[:, 1:], np.full((h, 1), np.inf, np.float32)], axis=1)
    return valid & (right_min <= xr - 0.5)


def random_blobs(shape: tuple[int, int], fraction: float, scale: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool mask of smooth random blobs covering about ``fraction`` of the image, blob size about
    ``scale`` pixels (thresholded upsampled Gaussian noise)."""
    import cv2

    h, w = shape
    if fraction <= 0:
        return np.zeros(shape, bool)
    gh, gw = max(2, int(np.ceil(h / scale))), max(2, int(np.ceil(w / scale)))
    field = rng.standard_normal((gh, gw)).astype(np.float32)
    up = cv2.resize(field, (w, h), interpolation=cv2.INTER_CUBIC)
    # threshold from a 1/16 sub-sample: the field is smooth, so its quantile is the full image's
    thr = np.quantile(up[::4, ::4], 1.0 - fraction)
    return up > thr
