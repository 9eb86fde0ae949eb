"""Procedural furniture of the ten SUN RGB-D detection classes, built from trimesh primitives.

Object frame: centred in x and y, z up from the floor at z = 0, metres. The object's front (the side one
sits on, looks into, opens) faces +x, the heading direction. The size ``(l, w, h)`` follows SUN RGB-D /
VoteNet: ``l`` is the extent along the heading (+x, front to back), ``w`` the extent across it (y), ``h``
the height (z). Typical sizes are drawn around SUN RGB-D's per-class mean sizes (VoteNet's
``type_mean_size``) with random proportions, so the shapes vary within each class.

Every returned mesh carries per-face colours (``mesh.visual.face_colors``, RGBA uint8) from a random
material palette (wood, fabric, ceramic, metal); the renderer uses them as albedo.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

from depth3d.core.errors import InputError
from depth3d.core.registry import Registry
from depth3d.models.votenet.config import SUNRGBD_CLASSES, SUNRGBD_MEAN_SIZE  # no torch

#: VoteNet's SUN RGB-D class order; the index is the class id (0..9).
CLASSES: tuple[str, ...] = SUNRGBD_CLASSES
CLASS_IDS: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

#: SUN RGB-D mean full sizes (l, w, h) in metres per class (VoteNet ``type_mean_size``).
MEAN_SIZES: dict[str, tuple[float, float, float]] = SUNRGBD_MEAN_SIZE

_WOOD = [(0.55, 0.38, 0.22), (0.72, 0.55, 0.36), (0.36, 0.24, 0.15), (0.85, 0.75, 0.6), (0.25, 0.2, 0.18)]
_FABRIC = [(0.6, 0.15, 0.12), (0.2, 0.3, 0.55), (0.45, 0.5, 0.42), (0.75, 0.72, 0.65), (0.3, 0.3, 0.32),
           (0.8, 0.6, 0.3)]
_CERAMIC = [(0.95, 0.95, 0.93), (0.88, 0.9, 0.92)]
_METAL = [(0.6, 0.6, 0.62), (0.15, 0.15, 0.16)]
_PAINT = [(0.95, 0.95, 0.95), (0.9, 0.88, 0.8), (0.2, 0.22, 0.25), (0.7, 0.75, 0.8)]


@lru_cache(maxsize=1)
def _unit_box() -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    m = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    return np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int64)


@lru_cache(maxsize=8)
def _unit_cylinder(sections: int) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    m = trimesh.creation.cylinder(radius=1.0, height=1.0, sections=sections)
    return np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int64)


_TO_X = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # z axis -> x axis
_TO_Y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # z axis -> y axis


class _Builder:
    """Collects coloured parts (boxes, cylinders) as raw arrays and concatenates them into one mesh
    (plain numpy: building thousands of small trimesh objects would dominate scene generation)."""

    def __init__(self, rng: np.random.Generator, rich: bool = False) -> None:
        self.rng = rng
        self.rich = rich
        self.verts: list[np.ndarray] = []
        self.faces: list[np.ndarray] = []
        self.colours: list[np.ndarray] = []
        self._nv = 0

    def colour(self, palette: list[tuple[float, float, float]]) -> np.ndarray:
        base = np.asarray(palette[int(self.rng.integers(len(palette)))], dtype=np.float64)
        return np.clip(base * self.rng.uniform(0.85, 1.15) + self.rng.normal(0, 0.03, 3), 0.02, 1.0)

    def _add_arrays(self, v: np.ndarray, f: np.ndarray, rgb) -> None:
        c = np.append(np.round(np.clip(np.asarray(rgb, np.float64), 0, 1) * 255), 255).astype(np.uint8)
        self.verts.append(v)
        self.faces.append(f + self._nv)
        self.colours.append(np.tile(c, (len(f), 1)))
        self._nv += len(v)

    def _add(self, mesh, rgb) -> None:
        self._add_arrays(np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64), rgb)

    def box(self, extents, centre, rgb) -> None:
        """Axis-aligned box of full ``extents`` (3,) centred at ``centre`` (3,)."""
        v, f = _unit_box()
        self._add_arrays(v * np.asarray(extents, np.float64) + np.asarray(centre, np.float64), f, rgb)

    def cylinder(self, radius, height, centre, rgb, axis: str = "z", sections: int = 16) -> None:
        """Cylinder of ``radius`` and ``height`` along ``axis`` centred at ``centre``."""
        v, f = _unit_cylinder(sections)
        v = v * np.array([radius, radius, height], np.float64)
        if axis == "x":
            v = v @ _TO_X.T
        elif axis == "y":
            v = v @ _TO_Y.T
        self._add_arrays(v + np.asarray(centre, np.float64), f, rgb)

    def legs(self, l, w, h, thick, rgb, round_legs: bool, inset: float = 0.0) -> None:
        """Four legs from the floor to height ``h`` under an ``l`` x ``w`` footprint."""
        for sx in (-1, 1):
            for sy in (-1, 1):
                cx = sx * (l / 2 - thick / 2 - inset)
                cy = sy * (w / 2 - thick / 2 - inset)
                if round_legs:
                    self.cylinder(thick / 2, h, (cx, cy, h / 2), rgb, sections=10)
                else:
                    self.box((thick, thick, h), (cx, cy, h / 2), rgb)

    def mesh(self):
        import trimesh

        v = np.concatenate(self.verts)
        lo, hi = v.min(0), v.max(0)
        v = v - [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]]
        m = trimesh.Trimesh(vertices=v, faces=np.concatenate(self.faces), process=False)
        m.visual.face_colors = np.concatenate(self.colours)
        return m


def _size(rng: np.random.Generator, name: str, spread=(0.15, 0.15, 0.12)) -> np.ndarray:
    mean = np.asarray(MEAN_SIZES[name])
    return mean * (1.0 + rng.uniform(-1, 1, 3) * np.asarray(spread))


def _bed(b: _Builder, rng: np.random.Generator) -> None:
    if b.rich:
        return _bed_rich(b, rng)
    l, w, h = _size(b.rng, "bed", (0.1, 0.3, 0.15))
    frame_h = rng.uniform(0.2, 0.35)
    mattress_h = rng.uniform(0.15, 0.25)
    head_t = rng.uniform(0.05, 0.1)
    wood, cloth = b.colour(_WOOD), b.colour(_FABRIC + _PAINT)
    b.box((l - head_t, w, frame_h), (head_t / 2, 0, frame_h / 2), wood)
    b.box((l - head_t - 0.04, w - 0.04, mattress_h), (head_t / 2, 0, frame_h + mattress_h / 2), cloth)
    b.box((head_t, w, h), (-l / 2 + head_t / 2, 0, h / 2), wood)
    if rng.random() < 0.6:  # footboard
        fh = rng.uniform(frame_h + 0.05, frame_h + mattress_h + 0.15)
        b.box((head_t * 0.8, w, fh), (l / 2 - head_t * 0.4, 0, fh / 2), wood)
    n_pillows = 2 if w > 1.2 else 1
    pil = b.colour(_PAINT + _FABRIC)
    for i in range(n_pillows):
        py = (i - (n_pillows - 1) / 2) * w / n_pillows
        b.box((0.35, min(0.6, w / n_pillows - 0.1), 0.12),
              (-l / 2 + head_t + 0.22, py, frame_h + mattress_h + 0.06), pil)


def _table(b: _Builder, rng: np.random.Generator) -> None:
    l, w, h = _size(rng, "table", (0.25, 0.3, 0.08))
    if rng.random() < 0.3:
        l = w = float(np.sqrt(l * w))  # square table
    top_t = rng.uniform(0.025, 0.05)
    wood = b.colour(_WOOD + _PAINT)
    b.box((l, w, top_t), (0, 0, h - top_t / 2), wood)
    legc = wood if rng.random() < 0.6 else b.colour(_METAL)
    thick = rng.uniform(0.04, 0.08)
    b.legs(l, w, h - top_t, thick, legc, round_legs=rng.random() < 0.4, inset=rng.uniform(0.0, 0.08))
    if rng.random() < 0.5:  # apron
        b.box((l - 0.15, w - 0.15, 0.08), (0, 0, h - top_t - 0.04), wood)


def _sofa(b: _Builder, rng: np.random.Generator) -> None:
    if b.rich and rng.random() < 0.6:
        return _sofa_rich(b, rng)
    l, w, h = _size(rng, "sofa", (0.12, 0.3, 0.1))
    seat_h = rng.uniform(0.38, 0.48)
    back_t = rng.uniform(0.15, 0.25)
    arm_w = rng.uniform(0.1, 0.22)
    arm_h = rng.uniform(seat_h + 0.1, min(h, seat_h + 0.3))
    cloth = b.colour(_FABRIC)
    b.box((l, w, seat_h - 0.08), (0, 0, (seat_h - 0.08) / 2 + 0.08), cloth)
    b.box((back_t, w, h - 0.08), (-l / 2 + back_t / 2, 0, (h - 0.08) / 2 + 0.08), cloth)
    for s in (-1, 1):
        b.box((l, arm_w, arm_h - 0.08), (0, s * (w / 2 - arm_w / 2), (arm_h - 0.08) / 2 + 0.08), cloth)
    feet = b.colour(_WOOD + _METAL)
    b.legs(l, w, 0.08, 0.06, feet, round_legs=True, inset=0.03)
    # seat cushions
    n = int(np.clip(round((w - 2 * arm_w) / 0.6), 1, 4))
    cw = (w - 2 * arm_w) / n
    cush = np.clip(cloth * rng.uniform(0.85, 1.1), 0, 1)
    for i in range(n):
        b.box((l - back_t - 0.02, cw - 0.02, 0.1),
              (back_t / 2, -w / 2 + arm_w + cw * (i + 0.5), seat_h + 0.05), cush)


def _chair(b: _Builder, rng: np.random.Generator) -> None:
    l, w, h = _size(rng, "chair", (0.15, 0.15, 0.1))
    seat_h = rng.uniform(0.42, 0.5)
    seat_t = rng.uniform(0.03, 0.06)
    mat = b.colour(_WOOD + _PAINT + _FABRIC)
    b.box((l, w, seat_t), (0, 0, seat_h - seat_t / 2), mat)
    legc = mat if rng.random() < 0.5 else b.colour(_METAL)
    b.legs(l, w, seat_h - seat_t, rng.uniform(0.03, 0.05), legc, round_legs=rng.random() < 0.5)
    back_t = rng.uniform(0.03, 0.06)
    back_h = h - seat_h
    if rng.random() < 0.5:  # solid back
        b.box((back_t, w, back_h), (-l / 2 + back_t / 2, 0, seat_h + back_h / 2), mat)
    else:  # slatted back: two posts and rails
        for s in (-1, 1):
            b.box((back_t, 0.04, back_h), (-l / 2 + back_t / 2, s * (w / 2 - 0.02), seat_h + back_h / 2), mat)
        for k in range(int(rng.integers(2, 4))):
            z = seat_h + back_h * (0.35 + 0.6 * k / 3)
            b.box((back_t, w - 0.08, 0.05), (-l / 2 + back_t / 2, 0, min(z, h - 0.025)), mat)
    if rng.random() < 0.25:  # armrests
        for s in (-1, 1):
            b.box((l * 0.8, 0.04, 0.04), (0, s * (w / 2 - 0.02), seat_h + 0.2), legc)
            b.box((0.04, 0.04, 0.2), (l * 0.35, s * (w / 2 - 0.02), seat_h + 0.1), legc)


def _toilet(b: _Builder, rng: np.random.Generator) -> None:
    l, w, h = _size(rng, "toilet", (0.1, 0.12, 0.1))
    white = b.colour(_CERAMIC)
    bowl_h = rng.uniform(0.38, 0.44)
    tank_l = rng.uniform(0.17, 0.24)
    r = w / 2 * 0.95
    bowl_len = l - tank_l
    # pedestal, bowl (elongated: cylinder stretched along x), seat, tank
    b.cylinder(r * 0.6, bowl_h * 0.6, (tank_l / 2 - 0.02, 0, bowl_h * 0.3), white)
    import trimesh

    bowl = trimesh.creation.cylinder(radius=r, height=bowl_h * 0.45, sections=20)
    bowl.apply_scale([bowl_len / (2 * r), 1.0, 1.0])
    bowl.apply_translation([-l / 2 + tank_l + bowl_len / 2, 0, bowl_h * 0.775])
    b._add(bowl, white)
    seat = trimesh.creation.cylinder(radius=r, height=0.03, sections=20)
    seat.apply_scale([bowl_len / (2 * r), 1.0, 1.0])
    seat.apply_translation([-l / 2 + tank_l + bowl_len / 2, 0, bowl_h + 0.015])
    b._add(seat, white if rng.random() < 0.7 else b.colour(_WOOD))
    b.box((tank_l, w, h - bowl_h + 0.1), (-l / 2 + tank_l / 2, 0, bowl_h - 0.1 + (h - bowl_h + 0.1) / 2), white)


def _desk(b: _Builder, rng: np.random.Generator) -> None:
    l, w, h = _size(rng, "desk", (0.15, 0.25, 0.05))
    top_t = rng.uniform(0.025, 0.04)
    wood = b.colour(_WOOD + _PAINT)
    b.box((l, w, top_t), (0, 0, h - top_t / 2), wood)
    panel_t = rng.uniform(0.02, 0.04)
    side = b.colour(_WOOD + _PAINT + _METAL)
    ped_w = rng.uniform(0.35, 0.45)
    if rng.random() < 0.6:  # drawer pedestal on one side, panel on the other
        s = 1 if rng.random() < 0.5 else -1
        b.box((l - 0.04, ped_w, h - top_t), (-0.02, s * (w / 2 - ped_w / 2), (h - top_t) / 2), side)
        nd = int(rng.integers(2, 4))
        dh = (h - top_t - 0.06) / nd
        handle = b.colour(_METAL)
        for k in range(nd):
            zc = 0.03 + dh * (k + 0.5)
            b.box((0.02, ped_w - 0.04, dh - 0.02), (l / 2 - 0.03, s * (w / 2 - ped_w / 2), zc), side * 0.9)
            b.box((0.02, 0.1, 0.02), (l / 2 - 0.01, s * (w / 2 - ped_w / 2), zc), handle)
        b.box((l - 0.04, panel_t, h - top_t), (-0.02, -s * (w / 2 - panel_t / 2), (h - top_t) / 2), side)
    else:
        for s in (-1, 1):
            b.box((l - 0.04, panel_t, h - top_t), (-0.02, s * (w / 2 - panel_t / 2), (h - top_t) / 2), side)
    b.box((panel_t, w - 2 * panel_t, (h - top_t) * 0.5), (-l / 2 + 0.02 + panel_t / 2, 0, (h - top_t) * 0.7), side)


def _drawers(b: _Builder, l, w, h, base_h, rows, cols, body) -> None:
    handle = b.colour(_METAL)
    dh = (h - base_h - 0.04) / rows
    dw = (w - 0.04) / cols
    front = np.clip(body * 0.9 + 0.05, 0, 1)
    for r in range(rows):
        for c in range(cols):
            zc = base_h + 0.02 + dh * (r + 0.5)
            yc = -w / 2 + 0.02 + dw * (c + 0.5)
            b.box((0.02, dw - 0.02, dh - 0.02), (l / 2 + 0.01, yc, zc), front)
            b.box((0.02, min(0.12, dw / 3), 0.02), (l / 2 + 0.03, yc, zc + dh * 0.2), handle)


def _cabinet(b: _Builder, rng: np.random.Generator, l: float, w: float, h: float, base: tuple[float, float],
             front_gap: float, leg: float, inset: float) -> tuple[np.ndarray, float]:
    """A wood or painted carcass on legs: height of the legs drawn in ``base`` (metres), the carcass
    ``front_gap`` shorter than ``l`` at the front. Returns (body colour, leg height)."""
    body = b.colour(_WOOD + _PAINT)
    base_h = rng.uniform(*base)
    b.box((l - front_gap, w, h - base_h), (-front_gap / 2, 0, base_h + (h - base_h) / 2), body)
    b.legs(l - front_gap, w, base_h, leg, body, round_legs=rng.random() < 0.5, inset=inset)
    return body, base_h


def _dresser(b: _Builder, rng: np.random.Generator) -> None:
    if b.rich and rng.random() < 0.7:
        return _dresser_rich(b, rng)
    l, w, h = _size(rng, "dresser", (0.15, 0.3, 0.25))
    body, base_h = _cabinet(b, rng, l, w, h, (0.05, 0.12), 0.04, 0.05, 0.02)
    rows = int(np.clip(round((h - base_h) / 0.22), 2, 6))
    _drawers(b, l - 0.04 - 0.04, w, h - 0.02, base_h, rows, int(rng.integers(1, 3)), body)


def _night_stand(b: _Builder, rng: np.random.Generator) -> None:
    if b.rich and rng.random() < 0.6:
        return _night_stand_rich(b, rng)
    l, w, h = _size(rng, "night_stand", (0.15, 0.15, 0.15))
    body, base_h = _cabinet(b, rng, l, w, h, (0.04, 0.15), 0.03, 0.04, 0.01)
    b.box((l + 0.0, w + 0.02, 0.025), (0, 0, h + 0.0125), body * 0.95)  # overhanging top
    _drawers(b, l - 0.03 - 0.04, w, h, base_h, int(rng.integers(1, 3)), 1, body)


def _bookshelf(b: _Builder, rng: np.random.Generator) -> None:
    l, w, h = _size(rng, "bookshelf", (0.2, 0.35, 0.25))
    wood = b.colour(_WOOD + _PAINT)
    t = rng.uniform(0.02, 0.035)
    for s in (-1, 1):
        b.box((l, t, h), (0, s * (w / 2 - t / 2), h / 2), wood)
    b.box((0.01, w, h), (-l / 2 + 0.005, 0, h / 2), wood * 0.9)  # back panel
    n = int(np.clip(round(h / 0.35), 3, 7))
    for k in range(n + 1):
        z = t / 2 + (h - t) * k / n
        b.box((l, w - 2 * t, t), (0, 0, z), wood)
    # books on some shelves
    for k in range(n):
        if rng.random() < 0.3:
            continue
        z0 = t + (h - t) * k / n
        shelf_h = (h - t) / n - t
        y = -w / 2 + t + 0.01
        while True:
            bw = rng.uniform(0.02, 0.06)
            if y + bw > w / 2 - t - 0.01 or rng.random() < 0.05:
                break
            bh = shelf_h * rng.uniform(0.5, 0.9)
            bl = l * rng.uniform(0.6, 0.9)
            b.box((bl, bw, bh), (-l / 2 + 0.01 + bl / 2, y + bw / 2, z0 + bh / 2), b.colour(_FABRIC + _PAINT))
            y += bw + rng.uniform(0.0, 0.01)


def _bathtub(b: _Builder, rng: np.random.Generator) -> None:
    l, w, h = _size(rng, "bathtub", (0.12, 0.15, 0.15))
    white = b.colour(_CERAMIC)
    t = rng.uniform(0.05, 0.09)
    b.box((l, w, 0.08), (0, 0, 0.04), white)  # bottom
    for s in (-1, 1):
        b.box((t, w, h), (s * (l / 2 - t / 2), 0, h / 2), white)
        b.box((l - 2 * t, t, h), (0, s * (w / 2 - t / 2), h / 2), white)
    if rng.random() < 0.5:  # tap
        b.cylinder(0.015, 0.15, (0, w / 2 - t / 2, h + 0.075), b.colour(_METAL))


def _board(b: _Builder, rng: np.random.Generator, x: float, t: float, w: float, height: float, low: float,
           rgb) -> None:
    """A head- or footboard across the bed at ``x`` (thickness ``t`` along x, width ``w``), from the floor to
    ``height``: a plain panel, a frame (corner posts, top rail, slats or an inset panel from ``low`` up), or
    a carved-looking panel (a stepped crest, taller in the middle, with finials on the posts)."""
    style = int(rng.choice(3, p=[0.35, 0.4, 0.25]))
    post = rng.uniform(0.05, 0.1)
    if style == 0:
        b.box((t, w, height), (x, 0, height / 2), rgb)
        return
    for s in (-1, 1):
        b.box((t * 1.3, post, height), (x, s * (w / 2 - post / 2), height / 2), rgb)
    if style == 1:
        rail = rng.uniform(0.05, 0.12)
        b.box((t, w - 2 * post, rail), (x, 0, height - rail / 2), rgb)
        if rng.random() < 0.5:  # slats
            n = int(rng.integers(3, 9))
            for k in range(n):
                y = -w / 2 + post + (w - 2 * post) * (k + 0.5) / n
                b.box((t * 0.6, 0.05, height - rail - low), (x, y, low + (height - rail - low) / 2), rgb)
        else:  # inset panel
            b.box((t * 0.6, w - 2 * post, height - rail - low), (x, 0, low + (height - rail - low) / 2), rgb)
        b.box((t, w - 2 * post, 0.08), (x, 0, low), rgb)
        return
    shoulder = height * rng.uniform(0.75, 0.9)
    b.box((t, w - 2 * post, shoulder), (x, 0, shoulder / 2), rgb)
    crest = (w - 2 * post) * rng.uniform(0.35, 0.7)
    b.box((t, crest, height - shoulder), (x, 0, shoulder + (height - shoulder) / 2), rgb)
    for s in (-1, 1):  # finials
        b.cylinder(post * 0.45, 0.08, (x, s * (w / 2 - post / 2), height + 0.04), rgb, sections=8)


def _bed_rich(b: _Builder, rng: np.random.Generator) -> None:
    """Beds as they stand in bedrooms: single to king widths, a solid base or a frame on legs, a
    headboard from none to 1.7 m (panel, framed with slats, or carved-looking), often a footboard, and
    usually bedding: a duvet with an uneven top hanging over the sides and foot, pillows lying and
    standing, sometimes a throw across the foot."""
    w = float(rng.choice([0.95, 1.4, 1.6, 1.85], p=[0.2, 0.3, 0.3, 0.2])) * rng.uniform(0.95, 1.08)
    l = rng.uniform(1.95, 2.25)
    wood = b.colour(_WOOD + _PAINT + (_FABRIC if rng.random() < 0.3 else []))
    head_t = rng.uniform(0.04, 0.12)
    base_h = rng.uniform(0.15, 0.4)
    body_l = l - head_t
    x0 = -l / 2 + head_t  # head end of the mattress
    if rng.random() < 0.35:  # frame on legs with side rails
        gap = rng.uniform(0.08, min(0.25, base_h - 0.05))
        b.box((body_l, w, base_h - gap), (x0 + body_l / 2, 0, gap + (base_h - gap) / 2), wood)
        b.legs(body_l, w, gap, 0.06, wood, round_legs=rng.random() < 0.5)
    else:
        b.box((body_l, w, base_h), (x0 + body_l / 2, 0, base_h / 2), wood if rng.random() < 0.6
              else b.colour(_FABRIC + _PAINT))
    mattress_h = rng.uniform(0.15, 0.3)
    top = base_h + mattress_h
    b.box((body_l - 0.03, w - 0.03, mattress_h), (x0 + body_l / 2, 0, base_h + mattress_h / 2),
          b.colour(_PAINT + _FABRIC))
    if rng.random() < 0.93:  # headboard
        hh = max(top + 0.1, rng.uniform(0.6, 1.7))
        _board(b, rng, -l / 2 + head_t / 2, head_t, w + rng.uniform(0.0, 0.1), hh, top - 0.1, wood)
    foot = rng.random() < 0.45
    if foot:
        ft = head_t * rng.uniform(0.6, 1.0)
        fh = rng.uniform(top - 0.1, top + 0.5)
        _board(b, rng, l / 2 + ft / 2, ft, w + rng.uniform(0.0, 0.08), fh, base_h, wood)
    # pillows
    n = 1 if w < 1.2 else int(rng.integers(2, 5))
    pw = min(0.7, (w - 0.1) / min(n, 2))
    for i in range(n):
        row = i // 2 if n > 2 else 0
        k = i % 2 if n > 1 else 0.5
        py = (k - 0.5) * pw if n > 1 else 0.0
        pc = b.colour(_PAINT + _FABRIC)
        if row == 0 and rng.random() < 0.35:  # standing against the headboard
            ph = rng.uniform(0.35, 0.55)
            b.box((rng.uniform(0.1, 0.18), pw - 0.04, ph), (x0 + 0.1, py, top + ph / 2), pc)
        else:
            ph = rng.uniform(0.1, 0.18)
            b.box((rng.uniform(0.32, 0.45), pw - 0.04, ph), (x0 + 0.25 + 0.2 * row, py, top + ph / 2), pc)
    if rng.random() < 0.85:  # duvet: uneven top, hanging over the sides (and the foot without a footboard)
        cloth = b.colour(_FABRIC + _PAINT)
        over = rng.uniform(0.02, 0.06)
        start = x0 + rng.uniform(0.3, 0.7)
        end = l / 2 - 0.01
        lumps = int(rng.integers(2, 6))
        seg = (end - start) / lumps
        t0 = rng.uniform(0.04, 0.12)
        for k in range(lumps):
            t = t0 * rng.uniform(0.6, 1.5)
            b.box((seg, w + 2 * over, t), (start + seg * (k + 0.5), 0, top + t / 2), cloth)
        drop = rng.uniform(0.04, base_h)
        for s in (-1, 1):
            b.box((end - start, 0.02, top - drop), (start + (end - start) / 2, s * (w / 2 + over - 0.01),
                                                    drop + (top - drop) / 2), cloth)
        if not foot:
            b.box((0.02, w + 2 * over, top - drop), (l / 2 + over - 0.01, 0, drop + (top - drop) / 2), cloth)
        if rng.random() < 0.35:  # a throw across the foot
            tl = rng.uniform(0.3, 0.6)
            tc = b.colour(_FABRIC + _PAINT)
            b.box((tl, w + 2 * over + 0.03, 0.03), (end - tl / 2, 0, top + t0 * 1.5 + 0.015), tc)
            for s in (-1, 1):
                b.box((tl, 0.02, 0.3), (end - tl / 2, s * (w / 2 + over + 0.01), top - 0.15 + t0), tc)


def _sofa_rich(b: _Builder, rng: np.random.Generator) -> None:
    """Sofas beyond the plain block: loveseats to long three-seaters on legs or a plinth, thin, wide,
    rolled or no arms, back cushions, throw cushions, and sometimes a chaise at one end."""
    w = rng.uniform(1.3, 2.5)
    l = rng.uniform(0.8, 1.05)
    h = rng.uniform(0.7, 1.0)
    cloth = b.colour(_FABRIC + _PAINT[2:])
    gap = rng.uniform(0.1, 0.2) if rng.random() < 0.45 else 0.04
    seat_h = rng.uniform(0.38, 0.48)
    back_t = rng.uniform(0.12, 0.25)
    arms = int(rng.choice(3, p=[0.1, 0.5, 0.4]))  # none, box, rolled
    arm_w = 0.0 if arms == 0 else rng.uniform(0.08, 0.25)
    arm_h = rng.uniform(seat_h + 0.12, min(h, seat_h + 0.3))
    b.box((l, w, seat_h - 0.02 - gap), (0, 0, gap + (seat_h - 0.02 - gap) / 2), cloth)
    b.box((back_t, w, h - gap), (-l / 2 + back_t / 2, 0, gap + (h - gap) / 2), cloth)
    for s in (-1, 1):
        if arms:
            b.box((l, arm_w, arm_h - gap), (0, s * (w / 2 - arm_w / 2), gap + (arm_h - gap) / 2), cloth)
        if arms == 2:
            b.cylinder(arm_w * 0.6, l, (0, s * (w / 2 - arm_w / 2), arm_h), cloth, axis="x", sections=10)
    feet = b.colour(_WOOD + _METAL)
    b.legs(l, w, gap, 0.05, feet, round_legs=rng.random() < 0.6, inset=0.04)
    inner = w - 2 * arm_w
    n = int(np.clip(round(inner / 0.65), 1, 4))
    cw = inner / n
    cush = np.clip(cloth * rng.uniform(0.85, 1.1), 0, 1)
    backs = rng.random() < 0.6
    for i in range(n):
        y = -w / 2 + arm_w + cw * (i + 0.5)
        b.box((l - back_t - 0.02, cw - 0.02, 0.12), (back_t / 2, y, seat_h + 0.04), cush)
        if backs:
            bh = rng.uniform(0.3, h - seat_h - 0.05) if h - seat_h > 0.4 else h - seat_h - 0.05
            b.box((0.16, cw - 0.03, bh), (-l / 2 + back_t + 0.08, y, seat_h + 0.1 + bh / 2), cush)
    for _ in range(int(rng.integers(0, 3))):  # throw cushions in the corners
        s = 1 if rng.random() < 0.5 else -1
        b.box((0.14, 0.4, 0.38), (-l / 2 + back_t + 0.25, s * (inner / 2 - 0.25), seat_h + 0.3),
              b.colour(_FABRIC + _PAINT))
    if rng.random() < 0.15:  # chaise at one end
        s = 1 if rng.random() < 0.5 else -1
        cl = rng.uniform(0.5, 0.8)
        b.box((cl, min(0.8, inner * 0.45), seat_h + 0.05 - gap),
              (l / 2 + cl / 2, s * (w / 2 - arm_w - min(0.8, inner * 0.45) / 2), gap + (seat_h + 0.05 - gap) / 2),
              cush)


def _dresser_rich(b: _Builder, rng: np.random.Generator) -> None:
    """Dressers of the common kinds: a wide low dresser (0.7..1.05 m high, up to 1.9 m wide) or a tall
    chest of drawers (1.1..1.9 m), on a plinth or legs, with an overhanging top and a row of small drawers
    over the long ones."""
    if rng.random() < 0.55:
        l, w, h = rng.uniform(0.42, 0.6), rng.uniform(1.0, 1.9), rng.uniform(0.7, 1.05)
    else:
        l, w, h = rng.uniform(0.42, 0.6), rng.uniform(0.7, 1.2), rng.uniform(1.1, 1.9)
    body, base_h = _cabinet(b, rng, l, w, h - 0.03, (0.04, 0.15), 0.04, 0.05, 0.02)
    over = rng.uniform(0.0, 0.04)
    b.box((l + over, w + 2 * over, 0.03), (over / 2 - 0.02, 0, h - 0.015), body * 0.95)
    rows = int(np.clip(round((h - base_h) / rng.uniform(0.16, 0.26)), 2, 8))
    cols = int(rng.integers(1, 3)) if w < 1.3 else int(rng.integers(2, 4))
    if rng.random() < 0.5 and rows > 2:  # small drawers on top, long ones below
        row_h = (h - 0.03 - base_h) / rows
        _drawers(b, l - 0.08, w, h - 0.03 - row_h, base_h, rows - 1, 1 if w < 1.3 else cols - 1, body)
        _drawers(b, l - 0.08, w, h - 0.03, h - 0.03 - row_h, 1, max(2, cols), body)
    else:
        _drawers(b, l - 0.08, w, h - 0.03, base_h, rows, cols, body)


def _night_stand_rich(b: _Builder, rng: np.random.Generator) -> None:
    """Night stands: 1..3 drawers, or a drawer over an open shelf, on a plinth or taller legs, with an
    overhanging top."""
    l, w, h = rng.uniform(0.33, 0.5), rng.uniform(0.38, 0.65), rng.uniform(0.45, 0.75)
    body = b.colour(_WOOD + _PAINT)
    base_h = rng.uniform(0.04, 0.25)
    top_t = 0.025
    over = rng.uniform(0.0, 0.04)
    b.box((l + over, w + 2 * over, top_t), (over / 2, 0, h - top_t / 2), body * 0.95)
    b.legs(l - 0.03, w, base_h, 0.04, body, round_legs=rng.random() < 0.5, inset=0.01)
    inner_h = h - top_t - base_h
    t = 0.02
    if rng.random() < 0.4:  # open shelf below one drawer
        dh = inner_h * rng.uniform(0.3, 0.45)
        for s in (-1, 1):
            b.box((l - 0.03, t, inner_h), (-0.015, s * (w / 2 - t / 2), base_h + inner_h / 2), body)
        b.box((t, w, inner_h), (-l / 2 + t / 2, 0, base_h + inner_h / 2), body)
        b.box((l - 0.03, w, t), (-0.015, 0, base_h + t / 2), body)
        b.box((l - 0.03, w, dh), (-0.015, 0, h - top_t - dh / 2), body)
        _drawers(b, l - 0.07, w, h - top_t, h - top_t - dh, 1, 1, body)
    else:
        b.box((l - 0.03, w, inner_h), (-0.015, 0, base_h + inner_h / 2), body)
        _drawers(b, l - 0.07, w, h - top_t, base_h, int(rng.integers(1, 4)), 1, body)


#: SUN RGB-D class name -> builder adding that object's parts to a _Builder
BUILDERS: Registry[Callable[[_Builder, np.random.Generator], None]] = Registry("object class")
for _name, _build in {"bed": _bed, "table": _table, "sofa": _sofa, "chair": _chair, "toilet": _toilet,
                      "desk": _desk, "dresser": _dresser, "night_stand": _night_stand, "bookshelf": _bookshelf,
                      "bathtub": _bathtub}.items():
    BUILDERS.register(_name, _build)


def make_object(class_name: str, rng: np.random.Generator, rich: bool = False):
    """Build one random object of a SUN RGB-D class.

    Args:
        class_name: one of :data:`CLASSES`.
        rng: numpy random generator (the object is a pure function of its state).
        rich: draw from the wider set of designs of :func:`_bed_rich` and its kin (beds with bedding and
            tall, framed or carved boards; sofas with back cushions, rolled arms, chaises; tall chests and
            wide low dressers; night stands with open shelves) where a class has them. ``False`` (the
            default) keeps every object bit-identical to the simple designs used before.

    Returns:
        ``(mesh, size)``: ``mesh`` a ``trimesh.Trimesh`` in the object frame (centred in x, y; z up from
        the floor at 0; front facing +x; metres; per-face RGBA colours), and ``size`` (3,) float64 full
        extents ``(l, w, h)`` in metres of its axis-aligned bounding box in that frame (l along x).
    """
    if class_name not in BUILDERS:
        raise InputError(f"make_object: unknown class {class_name!r}; expected one of {CLASSES}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"make_object: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    b = _Builder(rng, rich=rich)
    BUILDERS.get(class_name)(b, rng)
    mesh = b.mesh()
    size = np.asarray(mesh.extents, dtype=np.float64)
    return mesh, size


def face_albedo(mesh) -> np.ndarray:
    """(F, 3) float32 per-face albedo in 0..1 from a mesh's face colours (mid grey when it has none)."""
    try:
        fc = np.asarray(mesh.visual.face_colors)
    except Exception:  # noqa: BLE001 - trimesh raises various errors for texture visuals
        fc = None
    if fc is None or len(fc) != len(mesh.faces):
        return np.full((len(mesh.faces), 3), 0.6, dtype=np.float32)
    return (fc[:, :3].astype(np.float32) / 255.0)


