"""Point cloud files: PLY (binary/ASCII), PCD (binary/ASCII; compressed through Open3D), NPZ; for reading
also NumPy ``.npy`` / VoteNet ``_pc.npz`` arrays and triangle meshes (sampled, see :mod:`depth3d.io.meshes`).

All writes are atomic. Readers check the header against the file size, so a truncated file is an error
naming the file and how many bytes were expected, never a silently short cloud.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from depth3d.core.cloud import PointCloud
from depth3d.core.atomic import atomic_write
from depth3d.core.errors import InputError
from depth3d.io.meshes import DEFAULT_SAMPLES, MESH_SUFFIXES, is_mesh_file, read_mesh_as_cloud

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2", "ushort": "u2",
    "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4",
    "double": "f8", "float64": "f8",
}
SUFFIXES = (".ply", ".pcd", ".npz")
READ_SUFFIXES = SUFFIXES + (".npy",) + MESH_SUFFIXES


def _fmt_error(path: Path, what: str) -> InputError:
    return InputError(f"{path}: {what}")


def write_cloud(path: str | Path, cloud: PointCloud, *, binary: bool = True) -> None:
    """Write a cloud to ``.ply``, ``.pcd`` or ``.npz`` (by suffix), atomically.

    Points are stored as float32 x, y, z (metres), colours as uint8 red, green, blue (PLY) / packed rgb
    (PCD) / float32 0..1 (NPZ), normals as float32 nx, ny, nz.
    """
    if not isinstance(cloud, PointCloud):
        raise TypeError(f"write_cloud: cloud must be a depth3d.core.PointCloud, got {type(cloud).__name__} "
                        f"(wrap (N, 3) points as PointCloud(points))")
    path = Path(path)
    c = cloud.to_numpy()
    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays = {"points": np.asarray(c.points, np.float32)}
        if c.colors is not None:
            arrays["colors"] = np.asarray(c.colors, np.float32)
        if c.normals is not None:
            arrays["normals"] = np.asarray(c.normals, np.float32)
        with atomic_write(path) as f:
            np.savez(f, **arrays)
    elif suffix == ".ply":
        with atomic_write(path) as f:
            f.write(_ply_bytes(c, binary))
    elif suffix == ".pcd":
        with atomic_write(path) as f:
            f.write(_pcd_bytes(c, binary))
    else:
        raise ValueError(f"{path}: unsupported cloud format {suffix!r}; expected one of {SUFFIXES}")


def _structured(c: PointCloud) -> tuple[np.ndarray, list[tuple[str, str]]]:
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if c.normals is not None:
        fields += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
    if c.colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    arr = np.empty(len(c), dtype=fields)
    pts = np.asarray(c.points, np.float32)
    arr["x"], arr["y"], arr["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    if c.normals is not None:
        n = np.asarray(c.normals, np.float32)
        arr["nx"], arr["ny"], arr["nz"] = n[:, 0], n[:, 1], n[:, 2]
    if c.colors is not None:
        col = np.clip(np.rint(np.asarray(c.colors, np.float64) * 255), 0, 255).astype(np.uint8)
        arr["red"], arr["green"], arr["blue"] = col[:, 0], col[:, 1], col[:, 2]
    return arr, fields


def _ply_bytes(c: PointCloud, binary: bool) -> bytes:
    arr, fields = _structured(c)
    names = {"<f4": "float", "u1": "uchar"}
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0", "comment depth3d",
              f"element vertex {len(arr)}"]
    header += [f"property {names[t]} {n}" for n, t in fields]
    header.append("end_header")
    head = ("\n".join(header) + "\n").encode("ascii")
    if binary:
        return head + arr.tobytes()
    buf = io.StringIO()
    fmt = " ".join("%.9g" if t == "<f4" else "%d" for _, t in fields)
    for row in arr:
        buf.write(fmt % tuple(row) + "\n")
    return head + buf.getvalue().encode("ascii")


def _pcd_bytes(c: PointCloud, binary: bool) -> bytes:
    pts = np.asarray(c.points, np.float32)
    cols = [("x", "F", 4), ("y", "F", 4), ("z", "F", 4)]
    data = [pts[:, 0], pts[:, 1], pts[:, 2]]
    if c.normals is not None:
        n = np.asarray(c.normals, np.float32)
        cols += [("normal_x", "F", 4), ("normal_y", "F", 4), ("normal_z", "F", 4)]
        data += [n[:, 0], n[:, 1], n[:, 2]]
    if c.colors is not None:
        col = np.clip(np.rint(np.asarray(c.colors, np.float64) * 255), 0, 255).astype(np.uint32)
        packed = (col[:, 0] << 16) | (col[:, 1] << 8) | col[:, 2]
        cols.append(("rgb", "U", 4))  # packed 0x00RRGGBB as an unsigned integer, like Open3D writes it
        data.append(packed.astype(np.uint32))
    n_pts = len(pts)
    header = (f"# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
              f"FIELDS {' '.join(c_[0] for c_ in cols)}\nSIZE {' '.join('4' for _ in cols)}\n"
              f"TYPE {' '.join(c_[1] for c_ in cols)}\nCOUNT {' '.join('1' for _ in cols)}\n"
              f"WIDTH {n_pts}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n_pts}\n"
              f"DATA {'binary' if binary else 'ascii'}\n").encode("ascii")
    rec = np.empty(n_pts, dtype=[(name, "<u4" if t == "U" else "<f4") for name, t, _ in cols])
    for (name, _, _), col in zip(cols, data):
        rec[name] = col
    if binary:
        return header + rec.tobytes()
    lines = []
    for row in rec:
        vals = []
        for (name, _, _), v in zip(cols, row):
            vals.append(str(int(v)) if name == "rgb" else "%.9g" % v)
        lines.append(" ".join(vals))
    return header + ("\n".join(lines) + ("\n" if lines else "")).encode("ascii")


def _array_cloud(path: Path, arr: np.ndarray, what: str) -> PointCloud:
    """An (N, 3..) array: x, y, z [, r, g, b] (colours 0..1, or 0..255 when any exceeds 1)."""
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[1] < 3 or not (np.issubdtype(arr.dtype, np.integer)
                                                 or np.issubdtype(arr.dtype, np.floating)):
        raise _fmt_error(path, f"{what} must be a numeric (N, 3..6) array of x, y, z [, r, g, b], got "
                               f"{arr.dtype} {arr.shape}")
    pts = arr[:, :3].astype(np.float32)
    cols = None
    if arr.shape[1] >= 6:
        cols = arr[:, 3:6].astype(np.float32)
        if cols.size and cols.max() > 1.0:
            cols = cols / 255.0
    return PointCloud(pts, cols)


def read_cloud(path: str | Path, mesh_points: int = DEFAULT_SAMPLES) -> PointCloud:
    """Read a cloud: ``.ply`` (a PLY with faces is a mesh), ``.pcd``, ``.npz`` (depth3d's ``points`` [+
    ``colors``, ``normals``], or VoteNet's ``pc`` (N, 3..6)), ``.npy`` (N, 3..6: x, y, z [, r, g, b], e.g.
    ScanNet's ``_vert.npy``), or a mesh (``.off``/``.obj``/``.stl``/``.gltf``/``.glb``), sampled with
    ``mesh_points`` points on its surface. Points in the file's units (metres for depth3d's own files);
    colours come back as float32 0..1.

    Raises FileNotFoundError for a missing file and ValueError (naming the file) for an unknown format, a
    malformed header or a truncated body.
    """
    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise InputError(f"{path}: is a folder, expected a cloud file")
        raise FileNotFoundError(f"cloud file {path} does not exist")
    try:
        return _read_cloud(path, mesh_points)
    except InputError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, EOFError, zipfile.BadZipFile,
            UnicodeError, MemoryError, OSError) as exc:  # a damaged file trips a parser somewhere
        if isinstance(exc, OSError) and not isinstance(exc, (EOFError,)) and exc.errno is not None \
                and exc.filename is not None:
            raise  # a real I/O failure (permissions, ...), not a format problem
        msg = " ".join(str(exc).split())[:200]
        raise InputError(f"{path}: not a readable {path.suffix.lower() or 'cloud'} file, damaged or truncated "
                         f"({type(exc).__name__}: {msg})") from None


def _read_cloud(path: Path, mesh_points: int) -> PointCloud:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "points" in z:
                pts = z["points"]
                if pts.ndim != 2 or pts.shape[1] != 3 or not (np.issubdtype(pts.dtype, np.floating)
                                                                or np.issubdtype(pts.dtype, np.integer)):
                    raise _fmt_error(path, f"'points' must be a real (N, 3) array, got {pts.dtype} {pts.shape}")
                extra = {}
                for key in ("colors", "normals"):
                    if key in z:
                        a = z[key]
                        if a.shape != pts.shape or not np.issubdtype(a.dtype, np.number) \
                                or np.issubdtype(a.dtype, np.complexfloating):
                            raise _fmt_error(path, f"'{key}' must be a real {pts.shape} array like 'points', "
                                                   f"got {a.dtype} {a.shape}")
                        extra[key] = a.astype(np.float32)
                return PointCloud(pts.astype(np.float32), extra.get("colors"), extra.get("normals"))
            if "pc" in z:
                return _array_cloud(path, z["pc"], "VoteNet 'pc'")
            raise _fmt_error(path, f"NPZ cloud must hold an array 'points' (N, 3) or VoteNet's 'pc' (N, 3..6); "
                                   f"found {list(z.keys())}")
    if suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
        return _array_cloud(path, arr, ".npy cloud")
    if is_mesh_file(path):
        return read_mesh_as_cloud(path, mesh_points)
    if suffix == ".ply":
        return _read_ply(path)
    if suffix == ".pcd":
        return _read_pcd(path)
    raise ValueError(f"{path}: unsupported cloud format {suffix!r}; expected one of {READ_SUFFIXES}")


def _read_header(path: Path, data: bytes, end_marker: bytes) -> tuple[list[str], int]:
    end = data.find(end_marker)
    if end < 0:
        raise _fmt_error(path, f"no '{end_marker.decode().strip()}' line: not a valid header or truncated")
    stop = data.find(b"\n", end) + 1 if end_marker != b"\nDATA " else data.find(b"\n", end + 1) + 1
    if stop <= 0:
        raise _fmt_error(path, "header is truncated")
    return data[:stop].decode("ascii", errors="replace").splitlines(), stop


def _read_ply(path: Path) -> PointCloud:
    data = path.read_bytes()
    if not data.startswith(b"ply"):
        raise _fmt_error(path, "not a PLY file (missing 'ply' magic)")
    lines, body_start = _read_header(path, data, b"end_header")
    fmt = None
    elements: list[tuple[str, int, list[tuple[str, str]]]] = []
    for line in lines:
        tok = line.split()
        if not tok:
            continue
        if tok[0] == "format":
            fmt = tok[1]
        elif tok[0] == "element":
            if len(tok) != 3 or not tok[2].isdigit():
                raise _fmt_error(path, f"bad PLY header line {line.strip()!r}: expected 'element NAME COUNT' with "
                                       f"a count >= 0")
            elements.append((tok[1], int(tok[2]), []))
        elif tok[0] == "property":
            if not elements:
                raise _fmt_error(path, "property before any element")
            if len(tok) < 3 or (tok[1] == "list" and len(tok) != 5):
                raise _fmt_error(path, f"bad PLY header line {line.strip()!r}: expected 'property TYPE NAME'")
            if tok[1] == "list":
                elements[-1][2].append((tok[-1], "list:" + tok[2] + ":" + tok[3]))
            else:
                if tok[1] not in _PLY_TYPES:
                    raise _fmt_error(path, f"unknown PLY property type {tok[1]!r}")
                elements[-1][2].append((tok[2], _PLY_TYPES[tok[1]]))
    if fmt not in ("binary_little_endian", "binary_big_endian", "ascii"):
        raise _fmt_error(path, f"unsupported PLY format {fmt!r}")
    if not elements or elements[0][0] != "vertex":
        raise _fmt_error(path, "first PLY element must be 'vertex'")
    name, count, props = elements[0]
    if any(t.startswith("list") for _, t in props):
        raise _fmt_error(path, "list properties on vertices are not supported")
    if fmt == "ascii":
        text = data[body_start:].decode("ascii", errors="replace").split("\n")
        rows = [r for r in text[:count] if r.strip()]
        if len(rows) < count:
            raise _fmt_error(path, f"truncated: header declares {count} vertices, found {len(rows)}")
        vals = np.array([r.split()[:len(props)] for r in rows], dtype=np.float64)
        arr = {n: vals[:, j] for j, (n, _) in enumerate(props)}
    else:
        endian = "<" if fmt == "binary_little_endian" else ">"
        dt = np.dtype([(n, endian + t) for n, t in props])
        need = body_start + dt.itemsize * count
        if len(data) < need:
            raise _fmt_error(path, f"truncated: header declares {count} vertices ({need} bytes expected), "
                                   f"file has {len(data)} bytes")
        rec = np.frombuffer(data, dtype=dt, count=count, offset=body_start)
        arr = {n: rec[n] for n, _ in props}
    for key in ("x", "y", "z"):
        if key not in arr:
            raise _fmt_error(path, f"vertex has no '{key}' property")
    pts = np.stack([arr["x"], arr["y"], arr["z"]], axis=1).astype(np.float32)
    cols = None
    for r, g, b in (("red", "green", "blue"), ("r", "g", "b")):
        if r in arr:
            cols = np.stack([arr[r], arr[g], arr[b]], axis=1).astype(np.float32)
            if np.issubdtype(np.asarray(arr[r]).dtype, np.integer) or cols.max(initial=0) > 1.0:
                cols = cols / 255.0
            break
    nrm = None
    if "nx" in arr:
        nrm = np.stack([arr["nx"], arr["ny"], arr["nz"]], axis=1).astype(np.float32)
    return PointCloud(pts, cols, nrm)


def _read_pcd(path: Path) -> PointCloud:
    data = path.read_bytes()
    lines, body_start = _read_header(path, data, b"\nDATA ")
    hdr = {}
    for line in lines:
        tok = line.split()
        if tok and not tok[0].startswith("#"):
            hdr[tok[0].upper()] = tok[1:]
    for key in ("FIELDS", "SIZE", "TYPE", "POINTS", "DATA"):
        if key not in hdr:
            raise _fmt_error(path, f"PCD header misses {key}")
    mode = hdr["DATA"][0]
    if mode == "binary_compressed":
        import open3d as o3d

        pcd = o3d.t.io.read_point_cloud(str(path))
        if pcd.is_empty():
            raise _fmt_error(path, "compressed PCD could not be read (truncated or corrupt)")
        return PointCloud.from_open3d(pcd)
    fields = hdr["FIELDS"]
    for key in ("SIZE", "TYPE") + (("COUNT",) if "COUNT" in hdr else ()):
        if len(hdr[key]) != len(fields):
            raise _fmt_error(path, f"PCD header: {key} has {len(hdr[key])} entries for {len(fields)} FIELDS")
    for key in ("x", "y", "z"):
        if key not in fields:
            raise _fmt_error(path, f"PCD header: FIELDS has no '{key}' ({' '.join(fields)})")
    if not hdr["POINTS"] or not hdr["POINTS"][0].isdigit():
        raise _fmt_error(path, f"PCD header: POINTS must be a count >= 0, got {' '.join(hdr['POINTS'])!r}")
    counts = [int(c) for c in hdr.get("COUNT", ["1"] * len(fields))]
    if any(c != 1 for c in counts):
        raise _fmt_error(path, "PCD fields with COUNT > 1 are not supported")
    n = int(hdr["POINTS"][0])
    kinds = {("F", "4"): "f4", ("F", "8"): "f8", ("U", "1"): "u1", ("U", "2"): "u2", ("U", "4"): "u4",
             ("I", "1"): "i1", ("I", "2"): "i2", ("I", "4"): "i4"}
    for f, t, s in zip(fields, hdr["TYPE"], hdr["SIZE"]):
        if (t, s) not in kinds:
            raise _fmt_error(path, f"PCD header: field {f!r} has TYPE {t} SIZE {s}; expected F 4/8, U 1/2/4 or "
                                   f"I 1/2/4")
    dt = np.dtype([(f, "<" + kinds[(t, s)]) for f, t, s in zip(fields, hdr["TYPE"], hdr["SIZE"])])
    if mode == "binary":
        need = body_start + dt.itemsize * n
        if len(data) < need:
            raise _fmt_error(path, f"truncated: header declares {n} points ({need} bytes expected), "
                                   f"file has {len(data)} bytes")
        rec = np.frombuffer(data, dtype=dt, count=n, offset=body_start)
        col = {f: rec[f] for f in fields}
    elif mode == "ascii":
        rows = [r for r in data[body_start:].decode("ascii", errors="replace").split("\n") if r.strip()]
        if len(rows) < n:
            raise _fmt_error(path, f"truncated: header declares {n} points, found {len(rows)}")
        vals = [r.split() for r in rows[:n]]
        col = {}
        for j, (f, t) in enumerate(zip(fields, hdr["TYPE"])):
            if f in ("rgb", "rgba"):  # packed 0x00RRGGBB: float bits (TYPE F) or an integer (TYPE U)
                bits = [np.float32(float(v[j])).view(np.uint32) if t == "F" else int(float(v[j])) for v in vals]
                if t != "F" and any(not 0 <= b < 2 ** 32 for b in bits):
                    raise _fmt_error(path, f"PCD field {f!r}: packed colours must be integers 0..2^32-1")
                col[f] = np.array(bits, dtype=np.uint32)
            else:
                col[f] = np.array([float(v[j]) for v in vals])
    else:
        raise _fmt_error(path, f"unsupported PCD DATA mode {mode!r}")
    pts = np.stack([col["x"], col["y"], col["z"]], axis=1).astype(np.float32)
    colors = None
    key = "rgb" if "rgb" in col else "rgba" if "rgba" in col else None
    if key:
        raw = np.asarray(col[key])
        packed = raw.view(np.uint32) if raw.dtype == np.float32 else raw.astype(np.uint32)
        colors = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(np.float32) / 255
    normals = None
    if "normal_x" in col:
        normals = np.stack([col["normal_x"], col["normal_y"], col["normal_z"]], axis=1).astype(np.float32)
    return PointCloud(pts, colors, normals)
