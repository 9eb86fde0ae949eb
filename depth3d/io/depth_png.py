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


def imread(path: str | Path, flags: int | None = None) -> np.ndarray:
    """``cv2.imread`` that fails with an InputError naming the file (an unreadable, damaged or absurdly large
    image: OpenCV raises cv2.error or returns None) and FileNotFoundError for a missing one. Default flags:
    unchanged (bit depth and channels as stored)."""
    import cv2

    from depth3d.core.errors import InputError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    try:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED if flags is None else flags)
    except cv2.error as exc:
        lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
        raise InputError(f"{path}: not a readable image ({lines[-1] if lines else 'OpenCV error'})") from None
    if img is None or img.size == 0:
        raise InputError(f"{path}: not a readable image (damaged, truncated or not an image format OpenCV knows)")
    return img


def read_depth_png(path: str | Path) -> np.ndarray:
    """Read a 16-bit single-channel depth PNG as (H, W) uint16 raw units.

    Raises ValueError naming the file if it is not a 16-bit single-channel image (an 8-bit PNG has lost
    the depth precision and is refused)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth image {path} does not exist")
    img = imread(path)
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
    """Read an 8-bit colour (or grey) image as (H, W, 3) uint8 RGB. InputError naming the file for an
    unreadable image or one of another bit depth (a 16-bit depth PNG given as colour is refused, not
    silently scaled)."""
    import cv2

    from depth3d.core.errors import InputError

    path = Path(path)
    img = imread(path)
    if img.dtype != np.uint8:
        raise InputError(f"{path}: expected an 8-bit colour image, got {img.dtype} "
                         f"({'a 16-bit depth image?' if img.dtype == np.uint16 else 'not 8-bit'})")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    elif img.shape[2] != 3:
        raise InputError(f"{path}: expected a colour image with 1, 3 or 4 channels, got {img.shape[2]}")
    return np.ascontiguousarray(img[..., ::-1])


# ------------------------------------------------------------------ depth encodings of other tools
DEPTH_FORMATS = ("auto", "mm", "tum", "sunrgbd", "nyu", "raw")
"""How a depth image's integers map to metres:

* ``mm``: millimetres (RealSense exports, Kinect/OpenNI, ICL-NUIM, ScanNet): 0.001 m per unit.
* ``tum``: TUM RGB-D, 5000 units per metre (0.0002 m per unit).
* ``sunrgbd``: SUN RGB-D's bit-rotated millimetres, ``mm = (v >> 3) | (v << 13)`` in 16 bits (read as plain
  millimetres it gives depths up to 64 m).
* ``nyu``: raw NYU Depth v2 Kinect disparity (PGM; little-endian samples under a big-endian header, 2047 =
  no return), converted with the NYU toolbox's ``depth_m = 351.3 / (1092.5 - disparity)``, kept to 0..10 m.
* ``raw``: the integers as they are, with ``--depth-scale`` metres per unit (default 0.001).
* ``auto``: ``nyu`` for a ``.pgm`` of Kinect disparities, ``sunrgbd`` when the image carries SUN RGB-D's
  signature (at least 90 % of the valid values are multiples of 8 and, read as millimetres, the median
  depth is beyond 10 m while the decoded one is 0.3..10 m), else ``raw``. TUM's factor cannot be told
  from the pixels: give ``tum``.
"""
DEPTH_SCALE_RANGE = (1e-5, 0.01)  # metres per unit: 0.01 mm .. 1 cm


def check_depth_scale(depth_scale: float, source: str = "--depth-scale") -> float:
    """Return ``depth_scale`` (metres per unit) if plausible, else ValueError naming both conventions."""
    lo, hi = DEPTH_SCALE_RANGE
    if not (np.isfinite(depth_scale) and lo <= depth_scale <= hi):
        hint = ""
        if depth_scale > 1:
            hint = (f" {depth_scale:g} looks like Open3D's depth_scale (units per metre, e.g. 1000); "
                    f"depth3d takes librealsense's metres per unit: give {1 / depth_scale:g}")
        raise ValueError(f"{source}: depth scale {depth_scale:g} m per unit is implausible (a 16-bit image would "
                         f"span {65535 * depth_scale / 1000:.3g} km); expected metres per unit between {lo:g} and "
                         f"{hi:g} (librealsense's habit: 0.001 = millimetres; Open3D's depth_scale is the inverse, "
                         f"units per metre, 1000).{hint}")
    return float(depth_scale)


def sunrgbd_decode(raw: np.ndarray) -> np.ndarray:
    """SUN RGB-D's bit-rotated depth PNG -> (H, W) uint16 millimetres: ``(v >> 3) | (v << 13)`` in 16 bits."""
    v = np.asarray(raw, dtype=np.uint16)
    return ((v >> 3) | (v << 13)).astype(np.uint16)


