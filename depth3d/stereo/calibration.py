"""Stereo calibration: board detection, per-camera intrinsics, stereo extrinsics, rectification, files.

Pipeline (:func:`calibrate_stereo`):

1. find the board in every left/right pair (chessboard with sub-pixel refinement, or ChArUco), keep the
   pairs where both images see it (for ChArUco: the corner ids seen in both);
2. calibrate each camera alone (``cv2.calibrateCamera``);
3. calibrate the pair with the intrinsics fixed (``cv2.stereoCalibrate`` + ``CALIB_FIX_INTRINSIC``);
4. report the RMS reprojection error of every view; with ``max_view_rms`` the views above it are dropped
   and steps 2-3 repeated (outliers are reported either way);
5. rectify (``cv2.stereoRectify`` with ``CALIB_ZERO_DISPARITY`` and the chosen ``alpha``).

Units: board coordinates are in ``square`` units (1.0 = one square when the size is unknown), so ``T``
and every depth computed from this calibration are in the same units. Camera frame: x right, y down,
z forward; ``R, T`` map left-camera coordinates to right-camera coordinates (OpenCV convention:
``X_right = R @ X_left + T``).

Files (:meth:`StereoCalibration.save` / :func:`load_calibration`): YAML written with ``cv2.FileStorage``
(readable by OpenCV in C++/Python) and a JSON twin with the same keys. Loading checks every key, shape
and the image size before anything else happens, and names the file and the key in its error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from depth3d.core.errors import InputError
from depth3d.geometry.board import Board, find_corners

#: key -> expected shape of every matrix a calibration file must hold
REQUIRED_MATRICES: dict[str, tuple[int, ...]] = {
    "K1": (3, 3), "D1": (-1,), "K2": (3, 3), "D2": (-1,), "R": (3, 3), "T": (3,),
    "R1": (3, 3), "R2": (3, 3), "P1": (3, 4), "P2": (3, 4), "Q": (4, 4),
}
REQUIRED_KEYS = ("image_width", "image_height", *REQUIRED_MATRICES, "board")


class CalibrationFileError(InputError):
    """A calibration file is missing a key, has a wrong shape or does not fit the images."""


# ---------------------------------------------------------------------------------------------- result
@dataclass
class StereoCalibration:
    """A calibrated, rectified stereo pair (OpenCV conventions; see the module docstring).

    Attributes:
        image_size: (width, height) in pixels of both cameras.
        K1, K2: (3, 3) float64 camera matrices; D1, D2: (5,) or more float64 distortion (OpenCV order).
        R: (3, 3), T: (3,) left -> right camera transform; ``|T|`` is the baseline in board units.
        R1, R2: (3, 3) rectifying rotations; P1, P2: (3, 4) rectified projections; Q: (4, 4) disparity-to-
            depth matrix (``cv2.reprojectImageTo3D``).
        board: the board used (dict, see :class:`Board`), or a description such as ``{"kind": "synthetic"}``.
        rms: overall stereo RMS reprojection error (pixels); per_view_rms: (V, 2) left/right RMS per view.
        views: image names used; dropped: image names dropped as outliers; alpha: rectification alpha.
    """

    image_size: tuple[int, int]
    K1: np.ndarray
    D1: np.ndarray
    K2: np.ndarray
    D2: np.ndarray
    R: np.ndarray
    T: np.ndarray
    R1: np.ndarray
    R2: np.ndarray
    P1: np.ndarray
    P2: np.ndarray
    Q: np.ndarray
    board: dict[str, Any] = field(default_factory=dict)
    rms: float = float("nan")
    rms_left: float = float("nan")
    rms_right: float = float("nan")
    per_view_rms: np.ndarray | None = None
    views: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    alpha: float = 0.0

    @property
    def baseline(self) -> float:
        """Baseline length in calibration units (|T|)."""
        return float(np.linalg.norm(self.T))

    @property
    def focal(self) -> float:
        """Rectified focal length in pixels (P1[0, 0])."""
        return float(self.P1[0, 0])

    @classmethod
    def from_extrinsics(cls, K1: np.ndarray, D1: Any, K2: np.ndarray, D2: Any, R: np.ndarray, T: np.ndarray,
                        image_size: tuple[int, int], alpha: float = 0.0, **kwargs: Any) -> "StereoCalibration":
        """Compute the rectification (R1, R2, P1, P2, Q) of a known pair. ``alpha``: 0 = only valid pixels
        (zoomed in), 1 = all source pixels kept (black borders), -1 = OpenCV's default."""
        import cv2

        K1, K2, R = (np.asarray(a, np.float64).reshape(3, 3) for a in (K1, K2, R))
        D1 = np.zeros(5) if D1 is None else np.asarray(D1, np.float64).ravel()
        D2 = np.zeros(5) if D2 is None else np.asarray(D2, np.float64).ravel()
        T = np.asarray(T, np.float64).reshape(3)
        R1, R2, P1, P2, Q, _, _ = cv2.stereoRectify(K1, D1, K2, D2, tuple(int(s) for s in image_size), R, T.reshape(3, 1),
                                                    flags=cv2.CALIB_ZERO_DISPARITY, alpha=alpha)
        return cls(tuple(int(s) for s in image_size), K1, D1, K2, D2, R, T, R1, R2, P1, P2, Q,
                   alpha=alpha, **kwargs)

    def rectified(self, alpha: float) -> "StereoCalibration":
        """The same calibration rectified with another ``alpha`` (0 = crop to valid, 1 = keep all)."""
        extra = dict(board=self.board, rms=self.rms, rms_left=self.rms_left, rms_right=self.rms_right,
                     per_view_rms=self.per_view_rms, views=list(self.views), dropped=list(self.dropped))
        return StereoCalibration.from_extrinsics(self.K1, self.D1, self.K2, self.D2, self.R, self.T,
                                                 self.image_size, alpha=alpha, **extra)

    def rectified_intrinsics(self):
        """:class:`~depth3d.core.intrinsics.Intrinsics` of the rectified left image (no distortion)."""
        from depth3d.core.intrinsics import Intrinsics

        w, h = self.image_size
        return Intrinsics(w, h, self.P1[0, 0], self.P1[1, 1], self.P1[0, 2], self.P1[1, 2])

    # ------------------------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (matrices as nested lists)."""
        d: dict[str, Any] = {"image_width": int(self.image_size[0]), "image_height": int(self.image_size[1])}
        for k in REQUIRED_MATRICES:
            d[k] = np.asarray(getattr(self, k), np.float64).tolist()
        d["board"] = dict(self.board)
        d["rms"] = _num(self.rms)
        d["rms_left"] = _num(self.rms_left)
        d["rms_right"] = _num(self.rms_right)
        d["alpha"] = float(self.alpha)
        if self.per_view_rms is not None:
            d["per_view_rms"] = np.asarray(self.per_view_rms, np.float64).tolist()
        d["views"] = list(self.views)
        d["dropped"] = list(self.dropped)
        return d

    def save(self, path: str | Path, json_twin: bool = True) -> list[Path]:
        """Write the calibration atomically. ``.yaml``/``.yml``: OpenCV FileStorage YAML, plus a ``.json``
        twin beside it when ``json_twin``; ``.json``: JSON only. Returns the files written."""
        import cv2

        from depth3d.core.atomic import atomic_path, atomic_write

        path = Path(path)
        written = []
        if path.suffix.lower() in (".yaml", ".yml"):
            with atomic_path(path) as tmp:
                fs = cv2.FileStorage(str(tmp), cv2.FILE_STORAGE_WRITE)
                fs.write("image_width", int(self.image_size[0]))
                fs.write("image_height", int(self.image_size[1]))
                for k in REQUIRED_MATRICES:
                    a = np.asarray(getattr(self, k), np.float64)
                    fs.write(k, a.reshape(-1, 1) if a.ndim == 1 else a)
                fs.write("board", json.dumps(self.board, sort_keys=True))
                for k in ("rms", "rms_left", "rms_right", "alpha"):
                    fs.write(k, float(getattr(self, k)))
                if self.per_view_rms is not None and len(self.per_view_rms):
                    fs.write("per_view_rms", np.asarray(self.per_view_rms, np.float64).reshape(-1, 2))
                fs.write("views", json.dumps(list(self.views)))
                fs.write("dropped", json.dumps(list(self.dropped)))
                fs.release()
            written.append(path)
            if json_twin:
                path = path.with_suffix(".json")
        if path.suffix.lower() == ".json":
            with atomic_write(path, "w") as f:
                json.dump(self.to_dict(), f, indent=1)
            written.append(path)
        elif not written:
            raise ValueError(f"calibration file {path}: use a .yaml, .yml or .json name")
        return written


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _fail(path: Path, msg: str) -> None:
    raise CalibrationFileError(f"calibration file {path}: {msg}")


