"""The ``tof:`` capture source: raw AMCW ToF frames decoded to depth.

Spec forms (``open_source`` passes what follows ``tof:`` as ``rest``)::

    tof:path/to/raw_folder                   a raw-frame folder (layout: depth3d.tof.raw)
    tof:path/to/raw_folder?min_amplitude=30&flying=0
    tof:sim?seed=3&frames=10&noise=medium    the virtual ToF camera in a generated room (depth3d.sim.tof_source)
    tof:demo?frames=5&noise=low              the virtual ToF camera in a small test scene (boxes, spheres)

Options (query or keyword arguments, keywords win): ``min_amplitude`` (counts, 20), ``flying`` (0/1, 1),
``max_residual`` (metres), ``fps`` (folder: its recorded rate); simulator options: see
:mod:`depth3d.sim.tof_source`.

:class:`ToFSource` decodes raw frames from any supplier; this module has the folder supplier
(:class:`ToFFolderSource`), the simulator package supplies the simulated one (``tof:sim``/``tof:demo``).

Frames: ``depth`` float32 planar metres (0 invalid), ``sensor="tof"``, no colour; ``extras`` hold
``amplitude``, ``intensity`` (infrared image), ``confidence`` (0..1), ``range`` (radial metres),
``valid``, ``raw``, and for the simulator ``gt_depth``/``gt_range``.

Real ToF cameras that output depth: a RealSense L515 ``.bag`` plays through ``open_source("x.bag")``;
Azure Kinect / Orbbec depth exports as 16-bit PNG folders (``depth3d.io.read_depth_png``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from depth3d.core.errors import InputError
from depth3d.core.frame import RGBDFrame
from depth3d.core.intrinsics import Intrinsics
from depth3d.core.source import SuppliedSource, parse_source_spec

#: decoding options shared by every ToF source, with their defaults
DECODE_OPTIONS: dict[str, Any] = {"min_amplitude": 20.0, "flying": 1, "max_residual": None}
_INTS = ("seed", "frames", "width", "height", "flying")
_FLOATS = ("min_amplitude", "fps", "multipath", "max_residual")


def parse_tof_spec(rest: str, options: dict[str, Any], allowed: dict[str, Any],
                   what: str) -> tuple[str, dict[str, Any]]:
    """Split a ``tof:`` spec into (target, options): ``allowed`` maps option names to defaults, ``what``
    names the source in the unknown-option error; keyword ``options`` win over the query string.

    Raises InputError (a ValueError) for an unknown or non-numeric option or an empty target."""
    target, given = parse_source_spec(rest, options, allowed, "tof",
                                      "'tof:FOLDER', 'tof:sim?...' or 'tof:demo?...'", f" for {what}")
    opts = dict(allowed)
    for k, v in given.items():
        try:
            if k in _INTS:
                opts[k] = int(v)
            elif k in _FLOATS and v is not None:
                opts[k] = float(v)
            else:
                opts[k] = v
        except (TypeError, ValueError):
            raise InputError(f"tof source: option {k}={v!r} is not a number") from None
    return target, opts


class ToFSource(SuppliedSource):
    """Raw ToF frames decoded by :func:`depth3d.tof.decode.decode_tof`; subclasses supply the raw frames.

    Subclasses implement ``_open`` (fill ``depth_intrinsics``, ``_freqs`` (F,) Hz, ``_offsets`` phase offsets
    or None, ``_fps``), ``_close``, ``_count`` and ``_raw(i)`` -> ``(index, raw (F, N, H, W), extras)`` or
    None at the end.
    """

    kind = "tof"
    scheme = "tof"

    def __init__(self, target: str, opts: dict[str, Any]) -> None:
        super().__init__(target, opts)
        self._freqs: np.ndarray = np.zeros(0)
        self._offsets: np.ndarray | None = None
        self._fps = 30.0

    # subclass hook (besides SuppliedSource's)
    def _raw(self, i: int) -> tuple[int, np.ndarray, dict[str, Any]] | None:
        raise NotImplementedError

    def _info(self) -> dict[str, Any]:
        return {"frequencies_hz": [float(f) for f in self._freqs]}

    def read(self, timeout: float = 5.0) -> RGBDFrame | None:
        from depth3d.tof.decode import decode_tof

        self._check_started()
        got = self._raw(self._i)
        if got is None:
            return None
        index, raw, extras = got
        o = self.opts
        res = decode_tof(raw, self._freqs, self.depth_intrinsics, phase_offsets=self._offsets,
                         min_amplitude=o["min_amplitude"], flying_filter=bool(o["flying"]),
                         max_residual=o["max_residual"])
        extras.update(amplitude=res.amplitude, intensity=res.intensity, confidence=res.confidence,
                      range=res.range, valid=res.valid, raw=raw)
        self._i += 1
        return RGBDFrame(depth=res.depth, depth_intrinsics=self.depth_intrinsics, depth_scale=1.0,
                         timestamp=index / self._fps, index=index, sensor="tof", extras=extras)


class ToFFolderSource(ToFSource):
    """A raw-frame folder (:class:`depth3d.tof.raw.ToFRawFolder`) decoded frame by frame."""

    def __init__(self, target: str, opts: dict[str, Any]) -> None:
        super().__init__(target, opts)
        self._folder = None

    def _open(self) -> None:
        from depth3d.tof.raw import ToFRawFolder

        self._folder = ToFRawFolder(Path(self.target))
        self._folder.check()
        self.depth_intrinsics: Intrinsics = self._folder.intrinsics
        self._freqs = self._folder.frequencies_hz
        self._offsets = self._folder.phase_offsets
        self._fps = self.opts.get("fps") or self._folder.fps

    def _close(self) -> None:
        self._folder = None

    def _count(self) -> int | None:
        return len(self._folder) if self._folder is not None else None

    def _raw(self, i: int) -> tuple[int, np.ndarray, dict[str, Any]] | None:
        if i >= len(self._folder):
            return None
        index = self._folder.indices[i]
        return index, self._folder.read(index), {}


def open_tof_source(rest: str, **options: Any) -> ToFFolderSource:
    """Create (not start) a ToF source from the spec after ``tof:`` naming a raw-frame folder (see the module
    docstring; ``tof:sim``/``tof:demo`` are opened by :func:`depth3d.sim.tof_source.open_sim_tof_source`).

    Raises InputError (a ValueError) for unknown options; FileNotFoundError/ValueError on start for a bad
    folder."""
    target, opts = parse_tof_spec(rest, options, {**DECODE_OPTIONS, "fps": None}, "a folder")
    return ToFFolderSource(target, opts)
