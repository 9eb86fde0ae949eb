"""The ``sl:`` capture source: structured-light captures decoded and triangulated to depth.

Spec forms (``open_source`` passes what follows ``sl:`` as ``rest``)::

    sl:path/to/capture_or_sequence_folder          layout: depth3d.structured_light.capture
    sl:path?calibration=calib.json                 calibration file not in the folder
    sl:demo?frames=1&seed=0                        the virtual projector-camera rig, small test scene
    sl:sim?seed=3&frames=5                         the virtual rig in a generated room

Options (query or keyword arguments): ``calibration`` (file), ``phase`` (0/1: use phase shift, 1),
``min_contrast`` (6), sim only: ``seed`` (0), ``frames`` (1), ``fps`` (5).

Frames: ``depth`` float32 planar metres (0 invalid), ``sensor="structured_light"``, ``color`` the white
capture as grey RGB; ``extras``: ``column`` (projector column, NaN invalid), ``valid``, and in the
simulator ``gt_depth``, ``gt_column``, ``lit``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from depth3d.capture.source import Source, SourceError
from depth3d.core.frame import RGBDFrame

_OPTS = {"calibration": None, "phase": 1, "min_contrast": 6.0, "seed": 0, "frames": 1, "fps": 5.0}


class SLSource(Source):
    """Structured-light captures (folder or simulator) -> depth frames."""

    kind = "structured_light"

    def __init__(self, target: str, opts: dict[str, Any]) -> None:
        super().__init__()
        self.target = target
        self.opts = opts
        self._i = 0
        self._folders: list[Path] | None = None
        self._rig = None

    def start(self) -> None:
        o = self.opts
        if self.target in ("demo", "sim"):
            from depth3d.core.pose import Pose
            from depth3d.sim.render import SceneRenderer
            from depth3d.sim.structured_light_sensor import StructuredLightRig

            self._rig = StructuredLightRig()
            if self.target == "demo":
                from depth3d.sim.tof_sensor import demo_scene

                self._renderer = SceneRenderer(demo_scene(int(o["seed"]), far=2.5, near=0.8))
                self._poses = [Pose.identity()] * int(o["frames"])
            else:
                from depth3d.sim.scene import generate_room
                from depth3d.sim.trajectory import make_trajectory

                scene = generate_room(int(o["seed"]))
                self._renderer = SceneRenderer(scene)
                self._poses = make_trajectory(scene, "orbit", int(o["frames"]))
            self._calib = self._rig.calibration
            self._patterns = self._rig.patterns
        else:
            from depth3d.structured_light.capture import capture_folders, read_capture

            self._folders = capture_folders(self.target)
            _, self._patterns, self._calib = read_capture(self._folders[0], o["calibration"])
            if self._calib is None:
                raise FileNotFoundError(f"sl source {self.target}: no calibration.json in the folder or its parent; "
                                        "give ?calibration=FILE")
        self.depth_intrinsics = self._calib.camera
        self.depth_scale = 1.0
        self._i = 0

    def stop(self) -> None:
        self._folders = None
        self._rig = None

    @property
    def frame_count(self) -> int | None:
        if self._folders is not None:
            return len(self._folders)
        return int(self.opts["frames"]) if self.target in ("demo", "sim") else None

    @property
    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "options": dict(self.opts),
                "frame_count": self.frame_count}

    def read(self, timeout: float = 5.0) -> RGBDFrame | None:
        from depth3d.structured_light.decode import decode_captures, triangulate_columns

        extras: dict[str, Any] = {}
        if self._folders is not None:
            if self._i >= len(self._folders):
                return None
            from depth3d.structured_light.capture import read_capture

            images, _, _ = read_capture(self._folders[self._i], self._calib, self._patterns)
        elif self._rig is not None:
            if self._i >= len(self._poses):
                return None
            out = self._rig.render(self._renderer, self._poses[self._i],
                                   np.random.default_rng([int(self.opts["seed"]), self._i, 0x51]))
            images = out["images"]
            extras.update(gt_depth=out["gt_depth"], gt_column=out["gt_column"], lit=out["lit"])
        else:
            raise SourceError("sl source: not started (use it as a context manager or call start())")
        dec = decode_captures(images, self._patterns, min_contrast=float(self.opts["min_contrast"]))
        col = dec.column if int(self.opts["phase"]) else np.where(dec.column_gray >= 0, dec.column_gray,
                                                                   np.nan).astype(np.float32)
        depth = triangulate_columns(col, self._calib)
        white = np.asarray(images["white"])
        if white.dtype != np.uint8:
            white = (white.astype(np.float32) * (255.0 / max(float(white.max()), 1.0))).astype(np.uint8)
        extras.update(column=col, valid=dec.valid)
        i = self._i
        self._i += 1
        return RGBDFrame(depth=depth, depth_intrinsics=self._calib.camera, color=np.repeat(white[..., None], 3, 2),
                         depth_scale=1.0, timestamp=i / float(self.opts["fps"]), index=i,
                         sensor="structured_light", extras=extras)


def open_sl_source(rest: str, **options: Any) -> SLSource:
    """Create (not start) a structured-light source from the spec after ``sl:`` (see the module docstring)."""
    target, _, query = rest.partition("?")
    given = dict(parse_qsl(query, keep_blank_values=True))
    given.update(options)
    opts = dict(_OPTS)
    for k, v in given.items():
        if k not in _OPTS:
            raise ValueError(f"sl source: unknown option {k!r}; expected one of {sorted(_OPTS)}")
        opts[k] = v
    for k in ("phase", "seed", "frames"):
        try:
            opts[k] = int(opts[k])
        except (TypeError, ValueError):
            raise ValueError(f"sl source: option {k}={opts[k]!r} is not an integer") from None
    if not target:
        raise ValueError("sl source: expected 'sl:FOLDER', 'sl:demo?...' or 'sl:sim?...'")
    return SLSource(target, opts)
