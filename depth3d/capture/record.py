"""Record any RGB-D source into a librealsense recording (ROS2 ``.db3``, what pyrealsense2 2.59 writes).

Frames are fed through an ``rs.software_device`` (one depth sensor, one colour sensor, optional infrared
streams) wrapped by ``rs.recorder``, so the file is a genuine librealsense recording: the RealSense
Viewer, ``rs-convert`` and :func:`depth3d.capture.playback.open_recording` open it.

What round-trips bit-exactly through :class:`Recorder` and :mod:`depth3d.capture.playback`:

* uint16 depth values and RGB colour (librealsense stores them losslessly);
* intrinsics and depth units *as float32* (librealsense's storage type; a RealSense camera's own
  values are float32 already; other sources' float64 values come back rounded to float32);
* the depth-to-colour extrinsics (float32), frame numbers (``RGBDFrame.index``), frame order;
* timestamps in seconds, exactly: the librealsense timestamp (milliseconds) is written as usual, and the
  float64 bits of the seconds go into the ``frame_timestamp`` metadata of depth3d-made files
  (marked by ``product_line = "depth3d:<sensor>"`` in the device info).

Finalising: the file is written in place (not through a temporary file) so that a recording cut short by
a crash still holds every frame written so far; :meth:`Recorder.close` flushes and closes it, and runs on
``with`` exit (Ctrl-C and exceptions such as a lost camera included) and at interpreter exit.
"""

from __future__ import annotations

import atexit
import struct
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from depth3d.capture._rs import import_rs, ms_for_seconds, pose_to_extrinsics
from depth3d.core.frame import RGBDFrame
from depth3d.core.intrinsics import Intrinsics

_OPEN: "weakref.WeakSet[Recorder]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # pragma: no cover - exercised by the subprocess tests
    for rec in list(_OPEN):
        try:
            rec.close()
        except Exception:
            pass


def seconds_to_bits(t: float) -> int:
    """float64 seconds -> the int64 with the same bits (stored in frame metadata)."""
    return struct.unpack("<q", struct.pack("<d", float(t)))[0]


def bits_to_seconds(b: int) -> float:
    """Inverse of :func:`seconds_to_bits`."""
    return struct.unpack("<d", struct.pack("<q", int(b)))[0]


