"""Structured-light capture folders: camera images of each projected pattern plus descriptions.

Layout (one capture)::

    DIR/
      patterns.json        the projected PatternSet (as written by ``depth3d sl generate``)
      calibration.json     SLCalibration (camera, projector, camera -> projector R, t); may instead sit in
                           the parent folder or be given explicitly
      white.png black.png col_gray_00.png col_gray_00_inv.png ... col_phase_3.png
                           camera images named like the patterns (8/16-bit grey PNG; colour is converted
                           to grey), all the camera's size

A sequence is a folder of such capture folders (sorted by name), sharing ``patterns.json`` and
``calibration.json`` in the parent when the sub-folders have none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from depth3d.io.rgbd import find_beside
from depth3d.structured_light.decode import SLCalibration
from depth3d.structured_light.patterns import PatternSet


def read_capture(folder: str | Path, calibration: str | Path | SLCalibration | None = None,
                 patterns: PatternSet | None = None) -> tuple[dict[str, np.ndarray], PatternSet, SLCalibration | None]:
    """Read one capture folder.

    Returns ``(images, patterns, calibration)``: images name -> (H, W) uint8/uint16; calibration None when
    neither given nor found. Raises FileNotFoundError / ValueError naming the missing or bad file.
    """
    import cv2

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"structured-light capture folder {folder} does not exist")
    if patterns is None:
        patterns = PatternSet.load(find_beside(folder, "patterns.json", FileNotFoundError(
            f"capture folder {folder}: no patterns.json (write it with 'depth3d sl generate' and copy it beside "
            "the captures)")))
    if calibration is None:
        cp = find_beside(folder, "calibration.json")
        calib = SLCalibration.load(cp) if cp else None
    elif isinstance(calibration, SLCalibration):
        calib = calibration
    else:
        calib = SLCalibration.load(calibration)
    images: dict[str, np.ndarray] = {}
    shape = None
    for name in patterns.names():
        path = next((folder / f"{name}{ext}" for ext in (".png", ".tif", ".tiff", ".bmp", ".jpg")
                     if (folder / f"{name}{ext}").is_file()), None)
        if path is None:
            raise ValueError(f"capture folder {folder}: missing camera image {name}.png "
                             f"({len(patterns.names())} patterns expected, see patterns.json)")
        from depth3d.io.depth_png import imread

        img = imread(path)
        if img.ndim == 3:
            img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)
        if shape is None:
            shape = img.shape
        elif img.shape != shape:
            raise ValueError(f"{path}: image is {img.shape[1]}x{img.shape[0]} but {folder / 'white.png'} is "
                             f"{shape[1]}x{shape[0]} (mismatched sizes)")
        images[name] = img
    if calib is not None and shape != (calib.camera.height, calib.camera.width):
        raise ValueError(f"capture folder {folder}: images are {shape[1]}x{shape[0]} but the calibration's "
                         f"camera is {calib.camera.width}x{calib.camera.height}")
    return images, patterns, calib


def write_capture(folder: str | Path, images: dict[str, np.ndarray], patterns: PatternSet,
                  calibration: SLCalibration | None = None) -> Path:
    """Write a capture folder (images as PNG, patterns.json, calibration.json), atomically per file."""
    import cv2

    from depth3d.core.atomic import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in patterns.names():
        if name not in images:
            raise ValueError(f"write_capture: no image for pattern {name!r}")
        ok, buf = cv2.imencode(".png", np.asarray(images[name]))
        if not ok:
            raise ValueError(f"write_capture: could not encode {name}")
        with atomic_write(folder / f"{name}.png") as f:
            f.write(buf.tobytes())
    patterns.save(folder / "patterns.json")
    if calibration is not None:
        calibration.save(folder / "calibration.json")
    return folder


def capture_folders(folder: str | Path) -> list[Path]:
    """The capture folders of ``folder``: itself when it holds ``white.png``, else its sub-folders that do."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"structured-light capture folder {folder} does not exist")
    if any((folder / f"white{e}").is_file() for e in (".png", ".tif", ".tiff", ".bmp", ".jpg")):
        return [folder]
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and any(p.glob("white.*")))
    if not subs:
        raise ValueError(f"{folder}: neither a capture folder (white.png, ... , patterns.json) nor a folder of "
                         "capture folders")
    return subs