def looks_like_sunrgbd(raw: np.ndarray) -> bool:
    """True when a uint16 depth image carries SUN RGB-D's rotation signature (see ``DEPTH_FORMATS``)."""
    v = raw[raw > 0]
    if v.size < 100:
        return False
    dec = sunrgbd_decode(v)
    return bool(np.mean(v % 8 == 0) >= 0.9 and np.median(v) > 10000 and 300 <= np.median(dec) <= 10000)


def read_nyu_pgm(path: str | Path) -> np.ndarray:
    """A raw NYU Depth v2 Kinect depth PGM -> (H, W) float32 metres (0 = invalid).

    The samples are Kinect disparities (0..2047, 2047 = no return) stored little-endian under a PGM header
    that declares 16 bits (hence big-endian); converted with the NYU toolbox's ``351.3 / (1092.5 - d)`` and
    kept to 0..10 m. The depth is in the Kinect's depth camera (not registered to the RGB image)."""
    path = Path(path)
    data = path.read_bytes()
    tok, pos = [], 0
    while len(tok) < 4 and pos < min(len(data), 4096):  # magic, width, height, maxval; '#' comments skipped
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.find(b"\n", pos) + 1 or len(data)
            continue
        end = pos
        while end < len(data) and not data[end:end + 1].isspace():
            end += 1
        tok.append(data[pos:end])
        pos = end
    if len(tok) < 4 or tok[0] != b"P5" or not all(t.isdigit() for t in tok[1:]) or int(tok[3]) <= 255:
        raise ValueError(f"{path}: expected a 16-bit binary PGM (P5) of NYU Kinect disparities")
    w, h = int(tok[1]), int(tok[2])
    body = pos + 1
    if len(data) < body + 2 * w * h:
        raise ValueError(f"{path}: truncated PGM: {w}x{h} 16-bit needs {body + 2 * w * h} bytes, file has "
                         f"{len(data)}")
    disp = np.frombuffer(data, dtype="<u2", count=w * h, offset=body).reshape(h, w).astype(np.float64)
    if disp.max(initial=0) > 2047:
        raise ValueError(f"{path}: values up to {int(disp.max())} are not Kinect disparities (0..2047); "
                         "expected a raw NYU Depth v2 PGM")
    with np.errstate(divide="ignore"):
        depth = 351.3 / (1092.5 - disp)
    depth[(disp >= 2047) | (depth <= 0) | (depth > 10.0)] = 0.0
    return depth.astype(np.float32)


def read_depth(path: str | Path, depth_format: str = "auto",
               depth_scale: float | None = None) -> tuple[np.ndarray, float, str]:
    """Read a depth image written by another tool, decoding its encoding.

    Args:
        path: 16-bit PNG (or any 16-bit image OpenCV reads), or a raw NYU ``.pgm``.
        depth_format: one of ``DEPTH_FORMATS`` (see there).
        depth_scale: metres per unit for ``raw``/``auto`` images (default 0.001); checked for plausibility.
            Contradicting a format with a fixed scale (``tum``, ``sunrgbd``, ``nyu``, ``mm``) is an error.

    Returns:
        (depth (H, W) uint16 units or float32 metres, metres per unit (1.0 for float), the format used).
    """
    path = Path(path)
    if depth_format not in DEPTH_FORMATS:
        raise ValueError(f"depth format {depth_format!r}: expected one of {DEPTH_FORMATS}")
    if depth_scale is not None:
        check_depth_scale(depth_scale)
    fixed = {"mm": 0.001, "tum": 1 / 5000, "sunrgbd": 0.001}
    if depth_format in fixed and depth_scale is not None and abs(depth_scale - fixed[depth_format]) > 1e-12:
        raise ValueError(f"--depth-scale {depth_scale:g} contradicts --depth-format {depth_format} "
                         f"({fixed[depth_format]:g} m per unit); give one of them")
    if not path.is_file():
        raise FileNotFoundError(f"depth image {path} does not exist")
    if depth_format == "nyu" or (depth_format == "auto" and path.suffix.lower() == ".pgm"):
        if depth_scale is not None:
            raise ValueError(f"{path}: NYU disparities have their own conversion; --depth-scale does not apply")
        return read_nyu_pgm(path), 1.0, "nyu"
    raw = read_depth_png(path)
    if depth_format == "sunrgbd" or (depth_format == "auto" and depth_scale is None and looks_like_sunrgbd(raw)):
        return sunrgbd_decode(raw), 0.001, "sunrgbd"
    if depth_format in fixed:
        return raw, fixed[depth_format], depth_format
    return raw, 0.001 if depth_scale is None else depth_scale, "raw"
