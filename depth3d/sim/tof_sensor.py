"""A virtual amplitude-modulated continuous-wave (AMCW) time-of-flight camera.

It renders raw correlation frames, the input of :func:`depth3d.tof.decode.decode_tof`, from triangle-mesh
scenes (ray cast with :class:`depth3d.sim.render.SceneRenderer`). Per pixel and modulation frequency ``f``
the sensor sees the phasor sum of ``S x S`` sub-pixel returns (this is what produces *flying pixels*: at a
depth edge foreground and background returns mix into a phase between the two)::

    z_f = 1/S^2 sum_s a_s exp(i 4 pi f r_s / c) + multipath_f
    a_s = power * albedo_s * max(cos(incidence_s), 0) / r_s^2      (emitter beside the lens)
    C_k = ambient + dc_fraction * mean_s(a_s) + Re(z_f exp(i theta_k)),   theta_k = 2 pi k / N

then shot noise (Gaussian with variance ``C_k * shot_scale``, i.e. Poisson in electrons), read noise,
clipping to 16 bits. The multipath term is a simple diffuse second bounce: a wide Gaussian blur of the
direct phasor field taken at the doubled path length, times ``multipath`` (0 disables it).

Ground truth: radial range (metres along the pixel ray) and planar depth from the pixel-centre ray.
Coordinate frames: camera x right, y down, z forward, metres; world z up (see :mod:`depth3d.sim.render`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose
from depth3d.tof.decode import C_LIGHT

#: noise presets: (power, ambient, read_noise): power is the return (counts) of a white surface at 1 m
NOISE_LEVELS = {
    "none": dict(power=8000.0, ambient=0.0, read_noise=0.0, shot=False),
    "low": dict(power=8000.0, ambient=100.0, read_noise=2.0, shot=True),
    "medium": dict(power=4000.0, ambient=300.0, read_noise=4.0, shot=True),
    "high": dict(power=2000.0, ambient=600.0, read_noise=8.0, shot=True),
}


def tof_intrinsics(width: int = 640, height: int = 480, hfov_deg: float = 70.0) -> Intrinsics:
    """Pinhole intrinsics of a ToF sensor with horizontal field of view ``hfov_deg``."""
    fx = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
    return Intrinsics(width, height, fx, fx, (width - 1) / 2, (height - 1) / 2)


@dataclass
class ToFSensor:
    """Virtual AMCW ToF camera; see the module docstring for the signal model.

    Attributes:
        intrinsics: sensor intrinsics (default 640x480, 70 degrees horizontal FOV).
        frequencies_hz: modulation frequencies (default 100 and 80 MHz: each alone wraps at 1.50/1.87 m,
            together at c/(2*20 MHz) = 7.49 m).
        steps: phase steps per frequency (>= 3).
        power: return in counts of a white (albedo 1) surface at 1 m, normal incidence.
        ambient: ambient light in counts per sample.
        read_noise: read noise standard deviation (counts).
        shot: add shot noise (variance = signal in counts).
        dc_fraction: DC part of the return relative to its modulated amplitude.
        multipath: strength of the diffuse second-bounce term (0 = none).
        supersample: S, sub-pixel rays per axis (S*S per pixel; 1 disables mixed pixels).
        default_albedo: albedo used when the renderer gives none.
    """

    intrinsics: Intrinsics = field(default_factory=tof_intrinsics)
    frequencies_hz: Sequence[float] = (100e6, 80e6)
    steps: int = 4
    power: float = 8000.0
    ambient: float = 100.0
    read_noise: float = 2.0
    shot: bool = True
    dc_fraction: float = 1.0
    multipath: float = 0.0
    supersample: int = 2
    default_albedo: float = 0.6

    @classmethod
    def with_noise(cls, level: str, **kwargs) -> "ToFSensor":
        """A sensor with one of the :data:`NOISE_LEVELS` presets ("none", "low", "medium", "high")."""
        if level not in NOISE_LEVELS:
            raise ValueError(f"ToF noise level must be one of {sorted(NOISE_LEVELS)}, got {level!r}")
        return cls(**{**NOISE_LEVELS[level], **kwargs})

    def _subpixel_rays(self) -> np.ndarray:
        s = int(self.supersample)
        intr = self.intrinsics
        offs = (np.arange(s) + 0.5) / s - 0.5
        u = np.arange(intr.width)[None, :, None, None] + offs[None, None, None, :]
        v = np.arange(intr.height)[:, None, None, None] + offs[None, None, :, None]
        u, v = np.broadcast_arrays(u, v)  # (H, W, S, S)
        x, y = intr.pixel_to_normalized(u.ravel(), v.ravel())
        d = np.stack([x, y, np.ones_like(x)], axis=-1)
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        return d.reshape(intr.height, intr.width * s * s, 3).astype(np.float32)

    def render(self, scene, world_from_camera: Pose | None = None, rng: np.random.Generator | None = None
               ) -> dict:
        """Render one raw frame.

        Args:
            scene: a :class:`~depth3d.sim.render.SceneRenderer`, a :class:`~depth3d.sim.scene.Scene` or a
                list of trimesh meshes (world frame, metres).
            world_from_camera: sensor pose (identity: at the origin looking along +z).
            rng: numpy Generator for the noise (default: seeded 0).

        Returns:
            dict with ``frames`` (F, N, H, W) uint16 correlation samples, ``frequencies_hz`` (F,),
            ``phase_offsets`` (N,) radians, ``gt_range`` (H, W) float32 metres radial (0 = no hit),
            ``gt_depth`` (H, W) float32 planar metres, ``instance`` (H, W) int32, ``mixed`` (H, W) bool
            (sub-pixels hit different surfaces or depths more than 5 cm apart: depth-edge pixels),
            ``sub_depth`` (H, W, S*S) float32 planar depth of each sub-pixel return (0 = no hit); a decoded
            depth far from every one of them is a flying pixel (see :func:`flying_truth`).
        """
        from depth3d.sim.render import SceneRenderer

        if self.steps < 3:
            raise ValueError(f"ToFSensor.steps must be >= 3, got {self.steps}")
        renderer = scene if isinstance(scene, SceneRenderer) else SceneRenderer(scene)
        rng = rng or np.random.default_rng(0)
        intr = self.intrinsics
        h, w, s2 = intr.height, intr.width, int(self.supersample) ** 2
        centre = renderer.render(intr, world_from_camera, color=False)
        if s2 > 1:
            sub = renderer.render(intr, world_from_camera, rays=self._subpixel_rays(), color=True)
            r_s = sub.range.reshape(h, w, s2)
            cos_s = np.abs(np.einsum("hwc,hwc->hw", sub.normals, sub.rays)).reshape(h, w, s2)
            alb = sub.albedo.mean(axis=-1).reshape(h, w, s2) if sub.albedo is not None else \
                np.full((h, w, s2), self.default_albedo, np.float32)
            inst = sub.instance.reshape(h, w, s2)
            d_s = sub.depth.reshape(h, w, s2)
        else:
            sub = renderer.render(intr, world_from_camera, color=True)
            r_s = sub.range.reshape(h, w, 1)
            cos_s = np.abs(np.einsum("hwc,hwc->hw", sub.normals, sub.rays)).reshape(h, w, 1)
            alb = sub.albedo.mean(axis=-1).reshape(h, w, 1)
            inst = sub.instance.reshape(h, w, 1)
            d_s = sub.depth.reshape(h, w, 1)
        hit = r_s > 0
        a_s = np.where(hit, self.power * alb * cos_s / np.maximum(r_s, 1e-3) ** 2, 0.0).astype(np.float64)
        rmax = np.where(hit, r_s, -np.inf).max(axis=-1)
        rmin = np.where(hit, r_s, np.inf).min(axis=-1)
        mixed = ((inst != inst[..., :1]).any(axis=-1) | (rmax - rmin > 0.05)) & hit.any(axis=-1)
        n = self.steps
        theta = 2 * np.pi * np.arange(n) / n
        freqs = np.asarray(self.frequencies_hz, dtype=np.float64)
        dc = self.ambient + self.dc_fraction * a_s.mean(axis=-1)
        frames = np.empty((len(freqs), n, h, w), np.uint16)
        for j, f in enumerate(freqs):
            k = 4 * np.pi * f / C_LIGHT
            z = (a_s * np.exp(1j * k * r_s)).mean(axis=-1)
            if self.multipath > 0:
                z = z + self.multipath * _multipath(a_s.mean(axis=-1), np.where(hit, r_s, 0).mean(axis=-1), k)
            for i, t in enumerate(theta):
                c = dc + np.real(z * np.exp(1j * t))
                if self.shot:
                    c = c + rng.standard_normal(c.shape) * np.sqrt(np.maximum(c, 0))
                if self.read_noise > 0:
                    c = c + rng.standard_normal(c.shape) * self.read_noise
                frames[j, i] = np.clip(np.rint(c), 0, 65535).astype(np.uint16)
        return {"frames": frames, "frequencies_hz": freqs, "phase_offsets": theta,
                "gt_range": centre.range, "gt_depth": centre.depth, "instance": centre.instance,
                "mixed": mixed, "sub_depth": d_s}


def flying_truth(depth: np.ndarray, sub_depth: np.ndarray, rel: float = 0.03, abs_m: float = 0.05
                 ) -> np.ndarray:
    """(H, W) bool: decoded ``depth`` (> 0) farther than ``max(abs_m, rel * d)`` metres from the depth of
    every sub-pixel return in ``sub_depth`` (H, W, S*S) -- a flying pixel (or an outlier)."""
    d = np.asarray(depth, np.float32)[..., None]
    tol = np.maximum(np.float32(abs_m), np.float32(rel) * d)
    near = (np.abs(d - sub_depth) <= tol) & (sub_depth > 0)
    return (depth > 0) & ~near.any(axis=-1)


def _multipath(amp: np.ndarray, rng_m: np.ndarray, k: float, sigma_frac: float = 0.15) -> np.ndarray:
    """Diffuse second bounce: the direct returns, blurred over ``sigma_frac`` of the image width, arriving
    over roughly twice the path (phase of ``2 r``)."""
    import cv2

    h, w = amp.shape
    sigma = max(1.0, sigma_frac * w)
    z = amp * np.exp(1j * k * 2.0 * rng_m)
    re = cv2.GaussianBlur(np.ascontiguousarray(z.real), (0, 0), sigma)
    im = cv2.GaussianBlur(np.ascontiguousarray(z.imag), (0, 0), sigma)
    return re + 1j * im
