"""Rigid transforms (4x4 homogeneous matrices)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pose:
    """A rigid transform ``T`` (4, 4) float64 mapping points from a source frame to a target frame:
    ``p_target = R @ p_source + t``. Translations in metres."""

    matrix: np.ndarray

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix, dtype=np.float64)
        if m.shape != (4, 4):
            raise ValueError(f"Pose matrix must be 4x4, got shape {m.shape}")
        if not np.allclose(m[3], [0, 0, 0, 1]):
            raise ValueError(f"Pose matrix last row must be [0, 0, 0, 1], got {m[3]}")
        R = m[:3, :3]
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-5) or np.linalg.det(R) < 0:
            raise ValueError("Pose rotation block is not a proper rotation (R R^T != I or det < 0)")
        m = m.copy()
        m.setflags(write=False)
        object.__setattr__(self, "matrix", m)

    @classmethod
    def identity(cls) -> "Pose":
        return cls(np.eye(4))

    @classmethod
    def from_Rt(cls, R: np.ndarray, t: np.ndarray) -> "Pose":
        """From a (3, 3) rotation and a (3,) translation in metres."""
        m = np.eye(4)
        m[:3, :3] = np.asarray(R, dtype=np.float64).reshape(3, 3)
        m[:3, 3] = np.asarray(t, dtype=np.float64).ravel()
        return cls(m)

    @property
    def R(self) -> np.ndarray:
        return self.matrix[:3, :3]

    @property
    def t(self) -> np.ndarray:
        return self.matrix[:3, 3]

    @property
    def is_identity(self) -> bool:
        return bool(np.allclose(self.matrix, np.eye(4)))

    def inverse(self) -> "Pose":
        return Pose.from_Rt(self.R.T, -self.R.T @ self.t)

    def __matmul__(self, other: "Pose") -> "Pose":
        return Pose(self.matrix @ other.matrix)

    def transform_points(self, points):
        """Apply to (N, 3) points (numpy or torch; dtype and device kept)."""
        if hasattr(points, "device") and hasattr(points, "dtype") and not isinstance(points, np.ndarray):
            import torch

            m = torch.as_tensor(self.matrix, dtype=points.dtype, device=points.device)
            return points @ m[:3, :3].T + m[:3, 3]
        p = np.asarray(points)
        dtype = p.dtype if np.issubdtype(p.dtype, np.floating) else np.float64
        return (p @ self.R.T.astype(dtype) + self.t.astype(dtype)).astype(dtype, copy=False)

    def to_list(self) -> list[list[float]]:
        return self.matrix.tolist()

    @classmethod
    def from_list(cls, rows) -> "Pose":
        return cls(np.asarray(rows, dtype=np.float64))
