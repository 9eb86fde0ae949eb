"""The simulated ``tof:sim`` / ``tof:demo`` sources: the virtual ToF camera's raw frames, decoded like a folder's.

Spec forms (``open_source`` passes what follows ``tof:`` as ``rest``)::

    tof:sim?seed=3&frames=10&noise=medium    the virtual ToF camera orbiting a generated room (depth3d.sim.scene)
    tof:demo?frames=5&noise=low              the virtual ToF camera, still, in a small test scene (boxes, spheres)

Options (query or keyword arguments, keywords win): the decoding options of :mod:`depth3d.tof.source`
(``min_amplitude`` (counts, 20), ``flying`` (0/1, 1), ``max_residual`` (metres)) and ``seed`` (0), ``frames``
(30), ``noise`` (none|low|medium|high, low), ``width``/``height`` (640x480), ``fps`` (30), ``multipath`` (0.0).

Frames are those of :class:`depth3d.tof.source.ToFSource` plus ground truth in ``extras``: ``gt_depth``
(H, W) float32 planar metres and ``gt_range`` (H, W) float32 radial metres. Frame i is a pure function of
(seed, options, i).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depth3d.sim.views_source import SimViewsSource
from depth3d.tof.source import DECODE_OPTIONS, ToFSource, parse_tof_spec

#: simulator options of tof:sim / tof:demo, with their defaults
SIM_OPTIONS: dict[str, Any] = {"seed": 0, "frames": 30, "noise": "low", "width": 640, "height": 480, "fps": 30.0,
                               "multipath": 0.0}


class SimToFSource(SimViewsSource, ToFSource):
    """The virtual ToF camera (:class:`depth3d.sim.tof_sensor.ToFSensor`) as a ``tof:`` source."""

    scheme = "tof"
    rng_salt = 0x70F

    def __init__(self, target: str, opts: dict[str, Any]) -> None:
        super().__init__(target, opts)
        self._sensor = None

    def _open(self) -> None:
        from depth3d.sim.tof_sensor import ToFSensor, tof_intrinsics

        o = self.opts
        self._sensor = ToFSensor.with_noise(str(o["noise"]), intrinsics=tof_intrinsics(o["width"], o["height"]),
                                            multipath=o["multipath"])
        self._open_views()
        self.depth_intrinsics = self._sensor.intrinsics
        self._freqs = np.asarray(self._sensor.frequencies_hz)
        self._offsets = None
        self._fps = o["fps"]

    def _close(self) -> None:
        self._renderer = None

    def _raw(self, i: int) -> tuple[int, np.ndarray, dict[str, Any]] | None:
        view = self._view(i)
        if view is None:
            return None
        out = self._sensor.render(self._renderer, *view)
        return i, out["frames"], {"gt_depth": out["gt_depth"], "gt_range": out["gt_range"]}


def open_sim_tof_source(rest: str, **options: Any) -> SimToFSource:
    """Create (not start) the simulated ToF source from the spec after ``tof:`` (``sim?...`` or ``demo?...``;
    see the module docstring). Raises InputError (a ValueError) for unknown or malformed options."""
    target, opts = parse_tof_spec(rest, options, {**DECODE_OPTIONS, **SIM_OPTIONS}, "the simulator")
    return SimToFSource(target, opts)
