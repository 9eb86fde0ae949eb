"""Oriented 3D boxes for display: corners, Open3D line sets, class colours, and the boxes JSON format.

Box convention (VoteNet's): centre (3,) metres, full size (l, w, h) along the box's heading axis, its side
axis and z, heading angle (radians) about +z measured from +x. Coordinates are in whatever frame the boxes
were produced in (for detection: the upright frame, x right, y forward, z up).

Boxes JSON (written by ``depth3d detect``, read by ``depth3d view``)::

    {"frame": "upright", "boxes": [{"class": "chair", "score": 0.93, "center": [x, y, z],
                                    "size": [l, w, h], "heading": 0.3}, ...]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: 20 distinct RGB colours (0..1); a class takes ``CLASS_COLORS[class_id % 20]``.
CLASS_COLORS = np.array([
    [0.90, 0.10, 0.10], [0.10, 0.60, 0.90], [0.20, 0.75, 0.20], [0.95, 0.60, 0.10], [0.60, 0.20, 0.80],
    [0.10, 0.80, 0.75], [0.90, 0.30, 0.65], [0.55, 0.45, 0.20], [0.30, 0.30, 0.95], [0.75, 0.75, 0.10],
    [0.50, 0.10, 0.10], [0.10, 0.35, 0.50], [0.10, 0.45, 0.10], [0.55, 0.35, 0.05], [0.35, 0.10, 0.45],
    [0.05, 0.45, 0.45], [0.55, 0.15, 0.35], [0.30, 0.25, 0.10], [0.15, 0.15, 0.55], [0.45, 0.45, 0.05]])

_EDGES = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)]


def box_corners(center: Sequence[float], size: Sequence[float], heading: float) -> np.ndarray:
    """(8, 3) float64 corners: bottom face (z - h/2) counter-clockwise from (+l/2, +w/2), then the top face."""
    l, w, h = (float(s) / 2 for s in size)
    x = np.array([l, -l, -l, l, l, -l, -l, l])
    y = np.array([w, w, -w, -w, w, w, -w, -w])
    z = np.array([-h, -h, -h, -h, h, h, h, h])
    c, s = np.cos(heading), np.sin(heading)
    pts = np.stack([c * x - s * y, s * x + c * y, z], axis=1)
    return pts + np.asarray(center, dtype=np.float64)


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
    """One ``open3d.geometry.LineSet`` holding every box's 12 edges, coloured by class."""
    import open3d as o3d

    points, lines, colors = [], [], []
    for i, b in enumerate(boxes):
        points.append(box_corners(b["center"], b["size"], b.get("heading", 0.0)))
        lines.extend((a + 8 * i, c + 8 * i) for a, c in _EDGES)
        colors.extend([class_color(b.get("class", i), classes)] * len(_EDGES))
    ls = o3d.geometry.LineSet()
    if boxes:
        ls.points = o3d.utility.Vector3dVector(np.concatenate(points))
        ls.lines = o3d.utility.Vector2iVector(np.asarray(lines, dtype=np.int32))
        ls.colors = o3d.utility.Vector3dVector(np.asarray(colors, dtype=np.float64))
    return ls


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
