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
