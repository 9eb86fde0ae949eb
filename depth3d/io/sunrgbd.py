"""The SUN RGB-D frame layout produced by VoteNet's preprocessing (as in ``../shared/data/sunrgbd``).

Per frame id ``ID`` (e.g. ``000001``): ``image/ID.jpg`` (RGB), ``depth/ID.mat`` (variable ``instance``:
float32 (N, 6) x, y, z, r, g, b in the *upright depth frame*: x right, y forward, z up, metres, with the
tilt ``Rtilt`` already applied; colours 0..1), ``calib/ID.txt`` (line 1 ``Rtilt``, line 2 ``K``, each nine
numbers in column-major order), ``label/ID.txt`` (one object a line:
``class xmin ymin w h cx cy cz sx sy sz ox oy``, half sizes, heading as a direction; heading angle
``-atan2(oy, ox)`` as VoteNet takes it).

Frames: the camera frame of this toolkit is x right, y down, z forward. SUN RGB-D's upright depth frame
relates to it by ``p_upright = Rtilt @ M @ p_cam`` with ``M`` mapping (x, y, z)_cam to (x, z, -y)
(:data:`CAM_TO_DEPTH`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from depth3d.core.intrinsics import Intrinsics

#: camera frame (x right, y down, z forward) -> SUN RGB-D depth frame (x right, y forward, z up)
CAM_TO_DEPTH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


@dataclass
class SunRGBDObject:
    """One labelled object: class name, 2D box (xmin, ymin, w, h) pixels, centre (3,) upright frame metres,
    full size (3,) (l, w, h: along the heading, across it, vertical), heading angle (radians about +z)."""

    classname: str
    box2d: np.ndarray
    centroid: np.ndarray
    size: np.ndarray
    heading: float


@dataclass
class SunRGBDFrame:
    """One SUN RGB-D frame: points (N, 3) float32 upright depth frame metres, colors (N, 3) float32 0..1,
    Rtilt (3, 3), K (3, 3), image (H, W, 3) uint8 RGB or None, objects."""

    frame_id: str
    points: np.ndarray
    colors: np.ndarray
    Rtilt: np.ndarray
    K: np.ndarray
    image: np.ndarray | None
    objects: list[SunRGBDObject] = field(default_factory=list)

    def intrinsics(self) -> Intrinsics:
        h, w = self.image.shape[:2] if self.image is not None else (530, 730)
        return Intrinsics.from_K(self.K, w, h)

    def camera_points(self) -> np.ndarray:
        """Points in the camera frame (x right, y down, z forward): ``M^T Rtilt^T p``."""
        return (self.points.astype(np.float64) @ self.Rtilt @ CAM_TO_DEPTH).astype(np.float32)


def read_calib(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(Rtilt (3, 3), K (3, 3)) float64 from a SUN RGB-D calib file (column-major rows)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SUN RGB-D calib file {path} does not exist")
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    if len(lines) < 2:
        raise ValueError(f"{path}: expected two lines (Rtilt, K) of nine numbers, got {len(lines)} lines")
    mats = []
    for i, name in enumerate(("Rtilt", "K")):
        vals = lines[i].split()
        if len(vals) != 9:
            raise ValueError(f"{path}: line {i + 1} ({name}) must hold 9 numbers, got {len(vals)}")
        mats.append(np.array([float(v) for v in vals]).reshape(3, 3, order="F"))
    return mats[0], mats[1]


def read_labels(path: str | Path) -> list[SunRGBDObject]:
    """Objects of a SUN RGB-D label file (VoteNet's preprocessed format)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SUN RGB-D label file {path} does not exist")
    objs = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        tok = line.split()
        if not tok:
            continue
        if len(tok) != 13:
            raise ValueError(f"{path}:{n}: expected 13 fields (class xmin ymin w h cx cy cz sx sy sz ox oy), "
                             f"got {len(tok)}")
        v = np.array([float(t) for t in tok[1:]])
        half = v[7:10]  # w, l, h half extents as written
        size = np.array([half[1], half[0], half[2]]) * 2.0  # VoteNet: [l, w, h] * 2
        heading = float(-np.arctan2(v[11], v[10]))
        objs.append(SunRGBDObject(tok[0], v[0:4], v[4:7], size, heading))
    return objs


def read_mat(path: str | Path) -> dict:
    """The variables of a MATLAB ``.mat`` file (``scipy.io.loadmat``); InputError naming the file when it is
    not one (scipy raises several kinds of errors for damaged files), FileNotFoundError when missing."""
    import scipy.io

    from depth3d.core.errors import InputError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MATLAB file {path} does not exist")
    try:
        return scipy.io.loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - MatReadError, ValueError, OSError, TypeError, ...
        msg = " ".join(str(exc).split())[:160]
        raise InputError(f"{path}: not a readable MATLAB file, damaged or truncated ({type(exc).__name__}: "
                         f"{msg})") from None


def read_instance_mat(path: str | Path) -> np.ndarray:
    """The ``instance`` variable of a SUN RGB-D depth ``.mat``: (N, 6) float32 x, y, z, r, g, b (upright
    frame, metres; colours 0..1). InputError naming the file for anything else."""
    from depth3d.core.errors import InputError

    mat = read_mat(path)
    if "instance" not in mat:
        raise InputError(f"{path}: expected a SUN RGB-D variable 'instance' (N x 6), found "
                         f"{[k for k in mat if not k.startswith('__')]}")
    raw = np.asarray(mat["instance"])
    if raw.ndim != 2 or raw.shape[1] < 6 or not (np.issubdtype(raw.dtype, np.floating)
                                                 or np.issubdtype(raw.dtype, np.integer)):
        raise InputError(f"{path}: 'instance' must be a real N x 6 array (x, y, z, r, g, b), got "
                         f"{raw.dtype} {raw.shape}")
    return raw.astype(np.float32)


def read_frame(root: str | Path, frame_id: str | int, with_image: bool = True) -> SunRGBDFrame:
    """Read frame ``frame_id`` (``1`` or ``"000001"``) of a SUN RGB-D folder."""
    root = Path(root)
    fid = f"{int(frame_id):06d}" if str(frame_id).isdigit() else str(frame_id)
    mat_path = root / "depth" / f"{fid}.mat"
    if not mat_path.is_file():
        raise FileNotFoundError(f"SUN RGB-D depth file {mat_path} does not exist")
    inst = read_instance_mat(mat_path)
    Rtilt, K = read_calib(root / "calib" / f"{fid}.txt")
    image = None
    if with_image and (root / "image" / f"{fid}.jpg").is_file():
        from depth3d.io.depth_png import read_color

        image = read_color(root / "image" / f"{fid}.jpg")
    label_path = root / "label" / f"{fid}.txt"
    objects = read_labels(label_path) if label_path.is_file() else []
    return SunRGBDFrame(fid, inst[:, :3].copy(), inst[:, 3:6].copy(), Rtilt, K, image, objects)
