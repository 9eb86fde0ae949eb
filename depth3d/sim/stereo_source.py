"""The simulated ``stereo:sim`` source: the virtual stereo sensor flying slowly through a scene.

Spec (``open_source`` passes what follows ``stereo:`` as ``rest``; a bare ``stereo:`` means ``stereo:sim``)::

    stereo:sim?frames=10&hfov=87&mode=ir&seed=0&width=640&height=480&scene=boxes

Options: those of every stereo source (:mod:`depth3d.stereo.source`: ``method``, ``num_disparities``,
``subpixel``, ``max_depth``, ``calib``, ``raw``) plus the ones of :class:`SimStereoSource`. Frames are those of
:class:`depth3d.stereo.source.StereoSource` with the exact depth in ``extras["gt_depth"]`` (H, W) float32 metres.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depth3d.core.errors import InputError
from depth3d.stereo.source import StereoSource, parse_stereo_query


class SimStereoSource(StereoSource):
    """The virtual stereo sensor (:mod:`depth3d.sim.stereo_sensor`) flying slowly through a scene.

    ``scene="boxes"`` (default): the built-in box scene (camera = world frame); ``scene="room"``: a room from
    ``depth3d.sim.scene.generate_room(seed)`` seen from near a corner at 1.4 m height. Ground truth depth is in
    ``extras["gt_depth"]``.
    """

    def __init__(self, frames: int = 10, hfov: float = 87.0, mode: str = "ir", seed: int = 0, width: int = 640,
                 height: int = 480, scene: str = "boxes", **kw: Any) -> None:
        from depth3d.sim.stereo_sensor import StereoSensor

        kw.setdefault("rectified", True)
        super().__init__(**kw)
        self.sensor = StereoSensor(hfov_deg=float(hfov), mode=mode, seed=int(seed), width=int(width),
                                   height=int(height))
        self.frames = int(frames)
        self.scene = scene
        self.seed = int(seed)
        self._i = 0
        self._gt = None
        if self._calib_arg is None:
            self._calib_arg = self.sensor.calibration()

    @property
    def frame_count(self) -> int:
        return self.frames

    def _open(self) -> None:
        from depth3d.sim.stereo_sensor import test_scene
        from depth3d.sim.trajectory import look_at

        if self.scene == "room":
            from depth3d.sim.scene import generate_room

            scene = generate_room(seed=self.seed)
            self.meshes = scene.meshes
            lx, ly, _ = scene.room_size
            # from near one corner at eye height towards the opposite side of the room
            self._room_pose = look_at((-0.35 * lx, -0.35 * ly, 1.4), (0.2 * lx, 0.2 * ly, 0.6))
        elif self.scene == "boxes":
            self.meshes = test_scene(self.seed)
        else:
            raise InputError(f"stereo:sim scene must be 'boxes' or 'room', got {self.scene!r}")

    def _grab(self, timeout: float):
        from depth3d.core.pose import Pose

        if self._i >= self.frames:
            return None
        pose = Pose.from_Rt(np.eye(3), np.array([0.02 * self._i, 0.0, 0.0]))  # 2 cm steps along x
        if getattr(self, "_room_pose", None) is not None:
            pose = self._room_pose @ pose
        p = self.sensor.render(self.meshes, pose)
        self._gt = p.depth
        t = self._i / 30.0
        self._i += 1
        return p.left, p.right, t

    def _extras(self) -> dict[str, Any]:
        return {"gt_depth": self._gt}


def open_sim_stereo_source(rest: str, **options: Any) -> SimStereoSource:
    """Create (not start) the simulated stereo source from the spec after ``stereo:`` (``sim?...`` or empty;
    see the module docstring); keyword options win over the query string."""
    kind, _, query = rest.partition("?")
    if kind not in ("", "sim"):
        raise InputError(f"simulated stereo source: kind must be 'sim', got {kind!r}")
    opts = parse_stereo_query(query)
    opts.update(options)
    return SimStereoSource(**opts)