class Recorder:
    """Write :class:`~depth3d.core.frame.RGBDFrame` s into a librealsense ``.db3`` recording.

    Usage::

        with Recorder("out.db3") as rec:
            for frame in source:
                rec.add_frame(frame)

    The streams are set up from the first frame (depth size, intrinsics, depth units, colour, extrinsics);
    later frames must have the same sizes. Float depth (metres) is stored as uint16 with ``depth_scale``
    (default: 0.001, i.e. millimetres); uint16 depth keeps the frame's own ``depth_scale``.
    Infrared images in ``frame.extras["infrared1"]`` / ``["infrared2"]`` ((H, W) uint8, depth size) are
    recorded as the infrared streams.

    Args:
        path: output ``.db3`` file (overwritten; a ``.bag`` name is refused, librealsense 2.59 writes ROS2).
        fps: nominal frame rate written into the stream profiles.
        depth_scale: metres per unit for float depth input.
        name: device name stored in the file's device info.
    """

    def __init__(self, path: str | Path, fps: int = 30, depth_scale: float | None = None,
                 name: str = "depth3d software camera") -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".db3":
            raise ValueError(f"recording {self.path}: expected a .db3 file name (pyrealsense2 2.59 writes "
                             "ROS2 .db3 recordings)")
        if not self.path.parent.exists():
            raise FileNotFoundError(f"recording {self.path}: folder {self.path.parent} does not exist")
        self.fps = int(fps)
        self.float_depth_scale = depth_scale
        self.name = name
        self.frames_written = 0
        self._lock = threading.Lock()
        self._rs = None
        self._dev = None
        self._recorder = None
        self._sensors: list[Any] = []
        self._profiles: dict[str, Any] = {}
        self._shape: tuple[int, int] | None = None
        self._color_shape: tuple[int, int] | None = None
        self._depth_scale: float | None = None
        self._closed = False

    # ------------------------------------------------------------------ set-up from the first frame
    def _video_stream(self, stype, index: int, uid: int, intr: Intrinsics, fmt, bpp: int):
        rs = self._rs
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid = stype, index, uid
        vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = intr.width, intr.height, self.fps, bpp, fmt
        vs.intrinsics = intr.to_realsense()
        return vs

    def _setup(self, frame: RGBDFrame) -> None:
        rs = self._rs = import_rs()
        if self.path.exists():
            self.path.unlink()
        dev = rs.software_device()
        dev.register_info(rs.camera_info.name, self.name)
        dev.register_info(rs.camera_info.serial_number, "0")
        dev.register_info(rs.camera_info.product_line, f"depth3d:{frame.sensor}")
        depth_sensor = dev.add_sensor("Stereo Module")
        di = frame.depth_intrinsics
        dp = depth_sensor.add_video_stream(self._video_stream(rs.stream.depth, 0, 0, di, rs.format.z16, 2))
        if frame.depth.dtype == np.uint16:
            scale = frame.depth_scale
        else:
            scale = self.float_depth_scale or 0.001
        self._depth_scale = float(scale)
        depth_sensor.add_read_only_option(rs.option.depth_units, float(scale))
        self._profiles["depth"] = dp
        self._sensors.append(depth_sensor)
        self._depth_sensor = depth_sensor
        self._shape = frame.depth.shape
        uid = 1
        for k, key in ((1, "infrared1"), (2, "infrared2")):
            ir = frame.extras.get(key)
            if isinstance(ir, np.ndarray) and ir.dtype == np.uint8 and ir.shape == frame.depth.shape:
                self._profiles[key] = depth_sensor.add_video_stream(
                    self._video_stream(rs.stream.infrared, k, uid, di, rs.format.y8, 1))
                uid += 1
        self._color_sensor = None
        if frame.color is not None:
            ci = frame.color_intrinsics or di
            color_sensor = dev.add_sensor("RGB Camera")
            cp = color_sensor.add_video_stream(self._video_stream(rs.stream.color, 0, uid, ci, rs.format.rgb8, 3))
            dp.register_extrinsics_to(cp, pose_to_extrinsics(frame.depth_to_color))
            cp.register_extrinsics_to(dp, pose_to_extrinsics(frame.depth_to_color.inverse()))
            self._profiles["color"] = cp
            self._sensors.append(color_sensor)
            self._color_sensor = color_sensor
            self._color_shape = frame.color.shape[:2]
        self._recorder = rs.recorder(str(self.path), dev)
        self._dev = dev
        depth_sensor.open([p for k, p in self._profiles.items() if k != "color"])
        depth_sensor.start(lambda f: None)
        if self._color_sensor is not None:
            self._color_sensor.open(self._profiles["color"])
            self._color_sensor.start(lambda f: None)
        _OPEN.add(self)

    # ------------------------------------------------------------------ writing
    def _push(self, sensor, key: str, pixels: np.ndarray, bpp: int, frame: RGBDFrame) -> None:
        rs = self._rs
        f = rs.software_video_frame()
        f.pixels = np.ascontiguousarray(pixels)
        f.stride = pixels.shape[1] * bpp
        f.bpp = bpp
        f.timestamp = ms_for_seconds(frame.timestamp)
        f.domain = rs.timestamp_domain.hardware_clock
        f.frame_number = int(frame.index)
        f.profile = self._profiles[key].as_video_stream_profile()
        sensor.set_metadata(rs.frame_metadata_value.frame_timestamp, seconds_to_bits(frame.timestamp))
        sensor.on_video_frame(f)

    def add_frame(self, frame: RGBDFrame) -> None:
        """Append one frame (depth, colour if the first frame had colour, infrared extras)."""
        if not isinstance(frame, RGBDFrame):
            raise TypeError(f"Recorder.add_frame expects an RGBDFrame, got {type(frame).__name__}")
        with self._lock:
            if self._closed:
                raise ValueError(f"recording {self.path} is already closed")
            if self._dev is None:
                self._setup(frame)
            if frame.depth.shape != self._shape:
                raise ValueError(f"recording {self.path}: frame {frame.index} depth is "
                                 f"{frame.depth.shape[::-1]} but the recording is {self._shape[::-1]}")
            depth = frame.depth
            if depth.dtype != np.uint16:
                d = depth.astype(np.float64) / self._depth_scale
                d = np.where(np.isfinite(d) & (d > 0) & (d <= 65535), np.rint(d), 0)
                depth = d.astype(np.uint16)
            self._push(self._depth_sensor, "depth", depth, 2, frame)
            for key in ("infrared1", "infrared2"):
                if key in self._profiles:
                    ir = frame.extras.get(key)
                    if isinstance(ir, np.ndarray) and ir.shape == self._shape and ir.dtype == np.uint8:
                        self._push(self._depth_sensor, key, ir, 1, frame)
            if self._color_sensor is not None:
                if frame.color is None:
                    raise ValueError(f"recording {self.path}: frame {frame.index} has no colour but the "
                                     "recording has a colour stream")
                if frame.color.shape[:2] != self._color_shape:
                    raise ValueError(f"recording {self.path}: frame {frame.index} colour size "
                                     f"{frame.color.shape[1::-1]} differs from {self._color_shape[::-1]}")
                self._push(self._color_sensor, "color", frame.color, 3, frame)
            self.frames_written += 1

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Stop the sensors and close the file (safe to call twice; the file replays afterwards)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for s in self._sensors:
                try:
                    s.stop()
                except Exception:
                    pass
                try:
                    s.close()
                except Exception:
                    pass
            self._sensors.clear()
            self._profiles.clear()
            self._depth_sensor = self._color_sensor = None
            rec, self._recorder = self._recorder, None
            self._dev = None
            del rec  # the recorder's destructor writes and closes the file
            import gc

            gc.collect()
            _OPEN.discard(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover
        try:
            self.close()
        except Exception:
            pass


def record_source(source, path: str | Path, max_frames: int | None = None, **options: Any) -> int:
    """Record every frame of an open-able ``source`` (a :class:`~depth3d.capture.source.Source` or an
    iterable of frames) into ``path``; returns the number of frames written."""
    with Recorder(path, **options) as rec:
        for i, frame in enumerate(source):
            if max_frames is not None and i >= max_frames:
                break
            rec.add_frame(frame)
        return rec.frames_written