def sample_surface(mesh, num_points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area-weighted uniform samples on a mesh's surface, reproducible from ``rng``.

    Returns ``(points (N, 3) float32, normals (N, 3) float32 unit face normals, colours (N, 3) float32 0..1
    face albedo)`` in the mesh's frame.
    """
    if num_points <= 0:
        raise ValueError(f"sample_surface: num_points must be positive, got {num_points}")
    tri = np.asarray(mesh.vertices, dtype=np.float64)[np.asarray(mesh.faces)]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    if not np.isfinite(area).all() or area.sum() <= 0:
        raise ValueError("sample_surface: the mesh has no surface area")
    face = rng.choice(len(area), size=num_points, p=area / area.sum())
    u, v = rng.random(num_points), rng.random(num_points)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[face]
    pts = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
    nrm = cross[face] / np.maximum(2 * area[face][:, None], 1e-30)
    return pts.astype(np.float32), nrm.astype(np.float32), face_albedo(mesh)[face]


def object_point_cloud(class_name: str, rng: np.random.Generator, num_points: int = 1024,
                       normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A random object of ``class_name`` as a surface point cloud (for shape classification sets).

    Returns ``(points (N, 3) float32, normals (N, 3) float32)``: object frame (z up, front +x), or, with
    ``normalize``, centred on the bounding-box centre and scaled into the unit sphere (ModelNet style).
    """
    mesh, size = make_object(class_name, rng)
    pts, nrm, _ = sample_surface(mesh, num_points, rng)
    if normalize:
        pts = pts - np.array([0.0, 0.0, size[2] / 2], np.float32)
        pts /= np.float32(np.linalg.norm(pts, axis=1).max())
    return pts, nrm
