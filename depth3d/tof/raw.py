"""Raw ToF frame folders: a documented on-disk layout, a writer and a strict reader.

Layout of a raw-frame folder::

    DIR/
      meta.json                      see below
      000000_f0_s0.png               frame 0, frequency index 0, phase step 0 (16-bit PNG, or .npy)
      000000_f0_s1.png
      ...
      000000_f1_s3.png
      000001_f0_s0.png               frame 1 ...

``meta.json``::

    {"format": "depth3d.tof_raw", "version": 1,
     "frequencies_hz": [100e6, 80e6],          # one entry per frequency index f0, f1, ...
     "phase_steps": 4,                         # steps per frequency: s0 .. s{N-1}
     "phase_offsets_rad": [0, 1.5708, ...],    # optional, default 2*pi*k/N
     "intrinsics": {"width": 640, "height": 480, "fx": ..., "fy": ..., "cx": ..., "cy": ...,
                    "model": "none", "coeffs": [0, 0, 0, 0, 0]},
     "frame_count": 10, "fps": 30.0,           # optional
     "extension": ".png"}                      # optional: ".png" (16-bit) or ".npy" (any real dtype)

Every frame must have all ``F x N`` images, all of the intrinsics' size: :func:`read_tof_frame` raises a
``ValueError`` naming the missing or mis-sized file. Sample convention: ``C_k = B + A cos(phi + theta_k)``
(see :mod:`depth3d.tof.decode`).

Real ToF cameras that hand out depth (not raw correlations): a RealSense L515 ``.bag`` recording plays
through the capture layer's recording source (``open_source("file.bag")``); Azure Kinect / Orbbec exports
are read as 16-bit depth PNG folders (``depth3d.io.read_depth_png``). Their raw phase frames are not
exposed by the vendor SDK recordings, so they are not read here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from depth3d.core.intrinsics import Intrinsics
from depth3d.core.atomic import atomic_write

FORMAT = "depth3d.tof_raw"
_NAME = re.compile(r"^(\d{6})_f(\d+)_s(\d+)\.(png|npy)$")


def frame_name(index: int, freq: int, step: int, ext: str = ".png") -> str:
    """File name of one raw image: ``{index:06d}_f{freq}_s{step}{ext}``."""
    return f"{index:06d}_f{freq}_s{step}{ext}"


def write_tof_meta(folder: str | Path, frequencies_hz, phase_steps: int, intrinsics: Intrinsics, *,
                   phase_offsets_rad=None, fps: float = 30.0, frame_count: int | None = None,
                   extension: str = ".png") -> Path:
    """Write ``meta.json`` of a raw folder (atomically); returns its path."""
    folder = Path(folder)
    meta: dict[str, Any] = {"format": FORMAT, "version": 1,
                            "frequencies_hz": [float(f) for f in np.atleast_1d(frequencies_hz)],
                            "phase_steps": int(phase_steps), "intrinsics": intrinsics.to_dict(),
                            "fps": float(fps), "extension": extension}
    if phase_offsets_rad is not None:
        meta["phase_offsets_rad"] = [float(t) for t in phase_offsets_rad]
    if frame_count is not None:
        meta["frame_count"] = int(frame_count)
    path = folder / "meta.json"
    with atomic_write(path, "w") as f:
        json.dump(meta, f, indent=1)
    return path


def write_tof_frame(folder: str | Path, index: int, frames: np.ndarray, extension: str = ".png") -> None:
    """Write one raw frame: frames (F, N, H, W) uint16 (``.png``) or any real dtype (``.npy``)."""
    import cv2

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"write_tof_frame: frames must be (F, N, H, W), got shape {frames.shape}")
    if extension == ".png" and frames.dtype != np.uint16:
        raise ValueError(f"write_tof_frame: 16-bit PNG needs uint16 frames, got {frames.dtype}; use .npy")
    for fi in range(frames.shape[0]):
        for si in range(frames.shape[1]):
            path = folder / frame_name(index, fi, si, extension)
            if extension == ".png":
                ok, buf = cv2.imencode(".png", frames[fi, si])
                if not ok:
                    raise ValueError(f"{path}: OpenCV could not encode the image")
                with atomic_write(path) as f:
                    f.write(buf.tobytes())
            elif extension == ".npy":
                with atomic_write(path) as f:
                    np.save(f, frames[fi, si])
            else:
                raise ValueError(f"write_tof_frame: extension must be '.png' or '.npy', got {extension!r}")


def write_tof_folder(folder: str | Path, frames_list, frequencies_hz, intrinsics: Intrinsics, *,
                     phase_offsets_rad=None, fps: float = 30.0, extension: str = ".png") -> Path:
    """Write a whole raw folder: ``frames_list`` is a sequence of (F, N, H, W) arrays."""
    frames_list = list(frames_list)
    if not frames_list:
        raise ValueError("write_tof_folder: no frames to write")
    for i, fr in enumerate(frames_list):
        write_tof_frame(folder, i, fr, extension)
    return write_tof_meta(folder, frequencies_hz, np.asarray(frames_list[0]).shape[1], intrinsics,
                          phase_offsets_rad=phase_offsets_rad, fps=fps, frame_count=len(frames_list),
                          extension=extension)


class ToFRawFolder:
    """Reader of a raw ToF folder (layout in the module docstring).

    Attributes after construction: ``folder``, ``frequencies_hz`` (F,) float64, ``phase_steps`` N,
    ``phase_offsets`` (N,) radians or None, ``intrinsics``, ``fps``, ``indices`` (sorted frame numbers found),
    ``extension``.

    Raises FileNotFoundError (no folder / no meta.json) or ValueError (bad meta, no frames, a frame with a
    missing image, images of the wrong size or type) with the offending file named.
    """

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.folder = folder
        if not folder.is_dir():
            raise FileNotFoundError(f"ToF raw folder {folder} does not exist")
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"ToF raw folder {folder}: no meta.json (expected the layout of "
                                    "depth3d.tof.raw: meta.json + NNNNNN_f<F>_s<S>.png images)")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{meta_path}: not valid JSON ({exc})") from None
        for key in ("frequencies_hz", "phase_steps", "intrinsics"):
            if key not in meta:
                raise ValueError(f"{meta_path}: missing key {key!r} (needs frequencies_hz, phase_steps, intrinsics)")
        self.frequencies_hz = np.asarray(meta["frequencies_hz"], dtype=np.float64).ravel()
        if self.frequencies_hz.size < 1 or np.any(self.frequencies_hz <= 0):
            raise ValueError(f"{meta_path}: frequencies_hz must be positive numbers, got {meta['frequencies_hz']}")
        self.phase_steps = int(meta["phase_steps"])
        if self.phase_steps < 3:
            raise ValueError(f"{meta_path}: phase_steps must be >= 3, got {self.phase_steps}")
        self.phase_offsets = None
        if meta.get("phase_offsets_rad") is not None:
            self.phase_offsets = np.asarray(meta["phase_offsets_rad"], np.float64)
            if self.phase_offsets.shape != (self.phase_steps,):
                raise ValueError(f"{meta_path}: phase_offsets_rad holds {self.phase_offsets.size} values but "
                                 f"phase_steps is {self.phase_steps}")
        self.intrinsics = Intrinsics.from_dict(meta["intrinsics"], source=str(meta_path))
        self.fps = float(meta.get("fps", 30.0))
        self.extension = meta.get("extension")
        found: dict[int, set] = {}
        exts = set()
        for p in folder.iterdir():
            m = _NAME.match(p.name)
            if m:
                found.setdefault(int(m.group(1)), set()).add((int(m.group(2)), int(m.group(3))))
                exts.add("." + m.group(4))
        if not found:
            raise ValueError(f"ToF raw folder {folder}: no raw images named NNNNNN_f<F>_s<S>.png|.npy")
        if self.extension is None:
            if len(exts) > 1:
                raise ValueError(f"ToF raw folder {folder}: both .png and .npy images; set 'extension' in meta.json")
            self.extension = exts.pop()
        self.indices = sorted(found)
        self._found = found

    def __len__(self) -> int:
        return len(self.indices)

    def check(self) -> None:
        """Check every frame has all F x N images (names only; sizes are checked when read)."""
        for i in self.indices:
            self._check_complete(i)

    def _check_complete(self, index: int) -> None:
        have = self._found.get(index, set())
        for fi in range(len(self.frequencies_hz)):
            for si in range(self.phase_steps):
                if (fi, si) not in have:
                    raise ValueError(
                        f"ToF raw folder {self.folder}: frame {index} is incomplete: "
                        f"{frame_name(index, fi, si, self.extension)} is missing (meta.json asks for "
                        f"{len(self.frequencies_hz)} frequencies x {self.phase_steps} phase steps)")

    def read(self, index: int) -> np.ndarray:
        """(F, N, H, W) raw samples of frame number ``index`` (uint16 for PNG, stored dtype for .npy).

        Raises ValueError naming the file for a missing, unreadable, wrongly sized or non-finite image."""
        import cv2

        if index not in self._found:
            raise ValueError(f"ToF raw folder {self.folder}: no frame {index} (have {self.indices[:5]}...)")
        self._check_complete(index)
        h, w = self.intrinsics.height, self.intrinsics.width
        out = None
        for fi in range(len(self.frequencies_hz)):
            for si in range(self.phase_steps):
                path = self.folder / frame_name(index, fi, si, self.extension)
                if self.extension == ".npy":
                    try:
                        img = np.load(path, allow_pickle=False)
                    except Exception as exc:  # noqa: BLE001
                        raise ValueError(f"{path}: not a readable .npy array ({exc})") from None
                else:
                    from depth3d.io.depth_png import imread

                    img = imread(path)
                    if img.dtype != np.uint16 or img.ndim != 2:
                        raise ValueError(f"{path}: expected a 16-bit single-channel PNG, got {img.dtype} "
                                         f"with shape {img.shape}")
                if img.ndim != 2 or not np.issubdtype(img.dtype, np.number):
                    raise ValueError(f"{path}: expected a 2-D numeric array, got {img.dtype} {img.shape}")
                if img.shape != (h, w):
                    raise ValueError(f"{path}: image is {img.shape[1]}x{img.shape[0]} but meta.json intrinsics "
                                     f"say {w}x{h} (mismatched sizes)")
                if np.issubdtype(img.dtype, np.inexact) and not np.isfinite(img).all():
                    raise ValueError(f"{path}: raw ToF samples must be finite numbers, found "
                                     f"{int(img.size - np.isfinite(img).sum())} NaN/inf values")
                if out is None:
                    out = np.empty((len(self.frequencies_hz), self.phase_steps, h, w), img.dtype)
                out[fi, si] = img
        return out
