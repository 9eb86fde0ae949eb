"""Oriented 3D boxes for display: Open3D line sets, PLY line sets, class colours, and the boxes JSON format.

Box dicts (the boxes JSON): centre (3,) metres, full size (l, w, h) along the box's heading axis, its side
axis and z, and ``heading``: the yaw in radians counter-clockwise about +z from +x (seen from above). That
is the NEGATED heading of :mod:`depth3d.geometry.boxes` (VoteNet's convention, which ``depth3d detect``
also writes as ``heading_votenet``); corners come from :func:`depth3d.geometry.boxes.box_corners` with
``-heading``, so the viewer, the PLY line sets and detection draw the same corners. Coordinates are in
whatever frame the boxes were produced in (for detection: the upright frame, x right, y forward, z up).

Boxes JSON (written by ``depth3d detect``, read by ``depth3d view``)::

    {"frame": "upright", "boxes": [{"class": "chair", "score": 0.93, "center": [x, y, z],
                                    "size": [l, w, h], "heading": 0.3}, ...]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from depth3d.geometry.boxes import EDGES, box_corners

#: 20 distinct RGB colours (0..1); a class takes ``CLASS_COLORS[class_id % 20]``.
CLASS_COLORS = np.array([
    [0.90, 0.10, 0.10], [0.10, 0.60, 0.90], [0.20, 0.75, 0.20], [0.95, 0.60, 0.10], [0.60, 0.20, 0.80],
    [0.10, 0.80, 0.75], [0.90, 0.30, 0.65], [0.55, 0.45, 0.20], [0.30, 0.30, 0.95], [0.75, 0.75, 0.10],
    [0.50, 0.10, 0.10], [0.10, 0.35, 0.50], [0.10, 0.45, 0.10], [0.55, 0.35, 0.05], [0.35, 0.10, 0.45],
    [0.05, 0.45, 0.45], [0.55, 0.15, 0.35], [0.30, 0.25, 0.10], [0.15, 0.15, 0.55], [0.45, 0.45, 0.05]])


def box_dict_corners(box: dict) -> np.ndarray:
    """(8, 3) float64 corners (order of :func:`depth3d.geometry.boxes.box_corners`) of a box dict with
    ``center``, ``size`` and optional ``heading`` (counter-clockwise yaw, radians; default 0)."""
    return box_corners(box["center"], box["size"], -float(box.get("heading", 0.0)))


def _box_color(box: dict, i: int, classes: Sequence[str] | None) -> np.ndarray:
    """A box's colour: by ``class_id`` when present (detections), else by ``class`` name, else by position."""
    return class_color(box["class_id"] if "class_id" in box else box.get("class", i), classes)


def class_color(name_or_id: Any, classes: Sequence[str] | None = None) -> np.ndarray:
    """Colour (3,) of a class given by id or by name (position in ``classes``, else a stable hash)."""
    if isinstance(name_or_id, (int, np.integer)):
        idx = int(name_or_id)
    elif classes is not None and name_or_id in classes:
        idx = list(classes).index(name_or_id)
    else:
        idx = sum(ord(ch) * (i + 1) for i, ch in enumerate(str(name_or_id)))
    return CLASS_COLORS[idx % len(CLASS_COLORS)]


def boxes_to_lineset(boxes: list[dict], classes: Sequence[str] | None = None):
    """One ``open3d.geometry.LineSet`` holding every box's 12 edges (:data:`~depth3d.geometry.boxes.EDGES`),
    coloured by class."""
    import open3d as o3d

    points, lines, colors = [], [], []
    for i, b in enumerate(boxes):
        points.append(box_dict_corners(b))
        lines.extend((a + 8 * i, c + 8 * i) for a, c in EDGES)
        colors.extend([_box_color(b, i, classes)] * len(EDGES))
    ls = o3d.geometry.LineSet()
    if boxes:
        ls.points = o3d.utility.Vector3dVector(np.concatenate(points))
        ls.lines = o3d.utility.Vector2iVector(np.asarray(lines, dtype=np.int32))
        ls.colors = o3d.utility.Vector3dVector(np.asarray(colors, dtype=np.float64))
    return ls


def box_label(box: dict) -> str:
    """The text drawn beside a box: its class name and score ("chair 0.93"), or the class alone."""
    name = str(box.get("class", box.get("class_id", "")))
    return f"{name} {float(box['score']):.2f}" if "score" in box else name


