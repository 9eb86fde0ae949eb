"""Furnished rooms of a kind (bedroom, office, ...) and single-view scans that look like SUN RGB-D's.

:func:`~depth3d.sim.scene.generate_room` scatters furniture of all ten classes at random; real rooms are
not like that, and a detector trained only on such rooms learns little of the context it meets in a real
scan. :func:`generate_typed_room` furnishes a room of one kind, with the arrangements people use:

* **bedroom**: a bed with its headboard to a wall, night stands beside the headboard, a dresser (often with
  a mirror above it), sometimes a desk with a chair, a bookshelf, a wardrobe;
* **living room**: a sofa against a wall with a low table in front, armchairs, a second sofa at a right
  angle, a TV cabinet;
* **office** / **classroom**: desks against walls or in rows with chairs in front of them, bookshelves;
* **dining room**: a table with chairs round it, a sideboard (dresser);
* **bathroom**: a small room, a toilet and a bathtub against the walls, a vanity cabinet;
* **mixed**: :func:`~depth3d.sim.scene.generate_room`'s random furniture.

Furniture of the ten classes comes in the wider set of designs of
:func:`~depth3d.sim.objects.make_object` ``(rich=True)``: beds with bedding (a duvet over the sides, pillows
lying and standing, a throw) and head- and footboards from low panels to tall framed or carved ones, sofas
with back cushions, rolled arms or a chaise, tall chests and wide low dressers, night stands with open
shelves.

Every room also gets things that are not one of the ten classes and carry no box (class id 13,
``clutter``): ottomans and stools (which look like small sofas and tables), wardrobes and cabinets,
floor lamps, plants, boxes, doors, windows with dark glass (no depth, as on real sensors), curtains,
pictures and mirrors on the walls, lamps and small things on the furniture.

:func:`sun_view` places the camera as SUN RGB-D's were held: eye 0.9..1.7 m above the floor, looking
down at furniture 1..4.5 m away (pitch about 5..35 deg), often with objects cut by the image border.
:func:`sensor_profile` draws the depth camera of a scan: a RealSense-like stereo camera or a Kinect-like
structured-light one (1/8-pixel disparity steps, 4.5..8 m range, flying pixels at edges, more holes), with
its field of view.

World frame, box convention and mesh layout are those of :mod:`depth3d.sim.scene`: z up, metres; furniture
boxes with full sizes ``(l, w, h)``, ``l`` along the heading, heading counter-clockwise about +z from +x to
the object's front.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose
from depth3d.geometry.boxes import rotz as _rotz
from depth3d.sim.objects import CLASS_IDS, make_object
from depth3d.sim.realsense_sensor import RealSenseModel, d435_intrinsics
from depth3d.sim.scene import (STUFF_IDS, Scene, SceneObject, _clutter_mesh, _coloured, _jitter, _pose, _rect,
                               _rects_overlap, generate_room, room_shell)
from depth3d.sim.trajectory import look_at

#: kinds of room and how often :func:`generate_typed_room` draws each when none is given
ROOM_TYPES: dict[str, float] = {"bedroom": 0.25, "living_room": 0.15, "office": 0.18, "dining_room": 0.1,
                                "bathroom": 0.12, "classroom": 0.05, "mixed": 0.15}

_FLOOR_COLOURS = [(0.55, 0.4, 0.28), (0.7, 0.6, 0.48), (0.45, 0.45, 0.47), (0.8, 0.78, 0.74),
                  (0.35, 0.25, 0.2), (0.6, 0.58, 0.55)]
_WALL_COLOURS = [(0.92, 0.92, 0.9), (0.88, 0.84, 0.76), (0.75, 0.82, 0.85), (0.85, 0.8, 0.8),
                 (0.8, 0.85, 0.78), (0.7, 0.62, 0.5)]
_WOOD = [(0.55, 0.38, 0.22), (0.72, 0.55, 0.36), (0.36, 0.24, 0.15), (0.85, 0.75, 0.6), (0.25, 0.2, 0.18)]
_FABRIC = [(0.6, 0.15, 0.12), (0.2, 0.3, 0.55), (0.45, 0.5, 0.42), (0.75, 0.72, 0.65), (0.3, 0.3, 0.32),
           (0.8, 0.6, 0.3)]
_BRIGHT = [(0.8, 0.2, 0.2), (0.2, 0.6, 0.3), (0.2, 0.3, 0.8), (0.9, 0.8, 0.2), (0.9, 0.9, 0.9),
           (0.1, 0.1, 0.1), (0.6, 0.4, 0.7)]
_GLASS = [(0.03, 0.04, 0.05), (0.02, 0.02, 0.03)]  # below the sensors' dark-albedo limit: no depth
_MIRROR = [(0.6, 0.65, 0.7), (0.04, 0.04, 0.05)]

# room sizes (lx, ly ranges, metres) per kind
_ROOM_SIZES = {"bedroom": ((3.0, 5.5), (3.0, 5.0)), "living_room": ((3.5, 7.0), (3.0, 6.0)),
               "office": ((3.0, 6.5), (2.8, 5.5)), "dining_room": ((3.0, 6.0), (3.0, 5.5)),
               "bathroom": ((1.9, 3.6), (1.8, 3.2)), "classroom": ((5.0, 8.0), (4.5, 7.0))}


def _union(parts: Sequence) -> object:
    import trimesh

    return trimesh.util.concatenate(list(parts))


def _box(ext, centre, rgb) -> object:
    import trimesh

    m = trimesh.creation.box(extents=np.asarray(ext, np.float64))
    m.apply_translation(np.asarray(centre, np.float64))
    return _coloured(m, rgb)


def _cyl(radius, height, centre, rgb, sections: int = 12) -> object:
    import trimesh

    m = trimesh.creation.cylinder(radius=float(radius), height=float(height), sections=sections)
    m.apply_translation(np.asarray(centre, np.float64))
    return _coloured(m, rgb)


# ---------------------------------------------------------------------- things that carry no box
def _ottoman(rng: np.random.Generator):
    l, w, h = rng.uniform(0.4, 0.9), rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.45)
    cloth = _jitter(rng, _FABRIC)
    if rng.random() < 0.4:  # round pouf
        return _union([_cyl(min(l, w) / 2, h, (0, 0, h / 2), cloth, 16)])
    return _union([_box((l, w, h - 0.06), (0, 0, (h - 0.06) / 2 + 0.06), cloth),
                   _box((l - 0.04, w - 0.04, 0.06), (0, 0, 0.03), cloth * 0.8)])


def _stool(rng: np.random.Generator):
    h, r = rng.uniform(0.45, 0.8), rng.uniform(0.15, 0.22)
    col = _jitter(rng, _WOOD + _BRIGHT)
    parts = [_cyl(r, 0.04, (0, 0, h - 0.02), col, 14)]
    for k in range(int(rng.integers(3, 5))):
        a = 2 * np.pi * k / 4
        parts.append(_box((0.03, 0.03, h - 0.04), (0.8 * r * np.cos(a), 0.8 * r * np.sin(a), (h - 0.04) / 2),
                          col))
    return _union(parts)


def _wardrobe(rng: np.random.Generator):
    d, w, h = rng.uniform(0.4, 0.65), rng.uniform(0.6, 1.8), rng.uniform(1.5, 2.2)
    col = _jitter(rng, _WOOD + [(0.9, 0.9, 0.88)])
    parts = [_box((d, w, h), (0, 0, h / 2), col)]
    n = max(1, int(round(w / 0.5)))
    for k in range(n):  # door seams / handles on the front (+x)
        y = -w / 2 + w * (k + 0.5) / n
        parts.append(_box((0.02, 0.02, 0.2), (d / 2 + 0.01, y + 0.15 * w / n, h * 0.5), (0.6, 0.6, 0.62)))
    return _union(parts)


def _low_cabinet(rng: np.random.Generator):
    """A TV cabinet or sideboard, sometimes with a TV or a monitor on it."""
    d, w, h = rng.uniform(0.35, 0.5), rng.uniform(0.8, 1.8), rng.uniform(0.4, 0.6)
    col = _jitter(rng, _WOOD + [(0.15, 0.15, 0.16)])
    parts = [_box((d, w, h), (0, 0, h / 2), col)]
    if rng.random() < 0.6:
        tw, th = rng.uniform(0.7, min(1.4, w)), rng.uniform(0.45, 0.8)
        parts.append(_box((0.2, 0.3, 0.03), (0, 0, h + 0.015), (0.1, 0.1, 0.1)))
        parts.append(_box((0.06, tw, th), (0, 0, h + 0.05 + th / 2), (0.08, 0.08, 0.09)))
    return _union(parts)


def _floor_lamp(rng: np.random.Generator):
    h = rng.uniform(1.3, 1.8)
    pole = _cyl(0.015, h, (0, 0, h / 2), (0.6, 0.6, 0.62), 8)
    base = _cyl(0.14, 0.03, (0, 0, 0.015), (0.2, 0.2, 0.2), 12)
    shade = _cyl(rng.uniform(0.15, 0.25), 0.25, (0, 0, h), _jitter(rng, [(0.95, 0.92, 0.85), (0.8, 0.75, 0.6)]))
    return _union([pole, base, shade])


def _plant(rng: np.random.Generator):
    import trimesh

    pot_h, r = rng.uniform(0.2, 0.45), rng.uniform(0.12, 0.25)
    pot = _cyl(r, pot_h, (0, 0, pot_h / 2), _jitter(rng, [(0.6, 0.35, 0.2), (0.9, 0.9, 0.88), (0.2, 0.2, 0.2)]))
    leaves = trimesh.creation.icosphere(subdivisions=1, radius=rng.uniform(0.25, 0.5))
    leaves.apply_scale([1.0, 1.0, rng.uniform(1.0, 1.8)])
    leaves.apply_translation([0, 0, pot_h - leaves.bounds[0, 2]])
    return _union([pot, _coloured(leaves, _jitter(rng, [(0.2, 0.45, 0.2), (0.3, 0.5, 0.25)]))])


def _table_lamp(rng: np.random.Generator):
    h = rng.uniform(0.3, 0.55)
    return _union([_cyl(0.07, h * 0.6, (0, 0, h * 0.3), _jitter(rng, _BRIGHT + _WOOD), 10),
                   _cyl(rng.uniform(0.1, 0.18), h * 0.4, (0, 0, h * 0.8),
                        _jitter(rng, [(0.95, 0.92, 0.85), (0.85, 0.8, 0.7)]), 12)])


def _monitor(rng: np.random.Generator):
    w, h = rng.uniform(0.45, 0.7), rng.uniform(0.3, 0.45)
    return _union([_box((0.18, 0.22, 0.02), (0, 0, 0.01), (0.1, 0.1, 0.1)),
                   _box((0.04, 0.04, 0.12), (0, 0, 0.08), (0.1, 0.1, 0.1)),
                   _box((0.03, w, h), (0, 0, 0.12 + h / 2), (0.05, 0.05, 0.06))])


#: free-standing things without a box, drawn with these weights
_FLOOR_THINGS = {"ottoman": (_ottoman, 0.18), "stool": (_stool, 0.12), "wardrobe": (_wardrobe, 0.15),
                 "low_cabinet": (_low_cabinet, 0.12), "floor_lamp": (_floor_lamp, 0.13), "plant": (_plant, 0.12),
                 "box": (_clutter_mesh, 0.18)}


def _draw_thing(rng: np.random.Generator):
    """The maker of one thing without a box, drawn with the weights of :data:`_FLOOR_THINGS`."""
    names = list(_FLOOR_THINGS)
    w = np.array([_FLOOR_THINGS[k][1] for k in names])
    return _FLOOR_THINGS[names[int(rng.choice(len(names), p=w / w.sum()))]][0]


def _standing(mesh):
    """Move a thing to stand on z = 0, centred in x, y; returns (mesh, (l, w, h))."""
    lo, hi = mesh.bounds
    mesh.apply_translation([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    return mesh, np.asarray(mesh.extents, np.float64)


# ---------------------------------------------------------------------- placement
class _Room:
    """The room being furnished: its shell, the meshes so far and the floor footprints taken."""

    def __init__(self, rng: np.random.Generator, lx: float, ly: float, hz: float) -> None:
        self.rng, self.lx, self.ly, self.hz = rng, lx, ly, hz
        self.objects: list[SceneObject] = []
        self.rects: list[np.ndarray] = []
        self.meshes, self.class_ids = room_shell(rng, lx, ly, hz, True, _FLOOR_COLOURS, _WALL_COLOURS)

    def _add(self, mesh, class_id: int) -> int:
        self.meshes.append(mesh)
        self.class_ids.append(int(class_id))
        return len(self.meshes) - 1

    # -- where things may stand
    def fits(self, cx: float, cy: float, l: float, w: float, yaw: float, margin: float = 0.05,
             ignore: Sequence[int] = ()) -> bool:
        inner = _rect(cx, cy, l, w, yaw)
        if np.any(np.abs(inner[:, 0]) > self.lx / 2 + 1e-9) or np.any(np.abs(inner[:, 1]) > self.ly / 2 + 1e-9):
            return False
        rect = _rect(cx, cy, l + 2 * margin, w + 2 * margin, yaw)
        return not any(_rects_overlap(rect, r) for i, r in enumerate(self.rects) if i not in ignore)

    def wall_spot(self, l: float, w: float, side: int | None = None) -> tuple[float, float, float]:
        """A spot with the back (-x of the object) against a wall: (cx, cy, yaw)."""
        rng = self.rng
        side = int(rng.integers(4)) if side is None else side
        yaw = (np.pi, 0.0, -np.pi / 2, np.pi / 2)[side]
        gap = rng.uniform(0.01, 0.08)
        if side < 2:
            cx = (self.lx / 2 - gap - l / 2) * (1 if side == 0 else -1)
            span = self.ly / 2 - w / 2 - 0.05
            cy = rng.uniform(-span, span) if span > 0 else 0.0
        else:
            cy = (self.ly / 2 - gap - l / 2) * (1 if side == 2 else -1)
            span = self.lx / 2 - w / 2 - 0.05
            cx = rng.uniform(-span, span) if span > 0 else 0.0
        return cx, cy, yaw

    # -- adding
    def put(self, mesh, size, cx: float, cy: float, yaw: float, class_name: str | None,
            margin: float = 0.05, ignore: Sequence[int] = (), z: float = 0.0) -> dict | None:
        """Place ``mesh`` (object frame, standing on z = 0) at (cx, cy) with ``yaw`` if its footprint is free;
        ``class_name`` None adds clutter without a box. Returns the placed thing's record or None."""
        l, w, h = (float(v) for v in size)
        if h >= self.hz - 0.05 or not self.fits(cx, cy, l, w, yaw, margin, ignore):
            return None
        yaw = float(np.arctan2(np.sin(yaw), np.cos(yaw)))
        mesh.apply_transform(_pose(cx, cy, z, yaw))
        self.rects.append(_rect(cx, cy, l + 2 * margin, w + 2 * margin, yaw))
        if class_name is None:
            self._add(mesh, STUFF_IDS["clutter"])
        else:
            inst = self._add(mesh, CLASS_IDS[class_name])
            self.objects.append(SceneObject(class_name=class_name, class_id=CLASS_IDS[class_name], instance=inst,
                                            centre=np.array([cx, cy, z + h / 2]), size=np.array([l, w, h]),
                                            heading=yaw))
        return {"cx": cx, "cy": cy, "yaw": yaw, "l": l, "w": w, "h": h, "rect": len(self.rects) - 1,
                "name": class_name}

    def against_wall(self, name: str, side: int | None = None, tries: int = 30) -> dict | None:
        mesh, size = make_object(name, self.rng, rich=True)
        for _ in range(tries):
            cx, cy, yaw = self.wall_spot(size[0], size[1], side)
            got = self.put(mesh, size, cx, cy, yaw, name)
            if got:
                return got
        return None

    def free_standing(self, name: str | None, make=None, tries: int = 30, wall_prob: float = 0.0) -> dict | None:
        rng = self.rng
        if name is not None:
            mesh, size = make_object(name, rng, rich=True)
        else:
            mesh, size = _standing(make(rng))
        for _ in range(tries):
            if rng.random() < wall_prob:
                cx, cy, yaw = self.wall_spot(size[0], size[1])
            else:
                r = 0.5 * np.hypot(size[0], size[1])
                if self.lx < 2 * r + 0.1 or self.ly < 2 * r + 0.1:
                    return None
                cx = rng.uniform(-self.lx / 2 + r, self.lx / 2 - r)
                cy = rng.uniform(-self.ly / 2 + r, self.ly / 2 - r)
                yaw = rng.uniform(-np.pi, np.pi) if rng.random() < 0.4 else rng.integers(4) * np.pi / 2 \
                    + rng.normal(0, 0.1)
            got = self.put(mesh, size, cx, cy, yaw, name)
            if got:
                return got
        return None

    def relative(self, anchor: dict, name: str | None, u: float, v: float, dyaw: float, make=None,
                 overlap_anchor: bool = False, tries: int = 6, jitter: float = 0.05) -> dict | None:
        """Place a thing at (u, v) in the anchor's frame (u along the anchor's heading, v across; the
        offsets are to the thing's centre, with ``u``/``v`` callables of the thing's size), heading the
        anchor's plus ``dyaw``."""
        rng = self.rng
        if name is not None:
            mesh, size = make_object(name, rng, rich=True)
        else:
            mesh, size = _standing(make(rng))
        R = _rotz(anchor["yaw"])[:2, :2]
        for _ in range(tries):
            du = u(size) if callable(u) else u
            dv = v(size) if callable(v) else v
            du, dv = du + rng.normal(0, jitter), dv + rng.normal(0, jitter)
            cx, cy = np.array([anchor["cx"], anchor["cy"]]) + R @ [du, dv]
            yaw = anchor["yaw"] + dyaw + rng.normal(0, 0.06)
            got = self.put(mesh, size, float(cx), float(cy), yaw, name, margin=0.02,
                           ignore=(anchor["rect"],) if overlap_anchor else ())
            if got:
                return got
        return None

    # -- things on surfaces and on walls
    def on_top(self, anchor: dict, make, where: float | None = None) -> None:
        rng = self.rng
        mesh, size = _standing(make(rng))
        if size[0] > anchor["l"] or size[1] > anchor["w"]:
            return
        u = rng.uniform(-0.35, 0.35) * (anchor["l"] - size[0])
        v = (rng.uniform(-0.4, 0.4) if where is None else where) * (anchor["w"] - size[1])
        xy = np.array([anchor["cx"], anchor["cy"]]) + _rotz(anchor["yaw"])[:2, :2] @ [u, v]
        mesh.apply_transform(_pose(xy[0], xy[1], anchor["h"], anchor["yaw"] + rng.uniform(-0.5, 0.5)))
        self._add(mesh, STUFF_IDS["clutter"])

    def on_wall(self, kind: str, side: int | None = None, above: dict | None = None) -> None:
        """A door, window (dark glass, with curtains), picture or mirror on a wall (``above``: centred over
        that thing, on the wall behind it)."""
        rng = self.rng
        if above is not None:
            # the wall behind the anchor: its back (-x in its frame) faces that wall
            back = np.array([above["cx"], above["cy"]]) - _rotz(above["yaw"])[:2, :2] @ [above["l"] / 2, 0]
            side = int(np.argmax([back[0], -back[0], back[1], -back[1]]))
            along = back[1] if side < 2 else back[0]
        else:
            side = int(rng.integers(4)) if side is None else side
            along = None
        half_span = (self.ly if side < 2 else self.lx) / 2
        if kind == "door":
            w, h, z0, d, rgb = rng.uniform(0.75, 0.95), rng.uniform(1.95, 2.1), 0.0, 0.04, _jitter(rng, _WOOD + _WALL_COLOURS)
        elif kind == "window":
            w, h, z0, d, rgb = rng.uniform(0.8, 1.8), rng.uniform(0.9, 1.5), rng.uniform(0.7, 1.0), 0.03, _jitter(rng, _GLASS)
        elif kind == "mirror":
            w, h, z0, d, rgb = rng.uniform(0.4, 1.0), rng.uniform(0.5, 1.0), rng.uniform(0.3, 1.0), 0.02, \
                _jitter(rng, _MIRROR)
        else:  # picture
            w, h, z0, d, rgb = rng.uniform(0.3, 1.0), rng.uniform(0.25, 0.8), rng.uniform(1.2, 1.6), 0.03, _jitter(rng, _BRIGHT + _WOOD)
        if above is not None:
            z0 = above["h"] + rng.uniform(0.1, 0.3)
        if w > 2 * half_span - 0.2 or z0 + h > self.hz - 0.05:
            return
        a = along if along is not None else rng.uniform(-half_span + w / 2 + 0.1, half_span - w / 2 - 0.1)
        n = (self.lx if side < 2 else self.ly) / 2 - d / 2
        if kind == "door" and any(_rects_overlap(_rect(*self._wall_xy(side, n - 0.4, a), 0.8, w, 0), r)
                                  for r in self.rects):
            return  # keep doors clear of furniture
        ext = (d, w, h) if side < 2 else (w, d, h)
        cx, cy = self._wall_xy(side, n, a)
        parts = [_box(ext, (cx, cy, z0 + h / 2), rgb)]
        if kind == "window":  # frame bars and, often, curtains either side
            bar = (0.9, 0.9, 0.9)
            parts.append(_box((d + 0.01, w, 0.05) if side < 2 else (w, d + 0.01, 0.05), (cx, cy, z0 + h / 2), bar))
            if rng.random() < 0.6:
                cur = _jitter(rng, _FABRIC + _WALL_COLOURS)
                for s in (-1, 1):
                    cw = rng.uniform(0.2, 0.45)
                    off = a + s * (w / 2 + cw / 2 - 0.05)
                    for k in range(3):  # folds: three panels at different depths
                        fx, fy = self._wall_xy(side, n - 0.05 - 0.04 * (k % 2), off + (k - 1) * cw / 3)
                        parts.append(_box((0.03, cw / 3, self.hz - 0.2) if side < 2 else (cw / 3, 0.03, self.hz - 0.2),
                                          (fx, fy, (self.hz - 0.2) / 2 + 0.05), cur))
        self._add(_union(parts), STUFF_IDS["clutter"])

    def _wall_xy(self, side: int, n: float, a: float) -> tuple[float, float]:
        if side == 0:
            return n, a
        if side == 1:
            return -n, a
        return (a, n) if side == 2 else (a, -n)

    def scene(self, seed: int) -> Scene:
        return Scene(meshes=self.meshes, class_ids=np.asarray(self.class_ids), objects=self.objects,
                     room_size=np.array([self.lx, self.ly, self.hz]), seed=int(seed))


