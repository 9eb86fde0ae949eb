"""The ``sl:`` capture source: structured-light captures decoded and triangulated to depth.

Spec forms (``open_source`` passes what follows ``sl:`` as ``rest``)::

    sl:path/to/capture_or_sequence_folder          layout: depth3d.structured_light.capture
    sl:path?calibration=calib.json                 calibration file not in the folder
    sl:demo?frames=1&seed=0                        the virtual projector-camera rig, small test scene
    sl:sim?seed=3&frames=5                         the virtual rig in a generated room

Options (query or keyword arguments): ``calibration`` (file), ``phase`` (0/1: use phase shift, 1),
``min_contrast`` (6), ``fps`` (5), simulator only: ``seed`` (0), ``frames`` (1).

:class:`SLSource` decodes captures from any supplier; this module has the folder supplier
(:class:`SLFolderSource`); the simulator package supplies ``sl:demo``/``sl:sim``
(:mod:`depth3d.sim.structured_light_source`).

Frames: ``depth`` float32 planar metres (0 invalid), ``sensor="structured_light"``, ``color`` the white
capture as grey RGB; ``extras``: ``column`` (projector column, NaN invalid), ``valid``, and in the
simulator ``gt_depth``, ``gt_column``, ``lit``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from depth3d.core.errors import InputError
from depth3d.core.frame import RGBDFrame
from depth3d.core.source import SuppliedSource, parse_source_spec

#: options of every sl: source, with their defaults (``seed``/``frames`` matter to the simulator only)
SL_OPTIONS: dict[str, Any] = {"calibration": None, "phase": 1, "min_contrast": 6.0, "seed": 0, "frames": 1,
                              "fps": 5.0}


def parse_sl_spec(rest: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Split an ``sl:`` spec into (target, options); keyword ``options`` win over the query string.

    Raises InputError (a ValueError) for an unknown option, a non-integer ``phase``/``seed``/``frames``
    or an empty target."""
    target, given = parse_source_spec(rest, options, SL_OPTIONS, "sl", "'sl:FOLDER', 'sl:demo?...' or 'sl:sim?...'")
    opts = {**SL_OPTIONS, **given}
    for k in ("phase", "seed", "frames"):
        try:
            opts[k] = int(opts[k])
        except (TypeError, ValueError):
            raise InputError(f"sl source: option {k}={opts[k]!r} is not an integer") from None
    return target, opts


class SLSource(SuppliedSource):
    """Structured-light captures -> depth frames; subclasses supply the captures.

    Subclasses implement ``_open`` (fill ``_calib`` (:class:`~depth3d.structured_light.decode.SLCalibration`)
    and ``_patterns``), ``_close``, ``_count`` and ``_images(i)`` -> ``(images, extras)`` or None at the end,
    where ``images`` maps capture names (``"white"``, ``"black"``, Gray-code and phase images) to (H, W) arrays.
    """

    kind = "structured_light"
    scheme = "sl"

    # subclass hook (besides SuppliedSource's)
    def _images(self, i: int) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        raise NotImplementedError

    def start(self) -> None:
        super().start()
        self.depth_intrinsics = self._calib.camera

    def read(self, timeout: float = 5.0) -> RGBDFrame | None:
        from depth3d.structured_light.decode import decode_captures, triangulate_columns

        self._check_started()
        got = self._images(self._i)
        if got is None:
            return None
        images, extras = got
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


class SLFolderSource(SLSource):
    """A capture folder, or a folder of capture folders (one frame each), with its calibration."""

    def __init__(self, target: str, opts: dict[str, Any]) -> None:
        super().__init__(target, opts)
        self._folders: list[Path] | None = None

    def _open(self) -> None:
        from depth3d.structured_light.capture import capture_folders, read_capture

        self._folders = capture_folders(self.target)
        _, self._patterns, self._calib = read_capture(self._folders[0], self.opts["calibration"])
        if self._calib is None:
            raise FileNotFoundError(f"sl source {self.target}: no calibration.json in the folder or its parent; "
                                    "give ?calibration=FILE")

    def _close(self) -> None:
        self._folders = None

    def _count(self) -> int | None:
        return len(self._folders) if self._folders is not None else None

    def _images(self, i: int) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        from depth3d.structured_light.capture import read_capture

        if i >= len(self._folders):
            return None
        images, _, _ = read_capture(self._folders[i], self._calib, self._patterns)
        return images, {}


def open_sl_source(rest: str, **options: Any) -> SLFolderSource:
    """Create (not start) a structured-light source from the spec after ``sl:`` naming a capture folder (see
    the module docstring; ``sl:demo``/``sl:sim`` are opened by
    :func:`depth3d.sim.structured_light_source.open_sim_sl_source`).

    Raises InputError (a ValueError) for unknown or malformed options."""
    target, opts = parse_sl_spec(rest, options)
    return SLFolderSource(target, opts)