def boxes_to_labels(boxes: list[dict], classes: Sequence[str] | None = None, letter_height: float = 0.12,
                    up: Sequence[float] = (0.0, 0.0, 1.0), facing: Sequence[float] = (0.0, -1.0, 0.0)):
    """One ``open3d.geometry.TriangleMesh`` holding each box's :func:`box_label` as flat 3D text (Open3D's
    ``t.geometry.TriangleMesh.create_text``; renders in the legacy Visualizer, windows and off-screen alike),
    centred above the box's top centre, coloured as the box.

    ``letter_height``: metres; ``up``/``facing``: the text's up direction and the direction it faces (towards
    the viewer), in the boxes' frame (default: upright frame seen from behind the camera, z up, facing -y).
    An empty mesh when there are no boxes, or when this Open3D build cannot make text."""
    import open3d as o3d

    mesh = o3d.geometry.TriangleMesh()
    u = np.asarray(up, np.float64)
    u = u / np.linalg.norm(u)
    nrm = np.asarray(facing, np.float64)
    nrm = nrm - (nrm @ u) * u
    nrm = nrm / np.linalg.norm(nrm)
    rot = np.stack([np.cross(u, nrm), u, nrm], 1)  # text (x right, y up, z out) -> boxes' frame
    verts, tris, cols = [], [], []
    offset = 0
    for i, b in enumerate(boxes):
        try:
            text = o3d.t.geometry.TriangleMesh.create_text(box_label(b), depth=0.0).to_legacy()
        except (AttributeError, RuntimeError):  # no text support in this build
            return mesh
        v = np.asarray(text.vertices, np.float64)
        if len(v) == 0:
            continue
        scale = letter_height / 14.0  # create_text draws letters about 14 units tall
        lo, hi = v.min(0), v.max(0)
        v = (v - [(lo[0] + hi[0]) / 2, lo[1], 0.0]) * scale  # centred, standing on its baseline
        top = np.asarray(box_dict_corners(b))
        anchor = top.mean(0) + u * (float(np.max(top @ u) - top.mean(0) @ u) + 0.3 * letter_height)
        verts.append(v @ rot.T + anchor)
        tris.append(np.asarray(text.triangles) + offset)
        cols.append(np.repeat(_box_color(b, i, classes)[None], len(v), 0))
        offset += len(v)
    if verts:
        mesh.vertices = o3d.utility.Vector3dVector(np.concatenate(verts))
        mesh.triangles = o3d.utility.Vector3iVector(np.concatenate(tris).astype(np.int32))
        mesh.vertex_colors = o3d.utility.Vector3dVector(np.concatenate(cols))
        mesh.compute_vertex_normals()
    return mesh


def write_boxes_ply(path: str | Path, boxes: list[dict], classes: Sequence[str] | None = None) -> None:
    """Boxes as one ASCII PLY of line sets (8 vertices and 12 edges a box, coloured as
    :func:`boxes_to_lineset`), atomically."""
    from depth3d.core.atomic import atomic_write

    verts, edges = [], []
    for i, b in enumerate(boxes):
        verts.append(box_dict_corners(b))
        col = (_box_color(b, i, classes) * 255).astype(int)
        for a, c in EDGES:
            edges.append((8 * i + a, 8 * i + c, *col))
    v = np.concatenate(verts) if verts else np.zeros((0, 3))
    lines = ["ply", "format ascii 1.0", "comment depth3d detect: oriented 3D boxes, upright frame (z up), metres",
             f"element vertex {len(v)}", "property float x", "property float y", "property float z",
             f"element edge {len(edges)}", "property int vertex1", "property int vertex2",
             "property uchar red", "property uchar green", "property uchar blue", "end_header"]
    lines += [f"{p[0]:.5f} {p[1]:.5f} {p[2]:.5f}" for p in v]
    lines += [" ".join(str(int(x)) for x in e) for e in edges]
    with atomic_write(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def read_boxes(path: str | Path) -> list[dict]:
    """Boxes of a boxes JSON file (see the module docstring); checks every box's keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"boxes file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    boxes = data.get("boxes") if isinstance(data, dict) else data
    if not isinstance(boxes, list):
        raise ValueError(f"{path}: expected {{'boxes': [...]}} or a list of boxes")
    for i, b in enumerate(boxes):
        for key in ("center", "size"):
            if key not in b or len(b[key]) != 3:
                raise ValueError(f"{path}: box {i} needs '{key}' with 3 numbers")
    return boxes


def write_boxes(path: str | Path, boxes: list[dict], frame: str = "upright") -> None:
    """Write boxes JSON atomically."""
    from depth3d.core.atomic import atomic_write

    def clean(b: dict) -> dict:
        return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else
                    float(v) if isinstance(v, (np.floating,)) else v) for k, v in b.items()}

    with atomic_write(path, "w") as f:
        json.dump({"frame": frame, "boxes": [clean(b) for b in boxes]}, f, indent=1)
