"""Point-cloud augmentations used for classification training (PointNet++ reference ``provider.py``).

All functions take numpy arrays: ``points (N, 3 + C)`` float32 (xyz first; if C >= 3 the next three
columns are normals and are rotated with the points) and a ``numpy.random.Generator``. The up axis is z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def rotate_up(points: np.ndarray, rng: np.random.Generator, max_angle: float = 2 * np.pi) -> np.ndarray:
    """Rotate about the z (up) axis by a uniform angle in [0, max_angle) radians (normals too)."""
    a = rng.uniform(0.0, max_angle)
    c, s = np.cos(a), np.sin(a)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    out = points.copy()
    out[:, :3] = points[:, :3] @ R.T
    if points.shape[1] >= 6:
        out[:, 3:6] = points[:, 3:6] @ R.T
    return out


def scale(points: np.ndarray, rng: np.random.Generator, low: float = 0.8, high: float = 1.25,
          anisotropic: bool = False) -> np.ndarray:
    """Multiply xyz by a uniform factor in [low, high] (one per axis when ``anisotropic``)."""
    f = rng.uniform(low, high, size=3 if anisotropic else 1).astype(np.float32)
    out = points.copy()
    out[:, :3] *= f
    return out


def shift(points: np.ndarray, rng: np.random.Generator, max_shift: float = 0.1) -> np.ndarray:
    """Translate xyz by a uniform offset in [-max_shift, max_shift]^3."""
    out = points.copy()
    out[:, :3] += rng.uniform(-max_shift, max_shift, size=3).astype(np.float32)
    return out


def jitter(points: np.ndarray, rng: np.random.Generator, sigma: float = 0.01, clip: float = 0.05) -> np.ndarray:
    """Add clipped Gaussian noise (sigma, clip in point units) to xyz."""
    out = points.copy()
    out[:, :3] += np.clip(sigma * rng.standard_normal((len(points), 3)), -clip, clip).astype(np.float32)
    return out


def dropout(points: np.ndarray, rng: np.random.Generator, max_ratio: float = 0.875) -> np.ndarray:
    """Random point dropout (reference ``random_point_dropout``): drop a uniform fraction in
    [0, max_ratio) of the points by replacing them with the first point, keeping the shape (N, 3 + C)."""
    ratio = rng.uniform(0.0, max_ratio)
    drop = np.nonzero(rng.uniform(size=len(points)) <= ratio)[0]
    out = points.copy()
    if len(drop):
        out[drop] = points[0]
    return out


@dataclass
class Augment:
    """A configurable augmentation pipeline; each step is skipped when its flag is off.

    Order: dropout, scale, rotate_up, shift, jitter (as in the PointNet++ training scripts)."""

    rotate: bool = True
    scale_low: float = 0.8
    scale_high: float = 1.25
    shift: float = 0.1
    jitter_sigma: float = 0.01
    jitter_clip: float = 0.05
    dropout_ratio: float = 0.875

    @classmethod
    def from_config(cls, cfg: dict | bool | None) -> "Augment | None":
        """``None``/``False`` -> no augmentation; ``True`` -> defaults; a dict overrides fields."""
        if not cfg:
            return None
        if cfg is True:
            return cls()
        unknown = set(cfg) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"augment: unknown keys {sorted(unknown)}; expected {sorted(cls.__dataclass_fields__)}")
        return cls(**cfg)

    def __call__(self, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.dropout_ratio > 0:
            points = dropout(points, rng, self.dropout_ratio)
        if self.scale_low != 1.0 or self.scale_high != 1.0:
            points = scale(points, rng, self.scale_low, self.scale_high)
        if self.rotate:
            points = rotate_up(points, rng)
        if self.shift > 0:
            points = shift(points, rng, self.shift)
        if self.jitter_sigma > 0:
            points = jitter(points, rng, self.jitter_sigma, self.jitter_clip)
        return points
