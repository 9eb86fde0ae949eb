"""Open any RGB-D source from a spec string: cameras, recordings, image folders, sensors, simulators.

A :class:`~depth3d.core.source.Source` is a context manager and an iterator of
:class:`~depth3d.core.frame.RGBDFrame`::

    with open_source("sim:room?seed=3&frames=30") as src:
        print(src.info, src.depth_intrinsics)
        for frame in src:
            ...
        print("dropped", src.dropped)

``open_source(spec)`` picks the implementation from the spec string:

=====================================  ===========================================================
spec                                   source
=====================================  ===========================================================
``FILE.db3`` / ``FILE.bag``            librealsense recording (:mod:`depth3d.capture.playback`)
``DIR`` holding ``rgb.txt``/``depth.txt``  TUM RGB-D folder (:mod:`depth3d.capture.tum`)
``realsense`` / ``realsense:SERIAL`` / a serial number   live RealSense (:mod:`depth3d.capture.realsense`)
``sim:...``                            simulated RealSense in a room (:mod:`depth3d.sim.source`)
``stereo:...``                         stereo cameras / folders (:mod:`depth3d.stereo.source`);
                                       ``stereo:sim`` (and bare ``stereo:``) the simulator
                                       (:mod:`depth3d.sim.stereo_source`)
``tof:...``                            raw ToF frame folders (:mod:`depth3d.tof.source`);
                                       ``tof:sim`` / ``tof:demo`` the simulator (:mod:`depth3d.sim.tof_source`)
``sl:...``                             structured-light captures (:mod:`depth3d.structured_light.source`);
                                       ``sl:sim`` / ``sl:demo`` the simulator
                                       (:mod:`depth3d.sim.structured_light_source`)
=====================================  ===========================================================

Implementations are entries of the :data:`SOURCES` registry (:class:`depth3d.core.registry.Registry`) as
``"module:function"`` strings, imported only when used; the function takes ``(rest: str, **options)`` where
``rest`` is the spec after ``scheme:``. An entry named ``"scheme:kind"`` (e.g. ``"tof:sim"``) serves the
specs ``scheme:kind[?...]`` instead of the scheme's own entry: that is how the simulator, which sits above the
sensor packages, supplies their simulated variants without the sensor packages knowing about it.
``Source`` and ``SourceError`` are defined in :mod:`depth3d.core.source` (re-exported here with
``open_source``, which returns them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from depth3d.core.errors import InputError
from depth3d.core.registry import Registry
from depth3d.core.source import Source, SourceError

__all__ = ["SOURCES", "Source", "SourceError", "open_source"]

#: scheme (or "scheme:kind") -> opener ``(rest, **options) -> Source``
SOURCES: Registry[Callable[..., Source]] = Registry("source scheme")
SOURCES.register("recording", "depth3d.capture.playback:open_recording", "librealsense recording (.db3/.bag)")
SOURCES.register("tum", "depth3d.capture.tum:open_tum", "TUM RGB-D folder")
SOURCES.register("realsense", "depth3d.capture.realsense:open_realsense", "live RealSense [:SERIAL]")
SOURCES.register("sim", "depth3d.sim.source:open_sim_source", "simulated RealSense in a room")
SOURCES.register("stereo", "depth3d.stereo.source:open_stereo_source", "stereo cameras or image folders")
SOURCES.register("tof", "depth3d.tof.source:open_tof_source", "raw ToF frame folder")
SOURCES.register("sl", "depth3d.structured_light.source:open_sl_source", "structured-light captures")
SOURCES.register("stereo:sim", "depth3d.sim.stereo_source:open_sim_stereo_source", "simulated stereo sensor")
SOURCES.register("stereo:", "depth3d.sim.stereo_source:open_sim_stereo_source", "stereo: alone = stereo:sim")
SOURCES.register("tof:sim", "depth3d.sim.tof_source:open_sim_tof_source", "simulated ToF camera in a room")
SOURCES.register("tof:demo", "depth3d.sim.tof_source:open_sim_tof_source", "simulated ToF camera, test scene")
SOURCES.register("sl:sim", "depth3d.sim.structured_light_source:open_sim_sl_source",
                 "simulated structured-light rig in a room")
SOURCES.register("sl:demo", "depth3d.sim.structured_light_source:open_sim_sl_source",
                 "simulated structured-light rig, test scene")


def schemes() -> list[str]:
    """The spec schemes ``open_source`` understands (``"sim"``, ``"tof"``, ...), in registration order."""
    return [name for name in SOURCES if ":" not in name]


def _looks_like_serial(spec: str) -> bool:
    return spec.isdigit() and len(spec) >= 6


def open_source(spec: str, **options: Any) -> Source:
    """Create (not yet start) the source named by ``spec``; see the module docstring for the forms.

    Raises InputError (a ValueError) for a spec that names nothing usable, with the forms that are accepted.
    """
    spec = str(spec)
    scheme, colon, rest = spec.partition(":")
    if colon and scheme in SOURCES and not (len(scheme) == 1 and scheme.isalpha()):
        kind = rest.partition("?")[0]
        name = f"{scheme}:{kind}" if f"{scheme}:{kind}" in SOURCES else scheme
    elif spec == "realsense" or _looks_like_serial(spec):
        name, rest = "realsense", spec if _looks_like_serial(spec) else ""
    else:
        path = Path(spec)
        if path.suffix.lower() in (".db3", ".bag"):
            name, rest = "recording", spec
        elif path.is_dir() and ((path / "rgb.txt").exists() or (path / "depth.txt").exists()):
            name, rest = "tum", spec
        elif path.exists():
            raise InputError(f"source {spec!r}: a file or folder, but neither a librealsense recording "
                             "(.db3/.bag) nor a TUM RGB-D folder (with rgb.txt/depth.txt)")
        else:
            raise InputError(
                f"source {spec!r} not understood: expected a recording file (.db3/.bag), a TUM folder, "
                f"'realsense[:SERIAL]', or one of the schemes {', '.join(s + ':' for s in schemes())}")
    try:
        opener = SOURCES.get(name)
    except InputError as exc:
        raise InputError(f"source {spec!r}: {exc}") from None
    return opener(rest, **options)