def _chair_at(room: _Room, desk: dict) -> dict | None:
    # the chair's front (its seat edge, +x) faces the desk's front; tucked in a little or pulled back
    return room.relative(desk, "chair", lambda s: desk["l"] / 2 + room.rng.uniform(-0.15, 0.25) + s[0] / 2, 0.0,
                         np.pi, overlap_anchor=True)


def _maybe(room: _Room, extras: list) -> None:
    """Optional furniture, in order: ``(probability, class name or maker of a thing without a box, "wall" |
    "free")``; each is drawn (one uniform number), then placed with its back to a wall or anywhere."""
    for prob, what, where in extras:
        if room.rng.random() < prob:
            if isinstance(what, str):
                room.against_wall(what) if where == "wall" else room.free_standing(what)
            else:
                room.free_standing(None, what, wall_prob=1.0 if where == "wall" else 0.0)


def _furnish(room: _Room, kind: str) -> None:
    rng = room.rng
    p = rng.random
    if kind == "bedroom":
        bed = room.against_wall("bed")
        if bed:
            for s in (-1, 1):
                if p() < 0.75:
                    ns = room.relative(bed, "night_stand", lambda sz: -bed["l"] / 2 + sz[0] / 2 + 0.03,
                                       lambda sz, s=s: s * (bed["w"] / 2 + sz[1] / 2 + rng.uniform(0.02, 0.12)), 0.0)
                    if ns and p() < 0.7:
                        room.on_top(ns, _table_lamp)
            if p() < 0.5:
                room.on_wall("picture", above=bed)
            if p() < 0.3:  # a bench or ottoman at the foot of the bed
                room.relative(bed, None, lambda sz: bed["l"] / 2 + sz[0] / 2 + 0.1, 0.0, 0.0, make=_ottoman)
        if p() < 0.65:
            dr = room.against_wall("dresser")
            if dr:
                if p() < 0.5:
                    room.on_wall("mirror", above=dr)
                if p() < 0.5:
                    room.on_top(dr, _clutter_mesh)
        if p() < 0.3:
            desk = room.against_wall("desk")
            if desk and p() < 0.8:
                _chair_at(room, desk)
        _maybe(room, [(0.2, "bookshelf", "wall"), (0.2, "chair", "free"), (0.4, _wardrobe, "wall")])
    elif kind == "living_room":
        sofa = room.against_wall("sofa")
        if sofa:
            if p() < 0.8:  # coffee table in front
                room.relative(sofa, "table", lambda sz: sofa["l"] / 2 + sz[0] / 2 + rng.uniform(0.3, 0.6), 0.0,
                              rng.integers(2) * np.pi / 2)
            if p() < 0.35:  # a second sofa at a right angle
                room.against_wall("sofa")
        for _ in range(int(rng.integers(0, 3))):
            room.free_standing("chair")
        _maybe(room, [(0.3, "bookshelf", "wall"), (0.5, _low_cabinet, "wall"), (0.4, _ottoman, "free"),
                      (0.2, "table", "wall")])
    elif kind in ("office", "classroom"):
        n_desks = int(rng.integers(1, 4)) if kind == "office" else int(rng.integers(3, 8))
        for i in range(n_desks):
            desk = room.against_wall("desk") if (kind == "office" or i < 2) else room.free_standing("desk")
            if desk:
                if p() < 0.85:
                    _chair_at(room, desk)
                if p() < 0.6:
                    room.on_top(desk, _monitor)
                if p() < 0.4:
                    room.on_top(desk, _clutter_mesh)
        for _ in range(int(rng.integers(0, 3))):
            room.against_wall("bookshelf")
        if p() < 0.3:
            t = room.free_standing("table")
            if t:
                for _ in range(int(rng.integers(0, 3))):
                    _around(room, t)
        _maybe(room, [(0.3, "sofa", "wall"), (0.3, _wardrobe, "wall")])
    elif kind == "dining_room":
        t = room.free_standing("table")
        if t:
            for _ in range(int(rng.integers(2, 7))):
                _around(room, t)
            if p() < 0.5:
                room.on_top(t, _clutter_mesh)
        _maybe(room, [(0.4, "dresser", "wall"), (0.2, "bookshelf", "wall"), (0.2, "sofa", "wall")])
    elif kind == "bathroom":
        room.against_wall("toilet")
        _maybe(room, [(0.7, "bathtub", "wall"), (0.4, _low_cabinet, "wall"), (0.3, "toilet", "wall")])
    for _ in range(int(rng.integers(1, 5))):  # things without a box
        room.free_standing(None, _draw_thing(rng), wall_prob=0.5)
    for _ in range(int(rng.integers(0, 6))):  # small things on the floor
        room.free_standing(None, _clutter_mesh)
    if p() < 0.7:
        room.on_wall("door")
    for _ in range(int(rng.integers(0, 3))):
        room.on_wall("window")
    for _ in range(int(rng.integers(0, 3))):
        room.on_wall("picture")


