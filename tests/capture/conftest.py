"""Helpers for the capture tests: synthetic frames with awkward values."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyrealsense2")

from depth3d.core.frame import RGBDFrame  # noqa: E402
from depth3d.core.intrinsics import Intrinsics  # noqa: E402
from depth3d.core.pose import Pose  # noqa: E402


def make_frames(n: int = 12, seed: int = 0, registered: bool = False, sensor: str = "sim",
                start_index: int = 100) -> list[RGBDFrame]:
    """Random uint16 depth (full 0..65535 range) and RGB colour; colour camera of a different size and
    distortion model; timestamps with awkward float values."""
    rng = np.random.default_rng(seed)
    di = Intrinsics(64, 48, 50.3, 50.7, 31.9, 23.1, "brown_conrady", (0.1, -0.05, 0.001, 0.002, 0.01))
    ci = None if registered else Intrinsics(80, 60, 60.1, 60.2, 39.5, 29.5, "inverse_brown_conrady",
                                            (0.05, 0.0, 0.0, 0.0, 0.0))
    c = np.cos(0.1)
    s = np.sin(0.1)
    pose = Pose.identity() if registered else Pose.from_Rt([[c, 0, s], [0, 1, 0], [-s, 0, c]], [0.015, 0.001, -0.002])
    frames = []
    for i in range(n):
        cs = (48, 64) if registered else (60, 80)
        frames.append(RGBDFrame(
            depth=rng.integers(0, 65536, (48, 64), dtype=np.uint16), depth_intrinsics=di,
            color=rng.integers(0, 256, cs + (3,), dtype=np.uint8), color_intrinsics=ci, depth_to_color=pose,
            depth_scale=0.000125, timestamp=1.7e9 / 3 + i * (1 / 30) + 1e-7 * i, index=start_index + i * 2,
            sensor=sensor))
    return frames


@pytest.fixture
def frames() -> list[RGBDFrame]:
    return make_frames()
