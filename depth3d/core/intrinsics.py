"""Pinhole camera intrinsics with lens distortion.

Pixel convention (OpenCV, librealsense, Open3D alike): pixel (u, v) = (column, row); the centre of the
top-left pixel is (0, 0). Camera frame: x right, y down, z forward, metres.

Distortion models (``model``); each maps ideal (undistorted) normalised coordinates ``(x, y) = (X/Z, Y/Z)``
to distorted ones, so projection is closed form and back-projection solves the polynomial by Newton's
method in float64 (to ~1e-15; librealsense runs 10 fixed-point iterations in float32):

* ``"none"``: ideal pinhole.
* ``"brown_conrady"``: OpenCV's ``(k1, k2, p1, p2, k3)``:
  ``xd = x*radial + 2*p1*x*y + p2*(r2 + 2*x^2)``, ``yd = y*radial + p1*(r2 + 2*y^2) + 2*p2*x*y`` with
  ``radial = 1 + k1*r2 + k2*r2^2 + k3*r2^3``, ``r2 = x^2 + y^2`` (librealsense's ``brown_conrady`` too).
* ``"inverse_brown_conrady"``: librealsense's ``RS2_DISTORTION_INVERSE_BROWN_CONRADY`` as librealsense 2.5x
  computes it (``rs2_project_point_to_pixel`` / ``rs2_deproject_pixel_to_point``): the tangential terms act
  on the radially distorted point ``(x', y') = (x, y) * radial`` while ``r2`` stays the ideal one. Its
  ``RS2_DISTORTION_MODIFIED_BROWN_CONRADY`` uses the same projection and is read as this model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODELS = ("none", "brown_conrady", "inverse_brown_conrady")
_RS_NAMES = {
    "none": "none",
    "brown_conrady": "brown_conrady",
    "modified_brown_conrady": "inverse_brown_conrady",
    "inverse_brown_conrady": "inverse_brown_conrady",
}


def _poly(coeffs: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's Brown-Conrady ``(k1, k2, p1, p2, k3)``: ideal -> distorted normalised coordinates."""
    k1, k2, p1, p2, k3 = coeffs
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xo = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
    yo = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    return xo, yo


