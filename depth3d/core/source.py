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


def parse_source_spec(rest: str, options: dict[str, Any], allowed: dict[str, Any], scheme: str, forms: str,
                      context: str = "") -> tuple[str, dict[str, Any]]:
    """Split a source spec ``TARGET?key=value&...`` (what follows ``scheme:``) into (target, given options).

    ``given`` holds the query options updated by the keyword ``options`` (keywords win), values as given
    (strings from the query); the caller converts them and fills defaults. ``allowed`` names the known
    options (the unknown-option error lists them, ``context`` is added after the option's name there);
    ``forms`` lists the spec forms for the empty-target error.

    Raises InputError (a ValueError) for an unknown option or an empty target."""
    from urllib.parse import parse_qsl

    from depth3d.core.errors import InputError

    target, _, query = rest.partition("?")
    given: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    given.update(options)
    for k in given:
        if k not in allowed:
            raise InputError(f"{scheme} source: unknown option {k!r}{context}; expected one of {sorted(allowed)}")
    if not target:
        raise InputError(f"{scheme} source: expected {forms}")
    return target, given


class SuppliedSource(Source):
    """A finite source that turns captures supplied frame by frame into depth frames (ToF, structured light).

    Subclasses implement the supplier hooks ``_open`` (open the target, fill intrinsics), ``_close`` and
    ``_count`` (frames, None if unknown), and :meth:`read`, which starts with :meth:`_check_started` and
    advances ``_i`` (the next capture's position). ``scheme`` prefixes the not-started error. Frames are in
    metres (``depth_scale`` 1.0).
    """

    scheme = "source"

    def __init__(self, target: str, opts: dict[str, Any]) -> None:
        super().__init__()
        self.target = target
        self.opts = opts
        self._i = 0
        self._open_now = False

    # subclass hooks
    def _open(self) -> None:
        raise NotImplementedError

    def _close(self) -> None: ...

    def _count(self) -> int | None:
        return None

    def _info(self) -> dict[str, Any]:
        """Entries of :attr:`info` between ``options`` and ``frame_count`` (none by default)."""
        return {}

    def start(self) -> None:
        self._open()
        self.depth_scale = 1.0
        self._i = 0
        self._open_now = True

    def stop(self) -> None:
        self._open_now = False
        self._close()

    def _check_started(self) -> None:
        if not self._open_now:
            raise SourceError(f"{self.scheme} source: not started (use it as a context manager or call start())")

    @property
    def frame_count(self) -> int | None:
        return self._count()

    @property
    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "options": dict(self.opts), **self._info(),
                "frame_count": self.frame_count}