def _around(room: _Room, table: dict) -> dict | None:
    """A chair at one side of ``table``, facing its centre."""
    rng = room.rng
    k = int(rng.integers(4))
    half = (table["l"] if k % 2 == 0 else table["w"]) / 2
    along = (table["w"] if k % 2 == 0 else table["l"]) / 2
    a = k * np.pi / 2
    off = rng.uniform(-0.6, 0.6) * max(along - 0.3, 0)

    def u(sz, a=a, half=half, off=off):
        d = half + sz[0] / 2 + rng.uniform(-0.1, 0.2)
        return d * np.cos(a) - off * np.sin(a)

    def v(sz, a=a, half=half, off=off):
        d = half + sz[0] / 2 + rng.uniform(-0.1, 0.2)
        return d * np.sin(a) + off * np.cos(a)

    return room.relative(table, "chair", u, v, a + np.pi, overlap_anchor=True)


def generate_typed_room(seed: int, room_type: str | None = None) -> tuple[Scene, str]:
    """Generate a furnished room of a kind, reproducibly from ``seed``.

    Args:
        seed: random seed (same seed and type -> identical scene).
        room_type: one of :data:`ROOM_TYPES` (default: drawn from the seed with those weights).

    Returns:
        ``(scene, room_type)``: the :class:`~depth3d.sim.scene.Scene` (meshes [floor, 4 walls, ceiling,
        furniture and things in placement order]; boxes for the ten classes only) and the kind of room.
    """
    rng = np.random.default_rng([int(seed), 0x7E0])
    if room_type is None:
        kinds = list(ROOM_TYPES)
        w = np.array([ROOM_TYPES[k] for k in kinds])
        room_type = kinds[int(rng.choice(len(kinds), p=w / w.sum()))]
    if room_type not in ROOM_TYPES:
        raise ValueError(f"generate_typed_room: room_type must be one of {sorted(ROOM_TYPES)}, got {room_type!r}")
    if room_type == "mixed":
        base = generate_room(int(rng.integers(2**31)), rich=True)
        room = _Room(rng, *(float(v) for v in base.room_size))
        # keep the mixed room's furniture and clutter, add the things without boxes
        room.meshes, room.class_ids = list(base.meshes[:6]), [int(c) for c in base.class_ids[:6]]
        for m, c in zip(base.meshes[6:], base.class_ids[6:]):
            room._add(m, int(c))
        room.objects = list(base.objects)
        room.rects = [_rect(o.centre[0], o.centre[1], o.size[0] + 0.1, o.size[1] + 0.1, o.heading)
                      for o in base.objects]
        for _ in range(int(rng.integers(1, 4))):
            room.free_standing(None, _draw_thing(rng), wall_prob=0.5)
        for kind in ("door", "window", "picture"):
            if rng.random() < 0.6:
                room.on_wall(kind)
        return room.scene(seed), room_type
    (xlo, xhi), (ylo, yhi) = _ROOM_SIZES[room_type]
    room = _Room(rng, rng.uniform(xlo, xhi), rng.uniform(ylo, yhi), rng.uniform(2.4, 3.0))
    _furnish(room, room_type)
    return room.scene(seed), room_type


