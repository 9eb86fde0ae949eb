"""Helpers shared by CLI verbs: the --device flag, loading RGB-D inputs (device checks: depth3d.core.device)."""

from __future__ import annotations

import argparse
from pathlib import Path

from depth3d.cli import CLIError
from depth3d.core.device import DEVICES


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--device {cpu,cuda}`` (default cpu); check the choice with depth3d.core.device.resolve_device."""
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="where tensors and models run (default: cpu)")


def load_rgbd(depth_path: str | Path, intrinsics_path: str | Path | None, color_path: str | Path | None = None,
              depth_scale: float = 0.001):
    """An RGBDFrame from a 16-bit depth PNG, an intrinsics file (JSON/YAML) and an optional colour image.

    Without ``intrinsics_path``, ``intrinsics.json`` beside the depth image is used if present."""
    from depth3d.core.frame import RGBDFrame
    from depth3d.core.intrinsics import Intrinsics
    from depth3d.io.depth_png import read_color, read_depth_png

    depth_path = Path(depth_path)
    depth = read_depth_png(depth_path)
    if intrinsics_path is None:
        guess = depth_path.parent / "intrinsics.json"
        if not guess.is_file():
            raise CLIError(f"{depth_path}: a depth image needs --intrinsics FILE (JSON/YAML with width, height, "
                           "fx, fy, cx, cy), or an intrinsics.json beside it", code=2)
        intrinsics_path = guess
    intr = Intrinsics.load(intrinsics_path)
    color = read_color(color_path) if color_path else None
    color_intr = None
    if color is not None and color.shape[:2] != depth.shape:
        raise CLIError(f"{color_path}: colour is {color.shape[1]}x{color.shape[0]} but depth is "
                       f"{depth.shape[1]}x{depth.shape[0]}; register them first or give colour intrinsics")
    return RGBDFrame(depth=depth, depth_intrinsics=intr, color=color, color_intrinsics=color_intr,
                     depth_scale=depth_scale, sensor="file")
