"""16-bit depth PNG images (the format of RealSense exports, TUM RGB-D, SUN RGB-D ...) and colour images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depth3d.core.atomic import atomic_write


def write_depth_png(path: str | Path, depth: np.ndarray, depth_scale: float = 0.001) -> None:
    """Write a depth image as a 16-bit single-channel PNG, atomically.

    Args:
        depth: (H, W) uint16 raw units (written as they are) or float metres (divided by ``depth_scale``
            and rounded; invalid/NaN -> 0; values beyond 65535 units -> 0).
        depth_scale: metres per unit for float input (0.001: millimetres; TUM uses 1/5000).
    """
    import cv2

    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f"{path}: depth must be (H, W), got shape {d.shape}")
    if d.dtype != np.uint16:
        if not np.issubdtype(d.dtype, np.floating):
            raise ValueError(f"{path}: depth must be uint16 or float metres, got {d.dtype}")
        units = np.where(np.isfinite(d), np.rint(d / depth_scale), 0)
        units[(units < 0) | (units > 65535)] = 0
        d = units.astype(np.uint16)
    ok, buf = cv2.imencode(".png", d)
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode the depth image")
    with atomic_write(path) as f:
        f.write(buf.tobytes())


def read_depth_png(path: str | Path) -> np.ndarray:
    """Read a 16-bit single-channel depth PNG as (H, W) uint16 raw units.

    Raises ValueError naming the file if it is not a 16-bit single-channel image (an 8-bit PNG has lost
    the depth precision and is refused)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth image {path} does not exist")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    if img.dtype != np.uint16:
        raise ValueError(f"{path}: expected a 16-bit depth PNG, got {img.dtype} "
                         f"({'8-bit' if img.dtype == np.uint8 else img.dtype}); 8-bit images cannot hold depth")
    if img.ndim != 2:
        raise ValueError(f"{path}: expected a single-channel depth image, got {img.shape[2]} channels")
    return img


def write_color(path: str | Path, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB image (PNG/JPEG by suffix), atomically."""
    import cv2

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"{path}: colour must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    ok, buf = cv2.imencode(Path(path).suffix or ".png", rgb[..., ::-1])
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode the image")
    with atomic_write(path) as f:
        f.write(buf.tobytes())


def read_color(path: str | Path) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    return np.ascontiguousarray(img[..., ::-1])
