"""The ``sim:`` capture source: a RealSense-like camera moving through a procedural room.

Spec forms (``open_source`` passes what follows ``sim:`` as ``rest``)::

    sim:room?seed=3&frames=60&width=640&height=480          generated room (seed), orbit trajectory
    sim:room?seed=3&trajectory=walk&noise=none&fps=15
    sim:path/to/scene.npz?frames=30                         a saved scene (depth3d sim room -o ...)

Query options (also accepted as keyword arguments, which win): ``seed`` (int, 0), ``frames`` (int, 60),
``width``/``height`` (640x480), ``fps`` (30), ``trajectory`` (orbit|walk), ``noise`` (realsense|none),
``objects`` (furniture count), ``loop`` (0/1: restart at the end).

Frames are deterministic: frame i is a pure function of (scene, options, i). Each frame's ``extras`` hold
ground truth: ``gt_depth`` (H, W) float32 metres (exact), ``instance`` (H, W) int32 mesh index (-1 none),
``class_id`` (H, W) int32 (0..9 furniture, 10 floor, 11 wall, 12 ceiling, 13 clutter, -1 none),
``world_from_camera`` (4, 4) float64, ``boxes`` (K, 8) float64 world-frame furniture boxes
``cx, cy, cz, l, w, h, yaw, class_id`` (FULL sizes, yaw counter-clockwise about +z), ``class_names``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from depth3d.core.errors import InputError
from depth3d.core.frame import RGBDFrame
from depth3d.core.source import Source, SourceError

_DEFAULTS = {"seed": 0, "frames": 60, "width": 640, "height": 480, "fps": 30.0, "trajectory": "orbit",
             "noise": "realsense", "objects": None, "loop": 0}
_INTS = ("seed", "frames", "width", "height", "objects", "loop")


def _parse(rest: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    target, _, query = rest.partition("?")
    opts = dict(_DEFAULTS)
    given = dict(parse_qsl(query, keep_blank_values=True))
    given.update({k: v for k, v in options.items()})
    for k, v in given.items():
        if k not in _DEFAULTS:
            raise InputError(f"sim source: unknown option {k!r}; expected one of {sorted(_DEFAULTS)}")
        try:
            if k in _INTS:
                opts[k] = None if v in (None, "") else int(v)
            elif k == "fps":
                opts[k] = float(v)
            else:
                opts[k] = str(v)
        except (TypeError, ValueError):
            raise InputError(f"sim source: option {k}={v!r} is not a number") from None
    if not (opts["frames"] > 0 and opts["width"] > 0 and opts["height"] > 0 and 0 < opts["fps"] < float("inf")):
        raise InputError(f"sim source: frames, width, height and fps must be positive (fps finite), got {opts}")
    if opts["objects"] is not None and opts["objects"] < 0:
        raise InputError(f"sim source: objects must be >= 0, got {opts['objects']}")
    if opts["noise"] not in ("realsense", "none"):
        raise InputError(f"sim source: noise must be 'realsense' or 'none', got {opts['noise']!r}")
    return target or "room", opts


class SimSource(Source):
    """A simulated RealSense-like RGB-D camera on a trajectory through a room (see module docstring)."""

    kind = "sim"

    def __init__(self, target: str, opts: dict[str, Any], scene=None) -> None:
        super().__init__()
        self.target = target
        self.opts = opts
        self._scene = scene
        self._renderer = None
        self._poses: list = []
        self._i = 0

    def start(self) -> None:
        from depth3d.sim.realsense_sensor import RealSenseModel, d435_intrinsics
        from depth3d.sim.render import SceneRenderer
        from depth3d.sim.scene import Scene, generate_room
        from depth3d.sim.trajectory import make_trajectory

        o = self.opts
        if self._scene is None:
            if self.target == "room":
                self._scene = generate_room(o["seed"], n_objects=o["objects"])
            else:
                path = Path(self.target)
                if not path.exists():
                    raise FileNotFoundError(f"sim source: scene file {path} does not exist "
                                            "(expected 'sim:room?...' or 'sim:FILE.npz')")
                self._scene = Scene.load(path)
        self._renderer = SceneRenderer(self._scene)
        self.depth_intrinsics = d435_intrinsics(o["width"], o["height"])
        self.color_intrinsics = self.depth_intrinsics
        self.depth_scale = 0.001
        self._model = RealSenseModel() if o["noise"] == "realsense" else RealSenseModel.ideal()
        kw = {"seed": o["seed"]} if o["trajectory"] == "walk" else {}
        self._poses = make_trajectory(self._scene, o["trajectory"], o["frames"], **kw)
        self._boxes = np.array([[*ob.centre, *ob.size, ob.heading, ob.class_id] for ob in self._scene.objects],
                               dtype=np.float64).reshape(-1, 8)
        self._names = [ob.class_name for ob in self._scene.objects]
        self._i = 0

    def stop(self) -> None:
        self._renderer = None

    @property
    def scene(self):
        """The :class:`~depth3d.sim.scene.Scene` (after start)."""
        return self._scene

    @property
    def frame_count(self) -> int | None:
        return None if self.opts["loop"] else self.opts["frames"]

    @property
    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": "simulated RealSense D435-like camera", "target": self.target,
                **{k: v for k, v in self.opts.items()}, "frame_count": self.frame_count,
                "placed_objects": len(self._scene.objects) if self._scene is not None else None}

    def frame(self, i: int) -> RGBDFrame:
        """Render frame ``i`` of the trajectory (deterministic)."""
        if self._renderer is None:
            raise SourceError("sim source: not started (use it as a context manager or call start())")
        n = len(self._poses)
        pose = self._poses[i % n]
        intr = self.depth_intrinsics
        r = self._renderer.render(intr, pose)
        rng = np.random.default_rng([int(self.opts["seed"]), int(i), 0x5EED])
        depth, color = self._model.apply(r, intr, rng)
        extras = {"gt_depth": r.depth, "instance": r.instance, "class_id": r.class_id,
                  "world_from_camera": pose.matrix.copy(), "boxes": self._boxes.copy(),
                  "class_names": list(self._names)}
        return RGBDFrame(depth=depth, depth_intrinsics=intr, color=color, color_intrinsics=None,
                         depth_scale=0.001, timestamp=i / self.opts["fps"], index=i, sensor="sim", extras=extras)

    def read(self, timeout: float = 5.0) -> RGBDFrame | None:
        if self._renderer is None:
            raise SourceError("sim source: not started (use it as a context manager or call start())")
        if self._i >= len(self._poses) and not self.opts["loop"]:
            return None
        f = self.frame(self._i)
        self._i += 1
        return f


def open_sim_source(rest: str, **options: Any) -> SimSource:
    """Create (not start) the ``sim:`` source; ``rest`` is the spec after ``sim:`` (see module docstring).

    Keyword options override the query string. A ``scene=`` keyword (a Scene object) renders that scene.
    Raises ValueError for unknown or malformed options.
    """
    scene = options.pop("scene", None)
    target, opts = _parse(rest, options)
    return SimSource(target, opts, scene=scene)
