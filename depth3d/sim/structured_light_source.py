"""The simulated ``sl:demo`` / ``sl:sim`` sources: the virtual projector-camera rig, decoded like a folder.

Spec forms (``open_source`` passes what follows ``sl:`` as ``rest``)::

    sl:demo?frames=1&seed=0      the rig (:class:`depth3d.sim.structured_light_sensor.StructuredLightRig`),
                                 still, in the small test scene :func:`depth3d.sim.scene.demo_scene`
    sl:sim?seed=3&frames=5       the rig orbiting a generated room (:func:`depth3d.sim.scene.generate_room`)

Options: those of :mod:`depth3d.structured_light.source` (``phase``, ``min_contrast``, ``fps``) and ``seed``
(0), ``frames`` (1). Frames are those of :class:`depth3d.structured_light.source.SLSource` plus ground truth in
``extras``: ``gt_depth`` (H, W) float32 planar metres, ``gt_column`` (H, W) projector column, ``lit`` (H, W)
bool. Frame i is a pure function of (seed, options, i).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depth3d.sim.views_source import SimViewsSource
from depth3d.structured_light.source import SLSource, parse_sl_spec


class SimSLSource(SimViewsSource, SLSource):
    """The virtual structured-light rig as an ``sl:`` source (see the module docstring)."""

    scheme = "sl"
    rng_salt = 0x51

    def __init__(self, target: str, opts: dict[str, Any]) -> None:
        super().__init__(target, opts)
        self._rig = None

    def _open(self) -> None:
        from depth3d.sim.structured_light_sensor import StructuredLightRig

        self._rig = StructuredLightRig()
        self._open_views(far=2.5, near=0.8)
        self._calib = self._rig.calibration
        self._patterns = self._rig.patterns

    def _close(self) -> None:
        self._rig = None

    def _images(self, i: int) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        view = self._view(i)
        if view is None:
            return None
        out = self._rig.render(self._renderer, *view)
        return out["images"], {"gt_depth": out["gt_depth"], "gt_column": out["gt_column"], "lit": out["lit"]}


def open_sim_sl_source(rest: str, **options: Any) -> SimSLSource:
    """Create (not start) the simulated structured-light source from the spec after ``sl:`` (``demo?...`` or
    ``sim?...``; see the module docstring). Raises InputError (a ValueError) for unknown or malformed options."""
    target, opts = parse_sl_spec(rest, options)
    return SimSLSource(target, opts)
