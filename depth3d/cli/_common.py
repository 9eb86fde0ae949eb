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
              depth_scale: float | None = None, *, color_intrinsics: str | Path | None = None,
              depth_to_color: str | Path | None = None, depth_format: str = "auto"):
    """An RGBDFrame from a depth image, its intrinsics and an optional colour image (with the colour camera's
    intrinsics and the depth->colour transform when not registered); see :func:`depth3d.io.rgbd.read_rgbd`,
    which also finds the files ``play --export`` writes beside the depth image. Notes go to stderr."""
    import sys

    from depth3d.io.rgbd import read_rgbd

    frame, notes = read_rgbd(depth_path, intrinsics_path, color_path, color_intrinsics=color_intrinsics,
                             depth_to_color=depth_to_color, depth_format=depth_format, depth_scale=depth_scale)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return frame
