"""RGB-D frames: what every capture source yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose

SENSORS = ("realsense", "stereo", "tof", "structured_light", "sim", "file")


@dataclass
class RGBDFrame:
    """One RGB-D frame.

    Attributes:
        depth: (H, W) depth image, either uint16 raw units (metres = value * ``depth_scale``) or float32
            metres (then ``depth_scale`` is 1.0). Invalid pixels are 0 (or NaN for float depth). Values are
            planar depth (z along the optical axis), depth camera frame: x right, y down, z forward.
        depth_intrinsics: intrinsics of the depth stream (size must match ``depth``).
        color: (Hc, Wc, 3) uint8 RGB image, or None.
        color_intrinsics: intrinsics of the colour stream (None means the colour is registered to depth:
            same size and same camera as ``depth``).
        depth_to_color: rigid transform from the depth camera frame to the colour camera frame.
        depth_scale: metres per depth unit.
        timestamp: seconds (device clock where known).
        index: frame number in its stream.
        sensor: one of ``SENSORS``.
        extras: anything else a source wants to pass on (infrared images, confidence, ground truth ...).
    """

    depth: np.ndarray
    depth_intrinsics: Intrinsics
    color: np.ndarray | None = None
    color_intrinsics: Intrinsics | None = None
    depth_to_color: Pose = field(default_factory=Pose.identity)
    depth_scale: float = 0.001
    timestamp: float = 0.0
    index: int = 0
    sensor: str = "file"
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        d = self.depth
        if not isinstance(d, np.ndarray) or d.ndim != 2:
            raise ValueError(f"RGBDFrame.depth must be a 2-D numpy array, got "
                             f"{getattr(d, 'shape', type(d).__name__)}")
        if d.dtype not in (np.uint16, np.float32, np.float64):
            raise ValueError(f"RGBDFrame.depth must be uint16 (raw units) or float32 metres, got {d.dtype}")
        if d.dtype != np.uint16:
            self.depth_scale = 1.0
        else:
            from depth3d.core.validate import check_positive

            self.depth_scale = check_positive(self.depth_scale, "RGBDFrame.depth_scale (metres per unit)")
        if not isinstance(self.depth_intrinsics, Intrinsics):
            raise TypeError(f"RGBDFrame.depth_intrinsics must be Intrinsics, got "
                            f"{type(self.depth_intrinsics).__name__}")
        if (self.depth_intrinsics.height, self.depth_intrinsics.width) != d.shape:
            raise ValueError(f"depth image is {d.shape[1]}x{d.shape[0]} but depth_intrinsics say "
                             f"{self.depth_intrinsics.width}x{self.depth_intrinsics.height}")
        if self.color is not None:
            c = self.color
            if not isinstance(c, np.ndarray) or c.ndim != 3 or c.shape[2] != 3 or c.dtype != np.uint8:
                raise ValueError(f"RGBDFrame.color must be (H, W, 3) uint8 RGB, got "
                                 f"{getattr(c, 'shape', None)} {getattr(c, 'dtype', None)}")
            ci = self.color_intrinsics or self.depth_intrinsics
            if (ci.height, ci.width) != c.shape[:2]:
                raise ValueError(f"colour image is {c.shape[1]}x{c.shape[0]} but its intrinsics say "
                                 f"{ci.width}x{ci.height}")
        if self.sensor not in SENSORS:
            raise ValueError(f"RGBDFrame.sensor must be one of {SENSORS}, got {self.sensor!r}")

    @property
    def registered(self) -> bool:
        """True when colour pixels correspond one-to-one to depth pixels."""
        return self.color_intrinsics is None or (
            self.color_intrinsics == self.depth_intrinsics and self.depth_to_color.is_identity)

    def depth_m(self) -> np.ndarray:
        """(H, W) float32 depth in metres; invalid pixels are 0."""
        if self.depth.dtype == np.uint16:
            return self.depth.astype(np.float32) * np.float32(self.depth_scale)
        d = self.depth.astype(np.float32, copy=True)
        d[~np.isfinite(d)] = 0.0
        return d
