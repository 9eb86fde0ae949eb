"""The frame-source interface: :class:`Source` (an iterator of RGB-D frames) and :class:`SourceError`.

It lives in ``core`` rather than ``capture`` so that every package that implements a source (``capture``
for cameras, recordings and folders; ``stereo``, ``tof``, ``structured_light`` for their sensors; ``sim``
for the simulated ones) depends only on ``core`` for the interface, and none of them on another. Choosing a
source from a spec string (``open_source("sim:room")``) is :mod:`depth3d.capture.source`'s job.
"""

from __future__ import annotations

import abc
from typing import Any, Iterator

from depth3d.core.errors import Depth3DError
from depth3d.core.frame import RGBDFrame
from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose


class SourceError(Depth3DError, RuntimeError):
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
