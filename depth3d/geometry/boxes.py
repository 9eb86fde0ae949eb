"""Oriented 3D boxes, the one implementation used by detection, the viewer, the simulator and the datasets:
corners, line-set edges, point-in-box tests, exact oriented IoU and 3D NMS.

Box: centre (3,) metres, full size ``(l, w, h)`` metres, ``heading`` radians, in an upright frame (z up;
for detection x right, y forward). Heading convention: VoteNet's / SUN RGB-D's (``heading = -atan2(oy, ox)``
for a label whose l axis points along the direction ``(ox, oy)``). The box's l axis points along
``(cos(heading), -sin(heading))``: the box is the axis-aligned box rotated by ``rotz(-heading)``. In
words: seen from above (looking down -z, x to the right, y up the page), heading 0 lays the l side along
+x, and a POSITIVE heading turns the box CLOCKWISE (heading +pi/2 lays l along -y). The counter-clockwise
yaw (from +x towards +y) of the same box is ``-heading``; the boxes JSON written by ``depth3d detect``
stores that as ``heading`` and this one as ``heading_votenet`` (:mod:`depth3d.viz.boxes`).

Corner order (:func:`box_corners`): the bottom face (z - h/2) first, in box coordinates (along l, along w)
``(+l/2, +w/2), (-l/2, +w/2), (-l/2, -w/2), (+l/2, -w/2)`` (counter-clockwise seen from above), then the
top face (z + h/2) in the same order; :data:`EDGES` joins them into the 12 box edges.

Oriented IoU is exact: the two bird's-eye-view rectangles are clipped (Sutherland-Hodgman against a convex
polygon; points on an edge count as inside, so identical boxes give IoU exactly 1.0), the intersection area
is the clipped polygon's shoelace area, times the overlap of the z ranges. This is the quantity
facebookresearch/votenet ``utils/box_util.py:box3d_iou`` computes (there via ``scipy.spatial.ConvexHull``).
"""

from __future__ import annotations

import numpy as np

#: the 12 edges of a box as pairs of corner indices (:func:`box_corners` order): bottom, top, verticals
EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7))


