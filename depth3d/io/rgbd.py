"""RGB-D frames from files: a depth image, its intrinsics, an optional colour image and the colour camera.

Beside a depth image exported by ``depth3d play --export DIR`` (``DIR/depth/NNNNNN.png``) lie
``intrinsics.json`` (depth camera), ``color_intrinsics.json`` and ``meta.json`` (``depth_scale`` and
``depth_to_color``, the 4x4 rigid transform from the depth to the colour camera frame, metres). They are
found in the depth image's folder or the one above it, and used unless given explicitly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from depth3d.core.frame import RGBDFrame
from depth3d.core.intrinsics import Intrinsics, read_mapping
from depth3d.core.pose import Pose
from depth3d.io.depth_png import read_color, read_depth


def find_beside(folder: str | Path, name: str, missing: Exception | None = None) -> Path | None:
    """``folder/name`` or else ``folder/../name``, whichever is a file first (side files such as
    ``intrinsics.json`` or ``patterns.json`` may sit beside the data or one folder up).

    Returns None when neither is a file, or raises ``missing`` if one is given."""
    folder = Path(folder)
    for where in (folder, folder.parent):
        if (where / name).is_file():
            return where / name
    if missing is not None:
        raise missing
    return None


def read_pose_file(path: str | Path, key: str = "depth_to_color") -> Pose:
    """A 4x4 rigid transform from a JSON/YAML file: a bare 4x4 (or 3x4) matrix, or a mapping holding one under
    ``key`` (as ``meta.json`` of ``play --export``), or ``R`` (3x3) and ``t``/``T`` (3, metres)."""
    data: Any = read_mapping(path)
    if isinstance(data, dict) and key in data:
        data = data[key]
    try:
        if isinstance(data, dict) and "R" in data:
            R = np.asarray(data["R"], np.float64).reshape(3, 3)
            t = np.asarray(data.get("t", data.get("T")), np.float64).reshape(3)
            return Pose.from_Rt(R, t)
        m = np.asarray(data, np.float64)
        if m.shape == (3, 4):
            m = np.vstack([m, [0, 0, 0, 1]])
        if m.shape != (4, 4):
            raise ValueError(f"shape {m.shape}")
        return Pose(m)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: expected a 4x4 rigid transform ({key}: a 4x4 matrix, or R and t); "
                         f"{exc}") from None


def read_rgbd(depth_path: str | Path, intrinsics: str | Path | None = None, color: str | Path | None = None, *,
              color_intrinsics: str | Path | None = None, depth_to_color: str | Path | None = None,
              depth_format: str = "auto", depth_scale: float | None = None) -> tuple[RGBDFrame, list[str]]:
    """Assemble an RGBDFrame from files, with the notes a user should see.

    Args:
        depth_path: depth image (see :func:`depth3d.io.depth_png.read_depth` for the encodings).
        intrinsics: depth camera intrinsics file (any layout ``Intrinsics.load`` reads); default
            ``intrinsics.json`` beside the depth image.
        color: colour image (RGB), optional.
        color_intrinsics: colour camera intrinsics file; default ``color_intrinsics.json`` beside the depth.
        depth_to_color: file with the depth->colour transform (see :func:`read_pose_file`); default
            ``meta.json`` beside the depth if it holds ``depth_to_color``.
        depth_format, depth_scale: as :func:`read_depth`; without both, ``meta.json``'s ``depth_scale`` is used.

    Returns:
        (frame, notes): notes are one-line warnings (colour assumed registered, implausible depth ...).
    """
    depth_path = Path(depth_path)
    notes: list[str] = []
    meta_path = find_beside(depth_path.parent, "meta.json")
    meta: dict = {}
    if meta_path is not None:
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            notes.append(f"{meta_path}: not readable JSON; ignored")
        meta = meta if isinstance(meta, dict) else {}
    if depth_scale is None and depth_format == "auto" and "depth_scale" in meta:
        depth_scale = float(meta["depth_scale"])
        notes.append(f"{depth_path}: depth scale {depth_scale:g} m per unit from {meta_path}")
    depth, scale, fmt = read_depth(depth_path, depth_format, depth_scale)
    if fmt == "sunrgbd" and depth_format == "auto":
        notes.append(f"{depth_path}: SUN RGB-D bit-rotated depth detected and decoded (--depth-format sunrgbd)")
    valid = depth[depth > 0]
    if valid.size and float(np.median(valid)) * scale > 10.0:
        notes.append(f"{depth_path}: median depth {float(np.median(valid)) * scale:.1f} m is implausible for an "
                     "RGB-D sensor; check the encoding (--depth-format tum for TUM's 5000 units per metre, "
                     "sunrgbd for SUN RGB-D)")
    if intrinsics is None:
        intrinsics = find_beside(depth_path.parent, "intrinsics.json", ValueError(
            f"{depth_path}: a depth image needs --intrinsics FILE (JSON/YAML: depth3d, Open3D, librealsense or "
            "OpenCV layout), or an intrinsics.json beside it"))
    intr = Intrinsics.load(intrinsics)
    if (intr.height, intr.width) != depth.shape:
        raise ValueError(f"{intrinsics}: intrinsics are for {intr.width}x{intr.height} but {depth_path} is "
                         f"{depth.shape[1]}x{depth.shape[0]}")
    rgb = None
    color_intr = None
    pose = Pose.identity()
    if color is not None:
        rgb = read_color(color)
        if color_intrinsics is None:
            color_intrinsics = find_beside(depth_path.parent, "color_intrinsics.json")
        if depth_to_color is None and "depth_to_color" in meta:
            depth_to_color = meta_path
        if color_intrinsics is not None:
            color_intr = Intrinsics.load(color_intrinsics)
            if (color_intr.height, color_intr.width) != rgb.shape[:2]:
                raise ValueError(f"{color_intrinsics}: colour intrinsics are for {color_intr.width}x"
                                 f"{color_intr.height} but {color} is {rgb.shape[1]}x{rgb.shape[0]}")
            if depth_to_color is None:
                notes.append(f"{color}: no depth-to-colour transform given (--depth-to-color); the colour "
                             "camera is assumed to sit at the depth camera's origin")
            else:
                pose = read_pose_file(depth_to_color)
        else:
            if depth_to_color is not None:
                raise ValueError(f"{depth_to_color}: a depth-to-colour transform needs the colour camera's "
                                 "intrinsics (--color-intrinsics)")
            if rgb.shape[:2] != depth.shape:
                raise ValueError(f"{color}: colour is {rgb.shape[1]}x{rgb.shape[0]} but depth is "
                                 f"{depth.shape[1]}x{depth.shape[0]}; give --color-intrinsics (and "
                                 "--depth-to-color) or register them first")
            notes.append(f"{color}: no colour intrinsics (--color-intrinsics) or color_intrinsics.json beside "
                         "the depth image: colour is assumed registered to depth (pixel for pixel)")
    frame = RGBDFrame(depth=depth, depth_intrinsics=intr, color=rgb, color_intrinsics=color_intr,
                      depth_to_color=pose, depth_scale=scale, sensor="file")
    return frame, notes
