"""Triangle meshes (.off, .obj, .stl, .gltf/.glb, PLY with faces) read with trimesh, and surface sampling.

ModelNet40's OFF files often run the magic into the counts (``OFF14963 19985 0`` on one line); they are
read as if the line break were there.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from depth3d.core.cloud import PointCloud

MESH_SUFFIXES = (".off", ".obj", ".stl", ".gltf", ".glb")
DEFAULT_SAMPLES = 50_000


def ply_has_faces(path: str | Path) -> bool:
    """True when a PLY header declares a non-empty ``face`` element (a mesh rather than a cloud)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    end = head.find(b"end_header")
    for line in head[: end if end >= 0 else len(head)].decode("ascii", "replace").splitlines():
        tok = line.split()
        if len(tok) == 3 and tok[0] == "element" and tok[1] == "face" and tok[2] != "0":
            return True
    return False


def is_mesh_file(path: str | Path) -> bool:
    """True for a mesh suffix, or a PLY with faces."""
    path = Path(path)
    suffix = path.suffix.lower()
    return suffix in MESH_SUFFIXES or (suffix == ".ply" and path.is_file() and ply_has_faces(path))


def read_mesh(path: str | Path):
    """Read a triangle mesh as ``trimesh.Trimesh`` (vertices in the file's units; scenes are merged).

    Raises FileNotFoundError, or ValueError naming the file when it holds no triangles or cannot be parsed.
    """
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mesh file {path} does not exist")
    suffix = path.suffix.lower().lstrip(".")
    data = path.read_bytes()
    if suffix == "off":
        first, _, rest = data.partition(b"\n")
        if first.startswith(b"OFF") and first[3:].strip()[:1].isdigit():  # ModelNet: "OFF14963 19985 0"
            data = b"OFF\n" + first[3:].strip() + b"\n" + rest
        elif not first.lstrip().startswith((b"OFF", b"COFF", b"NOFF", b"CNOFF")):
            raise ValueError(f"{path}: not an OFF file (first line should start with 'OFF')")
    try:
        mesh = trimesh.load(io.BytesIO(data), file_type=suffix, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many kinds for malformed files
        raise ValueError(f"{path}: not a readable {suffix.upper()} mesh ({type(exc).__name__}: "
                         f"{str(exc)[:120]})") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"{path}: no triangles could be read (expected a {suffix.upper()} triangle mesh)")
    if not np.isfinite(mesh.vertices).all():
        raise ValueError(f"{path}: mesh vertices contain NaN or infinity")
    return mesh


def mesh_to_cloud(mesh, n: int = DEFAULT_SAMPLES, seed: int = 0) -> PointCloud:
    """Sample ``n`` points uniformly (by area) on a mesh's surface.

    Returns:
        PointCloud: points (n, 3) float32 in the mesh's units, normals (n, 3) of the faces hit, colours
        (n, 3) 0..1 when the mesh has per-vertex colours (colour of the face's first vertex).
    """
    import trimesh

    pts, face = trimesh.sample.sample_surface(mesh, int(n), seed=seed)
    normals = np.asarray(mesh.face_normals[face], np.float32)
    colors = None
    vc = getattr(mesh.visual, "vertex_colors", None) if mesh.visual.kind == "vertex" else None
    if vc is not None and len(vc) == len(mesh.vertices):
        colors = np.asarray(vc, np.float32)[mesh.faces[face, 0], :3] / 255.0
    return PointCloud(np.asarray(pts, np.float32), colors, normals)


def read_mesh_as_cloud(path: str | Path, n: int = DEFAULT_SAMPLES, seed: int = 0) -> PointCloud:
    """:func:`read_mesh` then :func:`mesh_to_cloud`."""
    return mesh_to_cloud(read_mesh(path), n, seed)


def mesh_to_open3d(mesh):
    """``open3d.geometry.TriangleMesh`` of a trimesh mesh, with vertex normals."""
    import open3d as o3d

    out = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(mesh.vertices, np.float64)),
                                    o3d.utility.Vector3iVector(np.asarray(mesh.faces, np.int32)))
    out.compute_vertex_normals()
    return out
