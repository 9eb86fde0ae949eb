"""Procedural indoor rooms: floor, walls, ceiling, clutter and furniture of the ten SUN RGB-D classes.

World frame: z up, metres; the room's floor is the rectangle ``[-lx/2, lx/2] x [-ly/2, ly/2]`` at z = 0 and
its ceiling is at z = ``room_size[2]``.

Ground-truth boxes follow the VoteNet convention: ``centre`` (3,) world metres (box centre, so
``centre[2] = h / 2`` for an object standing on the floor), ``size`` (3,) FULL extents ``(l, w, h)`` with
``l`` along the object's heading, and ``heading`` the yaw in radians, counter-clockwise about +z from +x to
the object's front. (VoteNet's preprocessed SUN RGB-D *files* store ``-heading``: see
:meth:`SceneObject.votenet_row`.)

Scenes are a pure function of their seed and options, and serialise losslessly to one ``.npz`` file
(:meth:`Scene.save`, :meth:`Scene.load`).

:func:`demo_scene` is a smaller fixed test scene (a wall, a floor, boxes and spheres) in the camera frame of
an identity pose (x right, y down, z forward), used by the ToF and structured-light demos and sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from depth3d.geometry.boxes import box_corners
from depth3d.geometry.boxes import rotz as _rotz
from depth3d.sim.objects import CLASS_IDS, CLASSES, face_albedo, make_object

#: class ids of the non-object ("stuff") meshes; the ten object classes use 0..9
STUFF_IDS: dict[str, int] = {"floor": 10, "wall": 11, "ceiling": 12, "clutter": 13}
#: names of all class ids (0..13)
ALL_CLASSES: tuple[str, ...] = CLASSES + tuple(STUFF_IDS)

_FLOOR_COLOURS = [(0.55, 0.4, 0.28), (0.7, 0.6, 0.48), (0.45, 0.45, 0.47), (0.8, 0.78, 0.74),
                  (0.35, 0.25, 0.2)]
_WALL_COLOURS = [(0.92, 0.92, 0.9), (0.88, 0.84, 0.76), (0.75, 0.82, 0.85), (0.85, 0.8, 0.8),
                 (0.8, 0.85, 0.78)]
_CLUTTER_COLOURS = [(0.8, 0.2, 0.2), (0.2, 0.6, 0.3), (0.2, 0.3, 0.8), (0.9, 0.8, 0.2), (0.9, 0.9, 0.9),
                    (0.1, 0.1, 0.1), (0.6, 0.4, 0.7)]
#: classes that other objects (clutter) may stand on
_SURFACES = ("table", "desk", "dresser", "night_stand")


@dataclass
class SceneObject:
    """One furniture object with its oriented ground-truth box (VoteNet convention, world frame).

    Attributes:
        class_name: one of :data:`~depth3d.sim.objects.CLASSES`.
        class_id: index of ``class_name`` in ``CLASSES`` (0..9).
        instance: index of the object's mesh in :attr:`Scene.meshes` (= its instance id in renders).
        centre: (3,) float64 box centre, world metres.
        size: (3,) float64 full box extents (l, w, h), metres; l along the heading.
        heading: yaw in radians, counter-clockwise about +z, from +x to the object's front.
    """

    class_name: str
    class_id: int
    instance: int
    centre: np.ndarray
    size: np.ndarray
    heading: float

    def corners(self) -> np.ndarray:
        """(8, 3) float64 box corners in the world frame, in the order of
        :func:`depth3d.geometry.boxes.box_corners` (bottom four, then top four; that module's heading is
        the negated yaw)."""
        return box_corners(self.centre, self.size, -self.heading)

    def votenet_row(self) -> np.ndarray:
        """(8,) float64 row of VoteNet's ``*_bbox.npy`` in the world frame: ``cx, cy, cz, l/2, w/2, h/2,
        -heading, class_id`` (VoteNet's SUN RGB-D files store HALF sizes and the negated yaw; its
        ``my_compute_box_3d`` rotates corners by ``rotz(-angle)``)."""
        return np.array([*self.centre, *(self.size / 2), -self.heading, self.class_id], dtype=np.float64)

    def to_dict(self) -> dict:
        return {"class_name": self.class_name, "class_id": self.class_id, "instance": self.instance,
                "centre": [float(v) for v in self.centre], "size": [float(v) for v in self.size],
                "heading": float(self.heading)}

    @classmethod
    def from_dict(cls, d: dict) -> "SceneObject":
        return cls(class_name=d["class_name"], class_id=int(d["class_id"]), instance=int(d["instance"]),
                   centre=np.asarray(d["centre"], dtype=np.float64), size=np.asarray(d["size"], dtype=np.float64),
                   heading=float(d["heading"]))


@dataclass
class Scene:
    """A room: triangle meshes in the world frame with class ids, plus furniture boxes.

    Attributes:
        meshes: list of M ``trimesh.Trimesh`` (world frame, metres, per-face RGBA colours = albedo); the
            list index is the instance id.
        class_ids: (M,) int32 class id of each mesh (0..9 furniture, 10 floor, 11 wall, 12 ceiling,
            13 clutter; see :data:`ALL_CLASSES`).
        objects: furniture objects with their boxes (subset of the meshes).
        room_size: (3,) float64 ``(lx, ly, height)`` in metres.
        seed: the seed it was generated from (None for hand-made scenes).
    """

    meshes: list
    class_ids: np.ndarray
    objects: list[SceneObject] = field(default_factory=list)
    room_size: np.ndarray = field(default_factory=lambda: np.zeros(3))
    seed: int | None = None

    def __post_init__(self) -> None:
        self.class_ids = np.asarray(self.class_ids, dtype=np.int32).ravel()
        if len(self.class_ids) != len(self.meshes):
            raise ValueError(f"Scene: {len(self.meshes)} meshes but {len(self.class_ids)} class ids")
        self.room_size = np.asarray(self.room_size, dtype=np.float64)
        self._cache: dict = {}

    # ------------------------------------------------------------------ derived data (cached)
    def face_albedo(self) -> np.ndarray:
        """(F_total, 3) float32 albedo (0..1) of every triangle, meshes concatenated in order."""
        if "albedo" not in self._cache:
            self._cache["albedo"] = np.concatenate([face_albedo(m) for m in self.meshes]) if self.meshes \
                else np.zeros((0, 3), np.float32)
        return self._cache["albedo"]

    def face_offsets(self) -> np.ndarray:
        """(M + 1,) int64 start of each mesh's faces in the concatenated face list."""
        return np.concatenate([[0], np.cumsum([len(m.faces) for m in self.meshes])]).astype(np.int64)

    def boxes(self) -> np.ndarray:
        """(K, 8) float64 VoteNet rows of all objects (world frame); see :meth:`SceneObject.votenet_row`."""
        if not self.objects:
            return np.zeros((0, 8))
        return np.stack([o.votenet_row() for o in self.objects])

    # ------------------------------------------------------------------ serialisation
    def save(self, path: str | Path) -> Path:
        """Write the scene to one ``.npz`` file atomically (lossless: float64 vertices, uint8 colours)."""
        from depth3d.core.atomic import atomic_write

        path = Path(path)
        verts = [np.asarray(m.vertices, dtype=np.float64) for m in self.meshes]
        faces = [np.asarray(m.faces, dtype=np.int64) for m in self.meshes]
        colours = []
        for m in self.meshes:
            a = face_albedo(m)
            colours.append(np.round(a * 255).astype(np.uint8))
        meta = {"format": "depth3d.scene", "version": 1, "seed": self.seed,
                "room_size": [float(v) for v in self.room_size],
                "objects": [o.to_dict() for o in self.objects]}
        with atomic_write(path, "wb") as f:
            np.savez_compressed(
                f,
                vertices=np.concatenate(verts) if verts else np.zeros((0, 3)),
                faces=np.concatenate(faces) if faces else np.zeros((0, 3), np.int64),
                face_colors=np.concatenate(colours) if colours else np.zeros((0, 3), np.uint8),
                vertex_counts=np.array([len(v) for v in verts], dtype=np.int64),
                face_counts=np.array([len(fc) for fc in faces], dtype=np.int64),
                class_ids=self.class_ids,
                meta=np.array(json.dumps(meta)))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Scene":
        """Read a scene written by :meth:`save`."""
        import trimesh

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"scene file {path} does not exist")
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"scene file {path}: not a readable .npz ({exc})") from None
        need = {"vertices", "faces", "face_colors", "vertex_counts", "face_counts", "class_ids", "meta"}
        if not need <= set(data):
            raise ValueError(f"scene file {path}: missing arrays {sorted(need - set(data))}; "
                             "expected a file written by depth3d.sim.scene.Scene.save")
        meta = json.loads(str(data["meta"]))
        meshes = []
        v0 = f0 = 0
        for nv, nf in zip(data["vertex_counts"], data["face_counts"]):
            v = data["vertices"][v0:v0 + nv]
            f = data["faces"][f0:f0 + nf]
            c = data["face_colors"][f0:f0 + nf]
            m = trimesh.Trimesh(vertices=v, faces=f, process=False)
            m.visual.face_colors = np.concatenate([c, np.full((len(c), 1), 255, np.uint8)], axis=1)
            meshes.append(m)
            v0 += nv
            f0 += nf
        return cls(meshes=meshes, class_ids=data["class_ids"],
                   objects=[SceneObject.from_dict(o) for o in meta["objects"]],
                   room_size=np.asarray(meta["room_size"]), seed=meta.get("seed"))