def _poly_rs(coeffs: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """librealsense's (modified/inverse) Brown-Conrady: tangential terms on the radially distorted point."""
    k1, k2, p1, p2, k3 = coeffs
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xr, yr = x * radial, y * radial
    return (xr + 2.0 * p1 * xr * yr + p2 * (r2 + 2.0 * xr * xr),
            yr + 2.0 * p2 * xr * yr + p1 * (r2 + 2.0 * yr * yr))


def _newton_inverse(f, xt: np.ndarray, yt: np.ndarray, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``f(x, y) == (xt, yt)`` element-wise by Newton's method (central-difference Jacobian), float64.

    The residual is evaluated exactly, so the Jacobian's approximation only affects the speed of
    convergence, not the solution."""
    xt = np.asarray(xt, dtype=np.float64)
    yt = np.asarray(yt, dtype=np.float64)
    x, y = xt.copy(), yt.copy()
    h = 1e-7
    for _ in range(iterations):
        fx, fy = f(x, y)
        rx, ry = fx - xt, fy - yt
        if max(float(np.max(np.abs(rx), initial=0.0)), float(np.max(np.abs(ry), initial=0.0))) < 1e-15:
            break
        ax, ay = f(x + h, y)
        bx, by = f(x - h, y)
        jxx, jyx = (ax - bx) / (2 * h), (ay - by) / (2 * h)
        ax, ay = f(x, y + h)
        bx, by = f(x, y - h)
        jxy, jyy = (ax - bx) / (2 * h), (ay - by) / (2 * h)
        det = jxx * jyy - jxy * jyx
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        x = x - (rx * jyy - ry * jxy) / det
        y = y - (ry * jxx - rx * jyx) / det
    return x, y


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of one image stream.

    Attributes:
        width, height: image size in pixels.
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in pixels (centre of the top-left pixel is (0, 0)).
        model: distortion model, one of ``"none"``, ``"brown_conrady"``, ``"inverse_brown_conrady"``.
        coeffs: five distortion coefficients ``(k1, k2, p1, p2, k3)`` (OpenCV order; librealsense uses the
            same order).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    model: str = "none"
    coeffs: tuple[float, float, float, float, float] = field(default=(0.0, 0.0, 0.0, 0.0, 0.0))

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"Intrinsics.model must be one of {MODELS}, got {self.model!r}")
        coeffs = tuple(float(c) for c in np.asarray(self.coeffs, dtype=np.float64).ravel())
        if len(coeffs) < 5:
            coeffs = coeffs + (0.0,) * (5 - len(coeffs))
        if len(coeffs) != 5:
            raise ValueError(f"Intrinsics.coeffs must hold 5 values (k1, k2, p1, p2, k3), got {len(coeffs)}")
        object.__setattr__(self, "coeffs", coeffs)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        for name in ("fx", "fy", "cx", "cy"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"Intrinsics size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"Intrinsics focal lengths must be positive, got fx={self.fx}, fy={self.fy}")

    # ----------------------------------------------------------------- matrices and conversions
    @property
    def K(self) -> np.ndarray:
        """(3, 3) float64 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    @property
    def distorted(self) -> bool:
        return self.model != "none" and any(c != 0.0 for c in self.coeffs)

    @classmethod
    def from_K(cls, K: np.ndarray, width: int, height: int, dist: Any = None,
               model: str | None = None) -> "Intrinsics":
        """From a 3x3 camera matrix and optional distortion (OpenCV order; 4, 5 or more values)."""
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (3, 3):
            raise ValueError(f"K must be a 3x3 matrix, got shape {K.shape}")
        if abs(K[0, 1]) > 1e-9:
            raise ValueError("K has a non-zero skew K[0,1]; skewed cameras are not supported")
        coeffs = (0.0,) * 5
        if dist is not None:
            d = np.asarray(dist, dtype=np.float64).ravel()
            if d.size not in (0, 4, 5, 8, 12, 14):
                raise ValueError(f"distortion must hold 4, 5, 8, 12 or 14 values, got {d.size}")
            if d.size > 5 and np.any(d[5:] != 0):
                raise ValueError("rational/thin-prism distortion terms (k4..) are not supported")
            coeffs = tuple(d[:5]) + (0.0,) * max(0, 5 - d.size)
        if model is None:
            model = "brown_conrady" if any(c != 0.0 for c in coeffs) else "none"
        return cls(width, height, K[0, 0], K[1, 1], K[0, 2], K[1, 2], model, coeffs)

    def to_opencv(self) -> tuple[np.ndarray, np.ndarray]:
        """(K (3, 3) float64, dist (5,) float64) for OpenCV. Only valid for ``none``/``brown_conrady``."""
        if self.model == "inverse_brown_conrady" and self.distorted:
            raise ValueError("librealsense's inverse Brown-Conrady distortion has no exact OpenCV equivalent; "
                             "use Intrinsics.pixel_to_normalized()/ray_map() instead")
        return self.K, np.array(self.coeffs, dtype=np.float64)

    @classmethod
    def from_opencv(cls, K: np.ndarray, dist: Any, width: int, height: int) -> "Intrinsics":
        return cls.from_K(K, width, height, dist)

    def to_open3d(self):
        """``open3d.camera.PinholeCameraIntrinsic`` (Open3D has no distortion: undistort first)."""
        import open3d as o3d

        return o3d.camera.PinholeCameraIntrinsic(self.width, self.height, self.fx, self.fy, self.cx, self.cy)

    @classmethod
    def from_open3d(cls, intr) -> "Intrinsics":
        K = np.asarray(intr.intrinsic_matrix, dtype=np.float64)
        return cls.from_K(K, intr.width, intr.height)

    def to_realsense(self):
        """``pyrealsense2.intrinsics`` with the matching ``rs.distortion``."""
        import pyrealsense2 as rs

        intr = rs.intrinsics()
        intr.width, intr.height = self.width, self.height
        intr.fx, intr.fy, intr.ppx, intr.ppy = self.fx, self.fy, self.cx, self.cy
        intr.model = {
            "none": rs.distortion.none,
            "brown_conrady": rs.distortion.brown_conrady,
            "inverse_brown_conrady": rs.distortion.inverse_brown_conrady,
        }[self.model]
        intr.coeffs = list(self.coeffs)
        return intr

    @classmethod
    def from_realsense(cls, intr) -> "Intrinsics":
        name = str(intr.model).split(".")[-1]
        if name not in _RS_NAMES:
            raise ValueError(f"unsupported librealsense distortion model {name!r}; "
                             f"supported: {sorted(_RS_NAMES)}")
        return cls(intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy, _RS_NAMES[name],
                   tuple(intr.coeffs))

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "fx": self.fx, "fy": self.fy, "cx": self.cx,
                "cy": self.cy, "model": self.model, "coeffs": list(self.coeffs)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "intrinsics") -> "Intrinsics":
        """From a mapping in any of the layouts other tools write (see :func:`intrinsics_from_mapping`)."""
        return intrinsics_from_mapping(d, source)

    def save(self, path: str | Path) -> None:
        """Write to ``.json`` or ``.yaml``/``.yml`` atomically."""
        from depth3d.core.atomic import atomic_write

        path = Path(path)
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        else:
            text = json.dumps(self.to_dict(), indent=2)
        with atomic_write(path, "w") as f:
            f.write(text)

    @classmethod
    def load(cls, path: str | Path) -> "Intrinsics":
        """Read intrinsics written by depth3d, Open3D, librealsense or OpenCV.

        Accepted: ``.json`` (depth3d's own keys; Open3D's ``PinholeCameraIntrinsic`` JSON with a
        column-major ``intrinsic_matrix``; librealsense ``rs2_intrinsics`` fields ``ppx``/``ppy``/``model``/
        ``coeffs``), ``.yaml``/``.yml``/``.xml`` (plain YAML, or OpenCV FileStorage with ``!!opencv-matrix``
        nodes such as ``camera_matrix``/``distortion_coefficients``/``image_width``/``image_height``).

        Raises:
            FileNotFoundError: no such file.
            ValueError: naming the file and the layouts expected, for anything else.
        """
        return cls.from_dict(read_mapping(path), source=str(path))

    def scaled(self, factor: float) -> "Intrinsics":
        """Intrinsics for the image resized by ``factor`` (pixel-centre convention kept)."""
        return replace(self, width=int(round(self.width * factor)), height=int(round(self.height * factor)),
                       fx=self.fx * factor, fy=self.fy * factor,
                       cx=(self.cx + 0.5) * factor - 0.5, cy=(self.cy + 0.5) * factor - 0.5)

    def undistorted(self) -> "Intrinsics":
        """The same camera with the distortion removed (for images already undistorted)."""
        return replace(self, model="none", coeffs=(0.0,) * 5)

    # ----------------------------------------------------------------- projection
    def pixel_to_normalized(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Undistorted normalised coordinates (x/z, y/z), float64, of pixel coordinates (u, v)."""
        x = (np.asarray(u, dtype=np.float64) - self.cx) / self.fx
        y = (np.asarray(v, dtype=np.float64) - self.cy) / self.fy
        if not self.distorted:
            return x, y
        return _newton_inverse(self._forward, x, y)

    def _forward(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = np.asarray(self.coeffs)
        return _poly_rs(c, x, y) if self.model == "inverse_brown_conrady" else _poly(c, x, y)

    def normalized_to_pixel(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (u, v), float64, of undistorted normalised coordinates (x/z, y/z)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if self.distorted:
            x, y = self._forward(x, y)
        return x * self.fx + self.cx, y * self.fy + self.cy

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project (N, 3) camera-frame points (metres) to pixels; returns (uv (N, 2) float64, z (N,))."""
        p = np.asarray(points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3:
            raise ValueError(f"points must have shape (N, 3), got {p.shape}")
        z = p[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u, v = self.normalized_to_pixel(p[:, 0] / z, p[:, 1] / z)
        return np.stack([u, v], axis=1), z

    def ray_map(self) -> np.ndarray:
        """(H, W, 2) float64 undistorted normalised coordinates (x/z, y/z) of every pixel centre (cached)."""
        return _ray_map(self)


# ------------------------------------------------------------------ file layouts of other tools
# librealsense's rs2_distortion enum (rs_types.h) by value, and its names as pyrealsense2 / the viewer print them
_RS_ENUM = ("none", "modified_brown_conrady", "inverse_brown_conrady", "ftheta", "brown_conrady",
            "kannala_brandt4")
_K_KEYS = ("K", "camera_matrix", "cameraMatrix", "intrinsic_matrix", "M")
_D_KEYS = ("dist", "D", "distortion_coefficients", "dist_coeffs", "distCoeffs", "coeffs")
_STEREO_HINT = ("K1", "M1", "cameraMatrix1")
EXPECTED = ("width, height, fx, fy, cx, cy [model, coeffs] (depth3d); width, height, intrinsic_matrix "
            "(Open3D); width, height, fx, fy, ppx, ppy [model, coeffs] (librealsense); image_width, "
            "image_height, camera_matrix [distortion_coefficients] (OpenCV)")


def _rs_model(value: Any, source: str) -> str:
    """depth3d model name of a librealsense/depth3d distortion given as a name or the rs2_distortion number."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if not 0 <= int(value) < len(_RS_ENUM):
            raise ValueError(f"{source}: unknown librealsense distortion number {value}")
        name = _RS_ENUM[int(value)]
    else:
        name = str(value).strip().lower().replace("rs2_distortion_", "").replace("distortion.", "")
        name = name.replace(" ", "_").replace("-", "_")
    if name in MODELS:
        return name
    if name in _RS_NAMES:
        return _RS_NAMES[name]
    raise ValueError(f"{source}: unsupported distortion model {value!r}; supported: "
                     f"{sorted(set(MODELS) | set(_RS_NAMES))}")


def intrinsics_from_mapping(d: Any, source: str = "intrinsics") -> Intrinsics:
    """Intrinsics from a parsed JSON/YAML mapping in depth3d's, Open3D's, librealsense's or OpenCV's layout.

    * depth3d: ``width, height, fx, fy, cx, cy [, model, coeffs]`` or ``width, height, K [, dist, model]``.
    * Open3D ``PinholeCameraIntrinsic`` JSON: ``width, height, intrinsic_matrix`` (9 values, column-major).
    * librealsense ``rs2_intrinsics``: ``width, height, fx, fy, ppx, ppy [, model, coeffs]``; ``model`` as a
      name (``"Brown Conrady"``, ``"distortion.inverse_brown_conrady"``) or the ``rs2_distortion`` number.
    * OpenCV calibration files: ``image_width, image_height, camera_matrix [, distortion_coefficients]``
      (also ``K``/``cameraMatrix`` and ``D``/``dist_coeffs``; 3x3 nested lists, flat row-major lists or
      FileStorage matrices).

    Raises ValueError naming ``source`` and the expected layouts.
    """
    if not isinstance(d, dict):
        raise ValueError(f"{source}: expected a mapping with camera intrinsics ({EXPECTED}), "
                         f"got {type(d).__name__}")
    if len(d) == 1 and isinstance(next(iter(d.values())), dict):  # {"intrinsics": {...}} / {"depth": {...}}
        d = next(iter(d.values()))
    try:
        width = d.get("width", d.get("image_width"))
        height = d.get("height", d.get("image_height"))
        if width is None and isinstance(d.get("image_size"), (list, tuple)) and len(d["image_size"]) == 2:
            width, height = d["image_size"]
        if width is None or height is None:
            raise KeyError("width" if width is None else "height")
        width, height = int(width), int(height)
        dist_key = next((k for k in _D_KEYS if k in d), None)
        dist = d.get(dist_key) if dist_key else None
        model = _rs_model(d["model"], source) if "model" in d else None
        if "fx" in d:
            cx = d["cx"] if "cx" in d else d["ppx"]
            cy = d["cy"] if "cy" in d else d["ppy"]
            coeffs = tuple(np.asarray(dist if dist is not None else (0.0,) * 5, np.float64).ravel())
            if model is None:
                model = "brown_conrady" if any(c != 0.0 for c in coeffs) else "none"
            return Intrinsics(width, height, float(d["fx"]), float(d["fy"]), float(cx), float(cy), model, coeffs)
        k_key = next((k for k in _K_KEYS if k in d), None)
        if k_key is None:
            if any(k in d for k in _STEREO_HINT):
                raise ValueError(f"{source}: holds a stereo calibration (two cameras); load it with "
                                 "depth3d.stereo.calibration.load_calibration, not as one camera's intrinsics")
            raise KeyError("fx")
        K = np.asarray(d[k_key], dtype=np.float64).ravel()
        if K.size != 9:
            raise ValueError(f"{source}: {k_key} must hold 9 values (3x3), got {K.size}")
        # Open3D writes its intrinsic_matrix column-major (Eigen); everyone else row-major
        K = K.reshape(3, 3).T if k_key == "intrinsic_matrix" else K.reshape(3, 3)
        if K[2, 0] != 0 or K[2, 1] != 0 or K[2, 2] != 1:
            raise ValueError(f"{source}: {k_key} is not a camera matrix (last row must be 0 0 1, got "
                             f"{K[2].tolist()})")
        if model == "none" and dist is None:
            model = None
        return Intrinsics.from_K(K, width, height, dist, model)
    except KeyError as exc:
        raise ValueError(f"{source}: missing key {exc.args[0]!r}; expected {EXPECTED}") from None
    except (TypeError, ValueError) as exc:
        if str(exc).startswith(source):
            raise
        raise ValueError(f"{source}: not valid intrinsics ({exc}); expected {EXPECTED}") from None


def _filestorage_value(node: Any) -> Any:
    if node.isMap():
        m = node.mat()
        if m is not None:
            return np.asarray(m).tolist()
        return {k: _filestorage_value(node.getNode(k)) for k in node.keys()}
    if node.isSeq():
        return [_filestorage_value(node.at(i)) for i in range(node.size())]
    if node.isInt():
        return int(node.real())
    if node.isReal():
        return float(node.real())
    if node.isString():
        return node.string()
    return None


def open_filestorage(path: str | Path):
    """``cv2.FileStorage`` opened for reading, or InputError naming the file (OpenCV raises cv2.error, and on
    some damaged files a SystemError, instead of returning an unopened storage)."""
    import cv2

    from depth3d.core.errors import InputError

    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except Exception as exc:  # noqa: BLE001 - cv2.error, SystemError from the binding
        lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
        raise InputError(f"{path}: not an OpenCV FileStorage file ({lines[-1] if lines else type(exc).__name__})"
                         ) from None
    if not fs.isOpened():
        raise InputError(f"{path}: OpenCV cannot open it as a FileStorage file")
    return fs


def read_filestorage(path: str | Path) -> dict[str, Any]:
    """Top-level nodes of an OpenCV FileStorage file (YAML/XML/JSON) as plain Python: matrices become nested
    lists, numbers, strings, lists and mappings stay as they are. InputError (a ValueError) naming the file
    if OpenCV cannot parse it or it holds no mapping."""
    from depth3d.core.errors import InputError

    fs = open_filestorage(path)
    try:
        root = fs.root()
        if not root.isMap():
            raise InputError(f"{path}: an OpenCV FileStorage file without top-level keys (empty or not a mapping)")
        try:
            return {k: _filestorage_value(root.getNode(k)) for k in root.keys()}
        except Exception as exc:  # noqa: BLE001 - cv2.error on damaged nodes
            raise InputError(f"{path}: damaged OpenCV FileStorage file ({type(exc).__name__})") from None
    finally:
        fs.release()


def read_mapping(path: str | Path) -> Any:
    """Parse a ``.json``, ``.yaml``/``.yml`` or ``.xml`` file (OpenCV FileStorage YAML/XML included; plain
    YAML read with ``yaml.safe_load``). FileNotFoundError / ValueError naming the file on failure."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (expected JSON or YAML)") from None
    if suffix == ".xml" or (suffix in (".yaml", ".yml") and ("!!opencv-matrix" in text
                                                             or text.startswith("%YAML:"))):
        return read_filestorage(path)
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


@lru_cache(maxsize=32)
def _ray_map(intr: Intrinsics) -> np.ndarray:
    u, v = np.meshgrid(np.arange(intr.width, dtype=np.float64), np.arange(intr.height, dtype=np.float64))
    x, y = intr.pixel_to_normalized(u, v)
    out = np.stack([x, y], axis=-1)
    out.setflags(write=False)
    return out