def rotz(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians counter-clockwise about +z (a box of heading h is rotated by
    ``rotz(-h)``)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def box_corners(center, size, heading: float) -> np.ndarray:
    """(8, 3) float64 corners of one box (centre (3,) metres, full size (l, w, h) metres, heading radians;
    the convention and corner order of the module docstring)."""
    return boxes_corners(np.asarray(center, np.float64).reshape(1, 3), np.asarray(size, np.float64).reshape(1, 3),
                         np.asarray([heading], np.float64))[0]


def boxes_corners(centers: np.ndarray, sizes: np.ndarray, headings: np.ndarray) -> np.ndarray:
    """(K, 8, 3) float64 corners of K boxes: centres (K, 3), full sizes (K, 3), headings (K,) radians
    (module docstring: heading convention, corner order)."""
    centers, sizes, headings = (np.asarray(a, np.float64) for a in (centers, sizes, headings))
    half = sizes[:, None, :] / 2
    sgn = np.array([[1, 1, -1], [-1, 1, -1], [-1, -1, -1], [1, -1, -1],
                    [1, 1, 1], [-1, 1, 1], [-1, -1, 1], [1, -1, 1]], np.float64)
    local = sgn[None] * half
    c, s = np.cos(-headings)[:, None], np.sin(-headings)[:, None]
    x = c * local[..., 0] - s * local[..., 1]
    y = s * local[..., 0] + c * local[..., 1]
    return np.stack([x, y, local[..., 2]], -1) + centers[:, None, :]


def points_in_box(points: np.ndarray, center, size, heading: float) -> np.ndarray:
    """(N,) bool: which points (N, >=3) lie inside the box (centre (3,), full size (l, w, h), heading),
    boundary included."""
    p = np.asarray(points, np.float64)[:, :3] - np.asarray(center, np.float64)
    c, s = np.cos(-heading), np.sin(-heading)
    lx = c * p[:, 0] + s * p[:, 1]
    ly = -s * p[:, 0] + c * p[:, 1]
    half = np.asarray(size, np.float64) / 2
    return (np.abs(lx) <= half[0]) & (np.abs(ly) <= half[1]) & (np.abs(p[:, 2]) <= half[2])


def points_in_boxes_count(points: np.ndarray, centers: np.ndarray, sizes: np.ndarray,
                          headings: np.ndarray) -> np.ndarray:
    """(K,) int64: how many of ``points`` (N, 3) lie inside each of K boxes (centres (K, 3), full sizes (K, 3),
    headings (K,), radians; upright frame), boundary included.

    The points are sorted along x once; each box tests only the points whose x lies within its
    circumscribed radius (plus a rounding margin), with the same float64 arithmetic as
    :func:`points_in_box`, so the counts equal the brute-force ones."""
    p = np.asarray(points, np.float64)[:, :3]
    centers, sizes, headings = (np.asarray(a, np.float64) for a in (centers, sizes, headings))
    order = np.argsort(p[:, 0], kind="stable")
    ps = p[order]
    xs = ps[:, 0]
    out = np.zeros(len(centers), np.int64)
    for j in range(len(centers)):
        half = sizes[j] / 2
        r = float(np.hypot(half[0], half[1])) * (1 + 1e-9) + 1e-9
        lo = int(np.searchsorted(xs, centers[j, 0] - r, side="left"))
        hi = int(np.searchsorted(xs, centers[j, 0] + r, side="right"))
        if hi <= lo:
            continue
        d = ps[lo:hi] - centers[j]
        c, s = np.cos(-headings[j]), np.sin(-headings[j])
        inside = (np.abs(c * d[:, 0] + s * d[:, 1]) <= half[0]) & (np.abs(-s * d[:, 0] + c * d[:, 1]) <= half[1])
        inside &= np.abs(d[:, 2]) <= half[2]
        out[j] = int(inside.sum())
    return out


def _area(poly: np.ndarray) -> float:
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _ccw(poly: np.ndarray) -> np.ndarray:
    return poly if _area(poly) >= 0 else poly[::-1]


def polygon_clip(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: the part of polygon ``subject`` (n, 2) inside convex polygon ``clip`` (m, 2)
    (both any orientation). Returns (k, 2), counter-clockwise, k = 0 when they do not overlap."""
    out = [tuple(p) for p in _ccw(np.asarray(subject, np.float64))]
    clip = _ccw(np.asarray(clip, np.float64))
    eps = 1e-12
    for i in range(len(clip)):
        if not out:
            break
        a, b = clip[i - 1], clip[i]
        ex, ey = b[0] - a[0], b[1] - a[1]

        def side(p):
            return ex * (p[1] - a[1]) - ey * (p[0] - a[0])

        inp, out = out, []
        s = inp[-1]
        ss = side(s)
        for e in inp:
            es = side(e)
            if es >= -eps:
                if ss < -eps:
                    t = ss / (ss - es)
                    out.append((s[0] + t * (e[0] - s[0]), s[1] + t * (e[1] - s[1])))
                out.append(e)
            elif ss >= -eps:
                if ss > eps:
                    t = ss / (ss - es)
                    out.append((s[0] + t * (e[0] - s[0]), s[1] + t * (e[1] - s[1])))
            s, ss = e, es
    return np.asarray(out, np.float64).reshape(-1, 2)


def box3d_iou(corners1: np.ndarray, corners2: np.ndarray) -> tuple[float, float]:
    """(3D IoU, BEV IoU) of two boxes given as (8, 3) corners from :func:`box_corners` (bottom face first,
    z up). Identical corner sets give exactly (1.0, 1.0)."""
    c1, c2 = np.asarray(corners1, np.float64), np.asarray(corners2, np.float64)
    if np.array_equal(c1, c2):
        return 1.0, 1.0
    r1, r2 = c1[:4, :2], c2[:4, :2]
    a1, a2 = abs(_area(r1)), abs(_area(r2))
    inter = abs(_area(polygon_clip(r1, r2)))
    iou2d = inter / max(a1 + a2 - inter, 1e-12)
    zmax = min(c1[4:, 2].max(), c2[4:, 2].max())
    zmin = max(c1[:4, 2].min(), c2[:4, 2].min())
    inter_vol = inter * max(0.0, zmax - zmin)
    v1 = a1 * (c1[4:, 2].max() - c1[:4, 2].min())
    v2 = a2 * (c2[4:, 2].max() - c2[:4, 2].min())
    return float(inter_vol / max(v1 + v2 - inter_vol, 1e-12)), float(iou2d)


def get_iou_obb(bb1: np.ndarray, bb2: np.ndarray) -> float:
    """Oriented 3D IoU of two (8, 3) corner sets (reference ``eval_det.get_iou_obb``)."""
    return box3d_iou(bb1, bb2)[0]


def nms_3d_faster_samecls(boxes: np.ndarray, overlap_threshold: float, old_type: bool = False) -> list[int]:
    """Greedy 3D NMS on axis-aligned boxes (K, 8) = (xmin, ymin, zmin, xmax, ymax, zmax, score, class):
    suppresses only boxes of the same class with IoU > threshold (reference ``utils/nms.py``). Returns
    kept indices, highest score first."""
    boxes = np.asarray(boxes, np.float64)
    x1, y1, z1, x2, y2, z2, score, cls = (boxes[:, i] for i in range(8))
    area = (x2 - x1) * (y2 - y1) * (z2 - z1)
    order = np.argsort(score, kind="stable")
    pick = []
    while order.size:
        last = order.size
        i = order[-1]
        pick.append(int(i))
        rest = order[:last - 1]
        l = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        w = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        h = np.maximum(0, np.minimum(z2[i], z2[rest]) - np.maximum(z1[i], z1[rest]))
        inter = l * w * h
        if old_type:
            o = inter / area[rest]
        else:
            o = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        o = o * (cls[i] == cls[rest])
        order = np.delete(order, np.concatenate(([last - 1], np.where(o > overlap_threshold)[0])))
    return pick