# ---------------------------------------------------------------------- generation
def _rect(cx: float, cy: float, l: float, w: float, yaw: float) -> np.ndarray:
    """(4, 2) corners of an oriented rectangle."""
    c, s = np.cos(yaw), np.sin(yaw)
    loc = np.array([[-l / 2, -w / 2], [l / 2, -w / 2], [l / 2, w / 2], [-l / 2, w / 2]])
    return loc @ np.array([[c, s], [-s, c]]) + [cx, cy]


def _rects_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test of two convex quadrilaterals (4, 2)."""
    for poly in (a, b):
        for i in range(4):
            e = poly[(i + 1) % 4] - poly[i]
            n = np.array([-e[1], e[0]])
            pa, pb = a @ n, b @ n
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


def _coloured(mesh, rgb) -> object:
    c = np.append(np.round(np.clip(np.asarray(rgb), 0, 1) * 255), 255).astype(np.uint8)
    mesh.visual.face_colors = np.tile(c, (len(mesh.faces), 1))
    return mesh


def _jitter(rng: np.random.Generator, palette) -> np.ndarray:
    base = np.asarray(palette[int(rng.integers(len(palette)))], dtype=np.float64)
    return np.clip(base * rng.uniform(0.9, 1.1) + rng.normal(0, 0.02, 3), 0.02, 1.0)


def _clutter_mesh(rng: np.random.Generator):
    import trimesh

    kind = rng.integers(3)
    if kind == 0:
        ext = rng.uniform(0.08, 0.35, 3)
        m = trimesh.creation.box(extents=ext)
    elif kind == 1:
        m = trimesh.creation.cylinder(radius=rng.uniform(0.04, 0.15), height=rng.uniform(0.08, 0.4),
                                      sections=14)
    else:
        m = trimesh.creation.icosphere(subdivisions=1, radius=rng.uniform(0.05, 0.15))
    m.apply_translation([0, 0, -m.bounds[0, 2]])
    return _coloured(m, _jitter(rng, _CLUTTER_COLOURS))


def room_shell(rng: np.random.Generator, lx: float, ly: float, hz: float, ceiling: bool = True,
               floor_colours: Sequence = _FLOOR_COLOURS, wall_colours: Sequence = _WALL_COLOURS,
               ) -> tuple[list, list[int]]:
    """The empty room: floor, four walls (10 cm thick, outside ``[-lx/2, lx/2] x [-ly/2, ly/2]``) and, with
    ``ceiling``, a ceiling at ``hz`` metres; colours drawn from ``rng`` (floor, then the walls' shared colour
    with a small variation each). Returns (meshes, class ids): the first six (five) meshes of a scene."""
    import trimesh

    meshes, class_ids = [], []
    t = 0.1  # wall thickness
    floor = trimesh.creation.box(extents=(lx + 2 * t, ly + 2 * t, t))
    floor.apply_translation([0, 0, -t / 2])
    meshes.append(_coloured(floor, _jitter(rng, floor_colours)))
    class_ids.append(STUFF_IDS["floor"])
    wall_rgb = _jitter(rng, wall_colours)
    for ext, ctr in (((t, ly + 2 * t, hz), (lx / 2 + t / 2, 0, hz / 2)),
                     ((t, ly + 2 * t, hz), (-lx / 2 - t / 2, 0, hz / 2)),
                     ((lx, t, hz), (0, ly / 2 + t / 2, hz / 2)),
                     ((lx, t, hz), (0, -ly / 2 - t / 2, hz / 2))):
        w = trimesh.creation.box(extents=ext)
        w.apply_translation(ctr)
        meshes.append(_coloured(w, np.clip(wall_rgb * rng.uniform(0.95, 1.05), 0, 1)))
        class_ids.append(STUFF_IDS["wall"])
    if ceiling:
        c = trimesh.creation.box(extents=(lx + 2 * t, ly + 2 * t, t))
        c.apply_translation([0, 0, hz + t / 2])
        meshes.append(_coloured(c, (0.95, 0.95, 0.95)))
        class_ids.append(STUFF_IDS["ceiling"])
    return meshes, class_ids


def generate_room(seed: int, n_objects: int | None = None, room_size: Sequence[float] | None = None,
                  classes: Sequence[str] | None = None, n_clutter: int | None = None,
                  ceiling: bool = True, wall_aligned: float = 0.6, rich: bool = False) -> Scene:
    """Generate a furnished room, reproducibly from ``seed``.

    Args:
        seed: random seed (same seed and options -> identical scene).
        n_objects: number of furniture objects to try to place (default: 4..8 drawn from the seed); objects
            that do not fit without overlap are left out, so ``len(scene.objects)`` may be smaller.
        room_size: ``(lx, ly, height)`` metres (default: 3.5..7 x 3..6 x 2.5..3 drawn from the seed).
        classes: class names to draw furniture from (default: all ten).
        n_clutter: number of small clutter items on the floor and on tables/desks/dressers
            (default 3..10).
        ceiling: add a ceiling mesh.
        wall_aligned: probability that an object stands with its back to a wall (facing into the room);
            the others get a uniformly random yaw.
        rich: furniture from the wider set of designs (``make_object(..., rich=True)``: beds with
            bedding and tall boards, sofas with cushions, tall and wide dressers...); ``False`` keeps the
            simple designs (and every existing scene bit-identical).

    Returns:
        :class:`Scene` with meshes [floor, 4 walls, (ceiling), furniture..., clutter...].
    """
    import trimesh

    if classes is None:
        classes = CLASSES
    bad = [c for c in classes if c not in CLASS_IDS]
    if bad or not classes:
        raise ValueError(f"generate_room: classes must be a non-empty subset of {CLASSES}, got {list(classes)}")
    rng = np.random.default_rng(int(seed))
    if room_size is None:
        room_size = (rng.uniform(3.5, 7.0), rng.uniform(3.0, 6.0), rng.uniform(2.5, 3.0))
    lx, ly, hz = (float(v) for v in room_size)
    if min(lx, ly, hz) <= 0.5:
        raise ValueError(f"generate_room: room_size must be > 0.5 m in each axis, got {room_size}")
    if n_objects is None:
        n_objects = int(rng.integers(4, 9))
    if n_clutter is None:
        n_clutter = int(rng.integers(3, 11))

    meshes, class_ids = room_shell(rng, lx, ly, hz, ceiling)

    placed: list[np.ndarray] = []  # footprints (4, 2)
    objects: list[SceneObject] = []
    margin = 0.05
    for _ in range(n_objects):
        name = classes[int(rng.integers(len(classes)))]
        mesh, size = make_object(name, rng, rich=rich)
        l, w, h = size
        if h >= hz - 0.05:
            continue
        for _attempt in range(40):
            if rng.random() < wall_aligned:
                side = int(rng.integers(4))  # back to wall: +x, -x, +y, -y
                yaw = (np.pi, 0.0, -np.pi / 2, np.pi / 2)[side]
                gap = rng.uniform(0.01, 0.08)
                if side < 2:
                    cx = (lx / 2 - gap - l / 2) * (1 if side == 0 else -1)
                    cy = rng.uniform(-ly / 2 + w / 2 + margin, ly / 2 - w / 2 - margin) if ly > w + 2 * margin else 0
                else:
                    cy = (ly / 2 - gap - l / 2) * (1 if side == 2 else -1)
                    cx = rng.uniform(-lx / 2 + w / 2 + margin, lx / 2 - w / 2 - margin) if lx > w + 2 * margin else 0
            else:
                yaw = rng.uniform(-np.pi, np.pi)
                r = 0.5 * np.hypot(l, w)
                if lx < 2 * r + 0.2 or ly < 2 * r + 0.2:
                    continue
                cx = rng.uniform(-lx / 2 + r, lx / 2 - r)
                cy = rng.uniform(-ly / 2 + r, ly / 2 - r)
            rect = _rect(cx, cy, l + 2 * margin, w + 2 * margin, yaw)
            inner = _rect(cx, cy, l, w, yaw)
            if np.any(np.abs(inner[:, 0]) > lx / 2 + 1e-9) or np.any(np.abs(inner[:, 1]) > ly / 2 + 1e-9):
                continue
            if any(_rects_overlap(rect, p) for p in placed):
                continue
            yaw = float(np.arctan2(np.sin(yaw), np.cos(yaw)))
            mesh.apply_transform(_pose(cx, cy, 0.0, yaw))
            placed.append(rect)
            objects.append(SceneObject(class_name=name, class_id=CLASS_IDS[name], instance=len(meshes),
                                       centre=np.array([cx, cy, h / 2]), size=np.asarray(size, np.float64),
                                       heading=yaw))
            meshes.append(mesh)
            class_ids.append(CLASS_IDS[name])
            break

    surfaces = [o for o in objects if o.class_name in _SURFACES]
    for _ in range(n_clutter):
        m = _clutter_mesh(rng)
        ext = m.extents
        for _attempt in range(20):
            yaw = rng.uniform(-np.pi, np.pi)
            if surfaces and rng.random() < 0.5:  # on top of a surface object
                o = surfaces[int(rng.integers(len(surfaces)))]
                u = rng.uniform(-0.35, 0.35) * max(o.size[0] - ext[0], 0)
                v = rng.uniform(-0.35, 0.35) * max(o.size[1] - ext[1], 0)
                xy = o.centre[:2] + _rotz(o.heading)[:2, :2] @ [u, v]
                m.apply_transform(_pose(xy[0], xy[1], o.size[2], yaw))
                break
            cx, cy = rng.uniform(-lx / 2 + 0.3, lx / 2 - 0.3), rng.uniform(-ly / 2 + 0.3, ly / 2 - 0.3)
            rect = _rect(cx, cy, ext[0] + 0.02, ext[1] + 0.02, yaw)
            if any(_rects_overlap(rect, p) for p in placed):
                continue
            placed.append(rect)
            m.apply_transform(_pose(cx, cy, 0.0, yaw))
            break
        else:
            continue
        meshes.append(m)
        class_ids.append(STUFF_IDS["clutter"])
    return Scene(meshes=meshes, class_ids=np.asarray(class_ids), objects=objects,
                 room_size=np.array([lx, ly, hz]), seed=int(seed))


def _pose(x: float, y: float, z: float, yaw: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = _rotz(yaw)
    m[:3, 3] = (x, y, z)
    return m


def demo_scene(seed: int = 0, far: float = 5.0, near: float = 0.8) -> list:
    """A small test scene of trimesh meshes (world frame = camera frame of an identity pose: x right,
    y down, z forward): a back wall at ``far`` metres, a floor plane, boxes and spheres at 0.6..5 m giving
    depth edges (objects between ``near`` and ``far - 1`` metres). Deterministic for a seed."""
    import trimesh

    rng = np.random.default_rng(seed)
    meshes = []

    def colour(m, a):
        m.visual.face_colors = np.tile(np.array([*(np.clip(np.asarray(a), 0, 1) * 255).astype(np.uint8), 255]),
                                       (len(m.faces), 1))
        return m

    wall = trimesh.creation.box(extents=(30, 30, 0.05))
    wall.apply_translation((0, 0, far))
    meshes.append(colour(wall, (0.8, 0.8, 0.8)))
    floor = trimesh.creation.box(extents=(30, 0.05, 30))
    floor.apply_translation((0, 1.2, far / 2))
    meshes.append(colour(floor, (0.5, 0.55, 0.5)))
    for i in range(4):
        z = rng.uniform(near, far - 1.0)
        ext = rng.uniform(0.2, 0.6, 3)
        b = trimesh.creation.box(extents=ext)
        b.apply_transform(trimesh.transformations.rotation_matrix(rng.uniform(-0.6, 0.6), (0, 1, 0)))
        x = rng.uniform(-0.45, 0.45) * z
        b.apply_translation((x, rng.uniform(-0.3, 0.5) * min(z, 2.0), z))
        meshes.append(colour(b, rng.uniform(0.3, 0.9, 3)))
    for i in range(2):
        z = rng.uniform(max(near - 0.2, 0.3), far - 1.0)
        sp = trimesh.creation.icosphere(subdivisions=3, radius=rng.uniform(0.1, 0.35))
        sp.apply_translation((rng.uniform(-0.4, 0.4) * z, rng.uniform(-0.3, 0.3) * z, z))
        meshes.append(colour(sp, rng.uniform(0.3, 0.9, 3)))
    return meshes