def load_calibration(path: str | Path, image_size: tuple[int, int] | None = None) -> StereoCalibration:
    """Read and check a calibration file written by :meth:`StereoCalibration.save` (YAML or JSON).

    Args:
        path: ``.yaml``/``.yml`` (OpenCV FileStorage) or ``.json``.
        image_size: (width, height) of the images it will be used with; a mismatch is an error.
    Raises:
        FileNotFoundError: no such file.
        CalibrationFileError (a ValueError): a missing key, a wrong shape, a non-finite value or a wrong
            image size, naming the file and the key. Nothing else is done before these checks pass.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"calibration file {path} does not exist")
    data: dict[str, Any] = {}
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            _fail(path, f"not valid JSON ({exc})")
        if not isinstance(raw, dict):
            _fail(path, "expected a JSON object at the top level")
        for k in REQUIRED_KEYS:
            if k not in raw or raw[k] is None:
                _fail(path, f"missing key {k!r} (a stereo calibration needs {', '.join(REQUIRED_KEYS)})")
        data = dict(raw)
        for k in REQUIRED_MATRICES:
            try:
                data[k] = np.asarray(raw[k], np.float64)
            except (TypeError, ValueError):
                _fail(path, f"key {k!r} is not a numeric matrix")
        extra = {k: raw.get(k) for k in ("rms", "rms_left", "rms_right", "alpha", "per_view_rms", "views",
                                         "dropped")}
    elif path.suffix.lower() in (".yaml", ".yml"):
        import cv2

        from depth3d.core.intrinsics import open_filestorage

        fs = open_filestorage(path)
        try:
            for k in REQUIRED_KEYS:
                node = fs.getNode(k)
                if node.empty() or node.isNone():
                    _fail(path, f"missing key {k!r} (a stereo calibration needs {', '.join(REQUIRED_KEYS)})")
                if k in REQUIRED_MATRICES:
                    m = node.mat()
                    if m is None:
                        _fail(path, f"key {k!r} is not an OpenCV matrix")
                    data[k] = np.asarray(m, np.float64)
                elif k == "board":
                    s = node.string()
                    try:
                        data[k] = json.loads(s) if s else {}
                    except json.JSONDecodeError:
                        _fail(path, "key 'board' is not a JSON description of the board")
                else:
                    data[k] = node.real()
            extra = {}
            for k in ("rms", "rms_left", "rms_right", "alpha"):
                n = fs.getNode(k)
                extra[k] = None if n.empty() else n.real()
            n = fs.getNode("per_view_rms")
            extra["per_view_rms"] = None if n.empty() else n.mat()
            for k in ("views", "dropped"):
                n = fs.getNode(k)
                extra[k] = json.loads(n.string()) if not n.empty() and n.string() else []
        finally:
            fs.release()
    else:
        _fail(path, "unknown extension (expected .yaml, .yml or .json)")

    for k, shape in REQUIRED_MATRICES.items():
        a = data[k]
        if shape == (-1,):
            a = a.ravel()
            if a.size not in (4, 5, 8, 12, 14):
                _fail(path, f"key {k!r} must hold 4, 5, 8, 12 or 14 distortion coefficients, got {a.size}")
        elif shape == (3,):
            a = a.ravel()
            if a.size != 3:
                _fail(path, f"key {k!r} must be a 3-vector, got {a.size} values")
        elif a.shape != shape:
            _fail(path, f"key {k!r} must be {shape[0]}x{shape[1]}, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            _fail(path, f"key {k!r} holds non-finite values")
        data[k] = a
    try:
        size = (int(data["image_width"]), int(data["image_height"]))
    except (TypeError, ValueError):
        _fail(path, "image_width/image_height are not integers")
    if size[0] <= 0 or size[1] <= 0:
        _fail(path, f"image size {size[0]}x{size[1]} is not positive")
    if image_size is not None and tuple(int(s) for s in image_size) != size:
        _fail(path, f"image size mismatch: calibrated for {size[0]}x{size[1]}, images are "
                    f"{int(image_size[0])}x{int(image_size[1])}")
    if not isinstance(data["board"], dict):
        _fail(path, "key 'board' must be a mapping")

    def f(x):
        return float("nan") if x is None else float(x)

    pv = extra.get("per_view_rms")
    return StereoCalibration(size, *(data[k] for k in REQUIRED_MATRICES), board=data["board"],
                             rms=f(extra.get("rms")), rms_left=f(extra.get("rms_left")),
                             rms_right=f(extra.get("rms_right")), alpha=f(extra.get("alpha")) if
                             extra.get("alpha") is not None else 0.0,
                             per_view_rms=None if pv is None else np.asarray(pv, np.float64).reshape(-1, 2),
                             views=list(extra.get("views") or []), dropped=list(extra.get("dropped") or []))


# ---------------------------------------------------------------------------------------------- calibrate
@dataclass
class ViewCorners:
    """Board corners seen in one left/right pair (only the ids seen in both)."""

    name: str
    object_points: np.ndarray  # (N, 3) float32
    left: np.ndarray  # (N, 1, 2) float32
    right: np.ndarray  # (N, 1, 2) float32


def detect_pairs(left_images: Sequence[np.ndarray], right_images: Sequence[np.ndarray], board: Board,
                 names: Sequence[str] | None = None, progress: bool = False,
                 ) -> tuple[list[ViewCorners], list[str], tuple[int, int]]:
    """Find the board in every pair.

    Images may be None (unreadable files, see :func:`read_image_pairs`); such pairs are skipped.

    Returns:
        (views with the board in both images, ``"NAME (reason)"`` for each pair skipped, (width, height)).
    """
    from tqdm import tqdm

    if len(left_images) != len(right_images):
        raise ValueError(f"got {len(left_images)} left images but {len(right_images)} right images")
    if not len(left_images):
        raise ValueError("no calibration images given")
    names = list(names) if names is not None else [f"pair{i:03d}" for i in range(len(left_images))]
    obj_all = board.object_points()
    size = None
    views, skipped = [], []
    for name, li, ri in tqdm(list(zip(names, left_images, right_images)), desc="corners", disable=not progress):
        if li is None or ri is None:
            side = "left and right images" if li is None and ri is None else "left image" if li is None else \
                "right image"
            skipped.append(f"{name} (unreadable {side})")
            continue
        s = (li.shape[1], li.shape[0])
        if (ri.shape[1], ri.shape[0]) != s:
            raise ValueError(f"{name}: left image is {s[0]}x{s[1]} but right is {ri.shape[1]}x{ri.shape[0]}")
        if size is None:
            size = s
        elif s != size:
            raise ValueError(f"{name}: image size {s[0]}x{s[1]} differs from the first pair's "
                             f"{size[0]}x{size[1]}")
        fl, fr = find_corners(li, board), find_corners(ri, board)
        if fl is None or fr is None:
            where = "board not found" if fl is None and fr is None else \
                f"board found in the {'right' if fl is None else 'left'} image only"
            skipped.append(f"{name} ({where})")
            continue
        common, il, ir = np.intersect1d(fl[1], fr[1], return_indices=True)
        if len(common) < 6:
            skipped.append(f"{name} (fewer than 6 corners seen in both images)")
            continue
        views.append(ViewCorners(name, obj_all[common], fl[0][il], fr[0][ir]))
    if size is None:
        raise ValueError("no readable calibration image pair")
    return views, skipped, size


def calibrate_views(views: Sequence[ViewCorners], image_size: tuple[int, int], board: Board,
                    alpha: float = 0.0, max_view_rms: float | None = None, dropped: Sequence[str] = (),
                    outlier_factor: float | None = 3.0, min_outlier_px: float = 0.3) -> StereoCalibration:
    """Intrinsics per camera, then stereo extrinsics with fixed intrinsics, then rectification.

    Outlier pairs are removed one at a time, recalibrating after each: a pair goes when its stereo
    reprojection RMS (OpenCV's per-view errors of ``stereoCalibrateExtended``, worse of left/right, pixels)
    exceeds ``max_view_rms``, or exceeds both ``outlier_factor`` times the median pair's and
    ``min_outlier_px``; at least 3 pairs are kept. Dropped pairs are listed in ``dropped`` as
    ``"NAME (RMS x.xx px, outlier)"``; ``per_view_rms`` holds the kept pairs' (left, right) stereo errors.
    """
    import cv2

    views = list(views)
    dropped = list(dropped)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-7)
    while True:
        if len(views) < 3:
            raise ValueError(f"need at least 3 pairs with the board seen in both images, got {len(views)}"
                             + (f" (skipped: {', '.join(dropped)})" if dropped else ""))
        obj = [v.object_points for v in views]
        L = [v.left for v in views]
        Rt = [v.right for v in views]
        rms_l, K1, D1, _, _ = cv2.calibrateCamera(obj, L, image_size, None, None, criteria=crit)
        rms_r, K2, D2, _, _ = cv2.calibrateCamera(obj, Rt, image_size, None, None, criteria=crit)
        R0, T0 = np.eye(3), np.zeros((3, 1))
        rms, K1, D1, K2, D2, R, T, _, _, _, _, per_view = cv2.stereoCalibrateExtended(
            obj, L, Rt, K1, D1, K2, D2, image_size, R0, T0, criteria=crit, flags=cv2.CALIB_FIX_INTRINSIC)
        per_view = np.asarray(per_view, np.float64).reshape(len(views), 2)
        worst = per_view.max(axis=1)
        i = int(np.argmax(worst))
        limit = np.inf
        if outlier_factor is not None:
            limit = max(outlier_factor * float(np.median(worst)), min_outlier_px)
        if max_view_rms is not None:
            limit = min(limit, max_view_rms)
        if worst[i] <= limit or len(views) <= 3:
            break
        dropped.append(f"{views[i].name} (RMS {worst[i]:.2f} px, outlier)")
        views.pop(i)
    return StereoCalibration.from_extrinsics(
        K1, D1, K2, D2, R, T, image_size, alpha=alpha, board=board.to_dict(), rms=float(rms),
        rms_left=float(rms_l), rms_right=float(rms_r), per_view_rms=per_view, views=[v.name for v in views],
        dropped=dropped)


def calibrate_stereo(left_images: Sequence[np.ndarray], right_images: Sequence[np.ndarray], board: Board,
                     names: Sequence[str] | None = None, alpha: float = 0.0,
                     max_view_rms: float | None = None, progress: bool = False) -> StereoCalibration:
    """Calibrate a stereo pair from synchronised left/right images of a board.

    Args:
        left_images, right_images: equal-length sequences of (H, W) uint8 grey or (H, W, 3) uint8 BGR images.
        board: the target; its ``square`` sets the unit of ``T`` (and of depth later).
        names: a name per pair for reports (default pair000, pair001 ...).
        alpha: rectification alpha (0 = crop to valid pixels, 1 = keep all pixels).
        max_view_rms: drop views whose stereo RMS exceeds this many pixels (None: outliers only, see
            :func:`calibrate_views`).
    Returns:
        :class:`StereoCalibration`; pairs not used are listed in ``dropped`` with the reason (unreadable
        image, board not found or found in one image only, outlier with its RMS).
    """
    views, skipped, size = detect_pairs(left_images, right_images, board, names, progress)
    calib = calibrate_views(views, size, board, alpha, max_view_rms)
    calib.dropped = list(skipped) + calib.dropped
    return calib


def read_image_pairs(left: str | Sequence[str], right: str | Sequence[str], grey: bool = True,
                     ) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Read left/right images given as glob patterns or explicit lists (sorted, paired by order).

    Returns (left images, right images, pair names); an image that cannot be read (0 bytes, not an image)
    is None, and the calibration skips its pair. Raises FileNotFoundError naming a pattern that matches
    nothing, ValueError when the counts differ.
    """
    import glob

    import cv2

    def expand(p, side):
        if isinstance(p, (str, Path)):
            files = sorted(glob.glob(str(p)))
            if not files:
                raise FileNotFoundError(f"{side} images: no file matches {str(p)!r}")
            return files
        return [str(x) for x in p]

    lf, rf = expand(left, "left"), expand(right, "right")
    if len(lf) != len(rf):
        raise ValueError(f"{len(lf)} left images but {len(rf)} right images; they are paired in sorted order")
    from depth3d.io.depth_png import imread

    flag = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR
    Li, Ri = [], []
    for a, b in zip(lf, rf):
        for f, out in ((a, Li), (b, Ri)):
            try:
                out.append(imread(f, flag))
            except InputError:  # 0 bytes, damaged, not an image: its pair is skipped (and listed) later
                out.append(None)
    return Li, Ri, [Path(a).name for a in lf]