# ---------------------------------------------------------------------- camera and sensor
def sun_view(scene: Scene, rng: np.random.Generator, tries: int = 200) -> Pose:
    """A camera pose as SUN RGB-D's were taken: eye 0.9..1.7 m high, 1..4.5 m from one of the room's
    objects (or a point of the room), looking at it from a free spot (at least 0.3 m from the floor
    footprint of every mesh but floor, walls and ceiling and 0.25 m from the walls, as a person stands; in a
    room too crowded for that, the freest spot); pitch follows from the heights."""
    lx, ly, hz = scene.room_size
    lo = np.array([m.bounds[0][:2] for m in scene.meshes[6:]]).reshape(-1, 2)
    hi = np.array([m.bounds[1][:2] for m in scene.meshes[6:]]).reshape(-1, 2)

    def slack(xy: np.ndarray) -> float:
        """How far (metres) ``xy`` is from breaking the rules: 0.3 m (per axis) from every footprint,
        0.25 m from the walls; negative where it breaks them."""
        gap = np.maximum(lo - xy, xy - hi).max(axis=1)  # > 0: outside the footprint by that much on some axis
        walls = min(lx / 2 - abs(xy[0]), ly / 2 - abs(xy[1])) - 0.25
        return float(min(np.min(gap, initial=np.inf) - 0.3, walls))

    for _ in range(tries):
        if scene.objects and rng.random() < 0.85:
            o = scene.objects[int(rng.integers(len(scene.objects)))]
            target = o.centre.copy()
            target[2] = min(target[2], 0.6) + rng.uniform(-0.2, 0.2)
            target[:2] += rng.normal(0, 0.4, 2)
        else:
            target = np.array([rng.uniform(-lx / 3, lx / 3), rng.uniform(-ly / 3, ly / 3), rng.uniform(0.2, 0.9)])
        a = rng.uniform(-np.pi, np.pi)
        dist = rng.uniform(1.0, 4.5)
        eye = np.array([target[0] + dist * np.cos(a), target[1] + dist * np.sin(a), rng.uniform(0.9, 1.7)])
        if eye[2] > hz - 0.2 or slack(eye[:2]) <= 0:
            continue
        return look_at(eye, target)
    # a crowded or small room (a bathroom): the freest spot of a 10 cm grid, looking at the room centre
    grid = [np.array([x, y]) for x in np.arange(-lx / 2 + 0.05, lx / 2, 0.1) for y in np.arange(-ly / 2 + 0.05, ly / 2, 0.1)]
    best = max(grid, key=slack)
    return look_at(np.array([best[0], best[1], min(1.3, hz - 0.2)]), [0.0, 0.0, 0.5])


