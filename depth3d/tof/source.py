"""The ``tof:`` capture source: raw AMCW ToF frames decoded to depth, from a folder or the simulator.

Spec forms (``open_source`` passes what follows ``tof:`` as ``rest``)::

    tof:path/to/raw_folder                   a raw-frame folder (layout: depth3d.tof.raw)
    tof:path/to/raw_folder?min_amplitude=30&flying=0
    tof:sim?seed=3&frames=10&noise=medium    the virtual ToF camera in a generated room (depth3d.sim.scene)
    tof:demo?frames=5&noise=low              the virtual ToF camera in a small test scene (boxes, spheres)

Options (query or keyword arguments, keywords win): ``min_amplitude`` (counts, 20), ``flying`` (0/1, 1),
``max_residual`` (metres), sim only: ``seed`` (0), ``frames`` (30), ``noise`` (none|low|medium|high,
low), ``width``/``height`` (640x480), ``fps`` (30), ``multipath`` (0.0).

Frames: ``depth`` float32 planar metres (0 invalid), ``sensor="tof"``, no colour; ``extras`` hold
``amplitude``, ``intensity`` (infrared image), ``confidence`` (0..1), ``range`` (radial metres),
``valid``, and for the simulator ``gt_depth``/``gt_range``.

Real ToF cameras that output depth: a RealSense L515 ``.bag`` plays through ``open_source("x.bag")``;
Azure Kinect / Orbbec depth exports as 16-bit PNG folders (``depth3d.io.read_depth_png``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from depth3d.capture.source import Source, SourceError
from depth3d.core.frame import RGBDFrame

_DECODE = {"min_amplitude": 20.0, "flying": 1, "max_residual": None}
_SIM = {"seed": 0, "frames": 30, "noise": "low", "width": 640, "height": 480, "fps": 30.0, "multipath": 0.0}


def _parse(rest: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    target, _, query = rest.partition("?")
    given = dict(parse_qsl(query, keep_blank_values=True))
    given.update(options)
    is_sim = target in ("sim", "demo")
    allowed = {**_DECODE, **(_SIM if is_sim else {"fps": None})}
    opts = dict(allowed)
    for k, v in given.items():
        if k not in allowed:
            raise ValueError(f"tof source: unknown option {k!r} for {'the simulator' if is_sim else 'a folder'}; "
                             f"expected one of {sorted(allowed)}")
        try:
            if k in ("seed", "frames", "width", "height", "flying"):
                opts[k] = int(v)
            elif k in ("min_amplitude", "fps", "multipath") or (k == "max_residual" and v is not None):
                opts[k] = float(v)
            else:
                opts[k] = v
        except (TypeError, ValueError):
            raise ValueError(f"tof source: option {k}={v!r} is not a number") from None
    if not target:
        raise ValueError("tof source: expected 'tof:FOLDER', 'tof:sim?...' or 'tof:demo?...'")
    return target, opts


class ToFSource(Source):
    """Raw ToF frames (folder or simulator) decoded by :func:`depth3d.tof.decode.decode_tof`."""

    kind = "tof"

    def __init__(self, target: str, opts: dict[str, Any]) -> None:
        super().__init__()
        self.target = target
        self.opts = opts
        self._i = 0
        self._folder = None
        self._sensor = None

    def start(self) -> None:
        o = self.opts
        if self.target in ("sim", "demo"):
            from depth3d.sim.render import SceneRenderer
            from depth3d.sim.tof_sensor import ToFSensor, demo_scene, tof_intrinsics

            self._sensor = ToFSensor.with_noise(str(o["noise"]), intrinsics=tof_intrinsics(o["width"], o["height"]),
                                                multipath=o["multipath"])
            if self.target == "demo":
                self._renderer = SceneRenderer(demo_scene(o["seed"]))
                from depth3d.core.pose import Pose

                self._poses = [Pose.identity()] * o["frames"]
            else:
                from depth3d.sim.scene import generate_room
                from depth3d.sim.trajectory import make_trajectory

                scene = generate_room(o["seed"])
                self._renderer = SceneRenderer(scene)
                self._poses = make_trajectory(scene, "orbit", o["frames"])
            self.depth_intrinsics = self._sensor.intrinsics
            self._freqs = np.asarray(self._sensor.frequencies_hz)
            self._offsets = None
            self._fps = o["fps"]
        else:
            from depth3d.tof.raw import ToFRawFolder

            self._folder = ToFRawFolder(Path(self.target))
            self._folder.check()
            self.depth_intrinsics = self._folder.intrinsics
            self._freqs = self._folder.frequencies_hz
            self._offsets = self._folder.phase_offsets
            self._fps = o.get("fps") or self._folder.fps
        self.depth_scale = 1.0
        self._i = 0

    def stop(self) -> None:
        self._renderer = None
        self._folder = None

    @property
    def frame_count(self) -> int | None:
        if self._folder is not None:
            return len(self._folder)
        return int(self.opts.get("frames") or 0) if self.target in ("sim", "demo") else None

    @property
    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "options": dict(self.opts),
                "frequencies_hz": [float(f) for f in getattr(self, "_freqs", [])],
                "frame_count": self.frame_count}

    def read(self, timeout: float = 5.0) -> RGBDFrame | None:
        from depth3d.tof.decode import decode_tof

        extras: dict[str, Any] = {}
        if self._folder is not None:
            if self._i >= len(self._folder):
                return None
            index = self._folder.indices[self._i]
            raw = self._folder.read(index)
        elif self._sensor is not None and getattr(self, "_renderer", None) is not None:
            if self._i >= len(self._poses):
                return None
            index = self._i
            out = self._sensor.render(self._renderer, self._poses[index],
                                      np.random.default_rng([int(self.opts["seed"]), index, 0x70F]))
            raw = out["frames"]
            extras.update(gt_depth=out["gt_depth"], gt_range=out["gt_range"])
        else:
            raise SourceError("tof source: not started (use it as a context manager or call start())")
        o = self.opts
        res = decode_tof(raw, self._freqs, self.depth_intrinsics, phase_offsets=self._offsets,
                         min_amplitude=o["min_amplitude"], flying_filter=bool(o["flying"]),
                         max_residual=o["max_residual"])
        extras.update(amplitude=res.amplitude, intensity=res.intensity, confidence=res.confidence,
                      range=res.range, valid=res.valid, raw=raw)
        self._i += 1
        return RGBDFrame(depth=res.depth, depth_intrinsics=self.depth_intrinsics, depth_scale=1.0,
                         timestamp=index / self._fps, index=index, sensor="tof", extras=extras)


def open_tof_source(rest: str, **options: Any) -> ToFSource:
    """Create (not start) a ToF source from the spec after ``tof:`` (see the module docstring).

    Raises ValueError for unknown options; FileNotFoundError/ValueError on start for a bad folder."""
    target, opts = _parse(rest, options)
    return ToFSource(target, opts)
