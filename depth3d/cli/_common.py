"""Helpers shared by CLI verbs: device choice, loading RGB-D inputs, output paths."""

from __future__ import annotations

import argparse
from pathlib import Path

from depth3d.cli import CLIError


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where tensors and models run (default: cpu)")


def resolve_device(name: str) -> str:
    """Check that the requested device exists; CLIError (exit 1) with a reason if not."""
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise CLIError("--device cuda requested but torch has no usable CUDA device "
                           f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})")
    return name


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
