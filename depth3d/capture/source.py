"""One interface for every RGB-D source: cameras, recordings, image folders, simulators.

A :class:`Source` is a context manager and an iterator of :class:`~depth3d.core.frame.RGBDFrame`::

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
``sim:...``                            simulator (:mod:`depth3d.sim.source`)
``stereo:...``                         stereo cameras / folders (:mod:`depth3d.stereo.source`)
``tof:...``                            raw ToF frames (:mod:`depth3d.tof.source`)
``sl:...``                             structured-light captures (:mod:`depth3d.structured_light.source`)
=====================================  ===========================================================

Implementations register by scheme in ``SCHEMES`` as ``"module:function"`` strings, imported only when used.
The function takes ``(rest: str, **options)`` where ``rest`` is the spec after ``scheme:``.
"""

from __future__ import annotations

import abc
import importlib
from pathlib import Path
from typing import Any, Iterator

from depth3d.core.frame import RGBDFrame
from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose

SCHEMES: dict[str, str] = {
    "recording": "depth3d.capture.playback:open_recording",
    "tum": "depth3d.capture.tum:open_tum",
    "realsense": "depth3d.capture.realsense:open_realsense",
    "sim": "depth3d.sim.source:open_sim_source",
    "stereo": "depth3d.stereo.source:open_stereo_source",
    "tof": "depth3d.tof.source:open_tof_source",
    "sl": "depth3d.structured_light.source:open_sl_source",
}


class SourceError(RuntimeError):
    """A source could not be opened or stopped delivering (camera lost, file unreadable)."""


class Source(abc.ABC):
    """Base class of RGB-D sources.

    Subclasses implement :meth:`start`, :meth:`stop` and :meth:`read`, and fill ``depth_intrinsics``
    (and ``color_intrinsics``, ``depth_to_color`` where they have colour) once started.
    """

    #: short name of the implementation, e.g. "realsense", "recording", "sim"
    kind: str = "source"

    def __init__(self) -> None:
        self.depth_intrinsics: Intrinsics | None = None
        self.color_intrinsics: Intrinsics | None = None
        self.depth_to_color: Pose = Pose.identity()
        self.depth_scale: float = 0.001
        #: frames the source knows it lost (gaps in frame numbers, queue overflows)
        self.dropped: int = 0
        self.frames_read: int = 0
        self._started = False

    # --------------------------------------------------------------- to implement
    @abc.abstractmethod
    def start(self) -> None:
        """Open the device or file; fill intrinsics."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Release the device or file. Must be safe to call twice."""

    @abc.abstractmethod
    def read(self, timeout: float = 5.0) -> RGBDFrame | None:
        """Next frame, or None at the end of a finite stream. Raises :class:`SourceError` when a live
        device stops answering within ``timeout`` seconds."""

    # --------------------------------------------------------------- shared behaviour
    @property
    def info(self) -> dict[str, Any]:
        """Device/file description (name, serial, streams, frame count ...)."""
        return {"kind": self.kind}

    @property
    def frame_count(self) -> int | None:
        """Number of frames in a finite stream, None for live streams."""
        return None

    def __enter__(self) -> "Source":
        if not self._started:
            self.start()
            self._started = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._started:
            self._started = False
            self.stop()

    def __iter__(self) -> Iterator[RGBDFrame]:
        if not self._started:
            self.__enter__()
        while True:
            frame = self.read()
            if frame is None:
                return
            self.frames_read += 1
            yield frame


def _looks_like_serial(spec: str) -> bool:
    return spec.isdigit() and len(spec) >= 6


def open_source(spec: str, **options: Any) -> Source:
    """Create (not yet start) the source named by ``spec``; see the module docstring for the forms.

    Raises ValueError for a spec that names nothing usable, with the forms that are accepted.
    """
    spec = str(spec)
    scheme, _, rest = spec.partition(":")
    if scheme in SCHEMES and _ and not (len(scheme) == 1 and scheme.isalpha()):
        target = SCHEMES[scheme]
    elif spec == "realsense" or _looks_like_serial(spec):
        target, rest = SCHEMES["realsense"], spec if _looks_like_serial(spec) else ""
    else:
        path = Path(spec)
        if path.suffix.lower() in (".db3", ".bag"):
            target, rest = SCHEMES["recording"], spec
        elif path.is_dir() and ((path / "rgb.txt").exists() or (path / "depth.txt").exists()):
            target, rest = SCHEMES["tum"], spec
        elif path.exists():
            raise ValueError(f"source {spec!r}: a file or folder, but neither a librealsense recording "
                             "(.db3/.bag) nor a TUM RGB-D folder (with rgb.txt/depth.txt)")
        else:
            raise ValueError(
                f"source {spec!r} not understood: expected a recording file (.db3/.bag), a TUM folder, "
                f"'realsense[:SERIAL]', or one of the schemes {', '.join(s + ':' for s in SCHEMES)}")
    module_name, func_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("depth3d"):
            raise ValueError(f"source {spec!r}: the {scheme!r} source is not available in this build") \
                from None
        raise
    return getattr(module, func_name)(rest, **options)
