"""What the simulated sensor sources (``tof:`` and ``sl:`` with target ``demo`` or ``sim``) share: the target
checked on creation, and one frame per camera pose of :func:`depth3d.sim.render.sim_target_views`, each frame
with its own random generator (frame i is a pure function of seed, options and i)."""

from __future__ import annotations

from typing import Any

import numpy as np

from depth3d.core.pose import Pose
from depth3d.sim.render import check_sim_target, sim_target_views


class SimViewsSource:
    """Mixin placed before a sensor package's source class (``SLSource``, ``ToFSource``): set ``scheme`` (the
    spec prefix, "sl"/"tof") and ``rng_salt`` (keeps the sensors' noise streams apart); call
    :meth:`_open_views` from ``_open`` and :meth:`_view` for frame ``i``."""

    scheme = ""
    rng_salt = 0

    def __init__(self, target: str, opts: dict[str, Any]) -> None:
        check_sim_target(self.scheme, target)
        super().__init__(target, opts)
        self._renderer = None
        self._poses: list[Pose] = []

    def _open_views(self, **demo_kwargs: Any) -> None:
        """Build the scene renderer and the camera poses (``demo_kwargs`` go to the demo scene)."""
        o = self.opts
        self._renderer, self._poses = sim_target_views(self.scheme, self.target, int(o["seed"]), int(o["frames"]),
                                                       **demo_kwargs)

    def _count(self) -> int | None:
        return int(self.opts.get("frames") or 0)

    def _view(self, i: int) -> tuple[Pose, np.random.Generator] | None:
        """The camera pose (world from camera) of frame ``i`` and the frame's random generator, seeded by
        (seed, i, ``rng_salt``); None past the last frame."""
        if i >= len(self._poses):
            return None
        return self._poses[i], np.random.default_rng([int(self.opts["seed"]), i, self.rng_salt])