#: depth cameras :func:`sensor_profile` draws from, with their weights
SENSORS: dict[str, float] = {"realsense": 0.4, "kinect": 0.6}


def sensor_profile(rng: np.random.Generator, width: int, height: int) -> tuple[str, RealSenseModel, Intrinsics]:
    """Draw a scan's depth camera: ``(name, model, intrinsics)`` for an image of ``width`` x ``height``.

    * ``realsense``: the D435-like stereo camera (87 deg wide) with its subpixel noise and holes varied;
    * ``kinect``: a Kinect v1 / Xtion-like structured-light camera, 57..70 deg wide (SUN RGB-D's
      Kinect and Xtion frames), 7.5 cm baseline, disparity in 1/8-pixel steps, depth to 4.5..8 m, more
      edge dropouts and holes, flying pixels at edges.
    """
    names = list(SENSORS)
    w = np.array([SENSORS[k] for k in names])
    name = names[int(rng.choice(len(names), p=w / w.sum()))]
    if name == "realsense":
        model = RealSenseModel(subpixel=rng.uniform(0.05, 0.14), hole_fraction=rng.uniform(0.003, 0.03),
                               dark_albedo=rng.uniform(0.03, 0.08), flying_pixels=rng.uniform(0.0, 0.3))
        return name, model, d435_intrinsics(width, height)
    model = RealSenseModel(baseline=0.075, subpixel=rng.uniform(0.03, 0.09), disparity_step=0.125,
                           min_z=0.45, max_z=rng.uniform(4.5, 8.0), edge_dropout=rng.uniform(0.2, 0.6),
                           hole_fraction=rng.uniform(0.005, 0.05), dark_albedo=rng.uniform(0.04, 0.1),
                           grazing_deg=rng.uniform(75.0, 85.0), flying_pixels=rng.uniform(0.2, 0.7))
    hfov = np.deg2rad(rng.uniform(57.0, 70.0))
    fx = width / (2 * np.tan(hfov / 2))
    intr = Intrinsics(width=width, height=height, fx=fx, fy=fx, cx=(width - 1) / 2, cy=(height - 1) / 2)
    return name, model, intr
