"""Record any RGB-D source into a librealsense recording (ROS2 ``.db3``, what pyrealsense2 2.59 writes).

Frames are fed through an ``rs.software_device`` (one depth sensor, one colour sensor, optional infrared
streams) wrapped by ``rs.recorder``, so the file is a genuine librealsense recording: the RealSense
Viewer, ``rs-convert`` and :func:`depth3d.capture.playback.open_recording` open it.

What round-trips bit-exactly through :class:`Recorder` and :mod:`depth3d.capture.playback`:

* uint16 depth values and RGB colour (librealsense stores them losslessly);
* intrinsics, depth units and the depth-to-colour extrinsics: librealsense stores them as float32 (depth
  units even as 6-decimal text), so the exact float64 values are also written as JSON into the device
  info (``physical_port = "depth3d:{...}"``) and depth3d's playback uses those; other tools see the
  usual float32 stream intrinsics;
* frame numbers (``RGBDFrame.index``) and frame order;
* timestamps in seconds, exactly: the librealsense timestamp (milliseconds) is written as usual, and the
  float64 bits of the seconds go into the ``frame_timestamp`` metadata of depth3d-made files
  (marked by ``product_line = "depth3d:<sensor>"`` in the device info).

Message times: librealsense stamps each message with the moment it was written (nanoseconds since the
recorder started), which is not the frame's time (a fast source writes 2 s of frames in 0.5 s; a slow one
the other way round). :meth:`Recorder.close` therefore rewrites every image message's time to its frame's
own timestamp, relative to the first frame (``(t - t0)`` in ns; a time that goes back is held at the
latest so far, so the replay order stays the recording order), in one SQLite transaction (all or nothing:
a crash during the rewrite leaves the write-time stamps, never a mix). Duration and seeking then follow
frame time. The stream profiles carry the source's frame rate (``fps``).

Readers and writers: while a recording is written, ``.NAME.recording`` (the writer's process id) exists
beside it (:func:`recording_marker`); depth3d's playback and ``info`` refuse to open such a file while that
process lives (even a read-only SQLite reader takes a shared lock, and librealsense's writer loses the
frames whose commit meets one).

Finalising and crashes: the file is written in place (not through a temporary file) so that a recording
cut short by a crash still holds every frame written so far; :meth:`Recorder.close` flushes and closes it,
and runs on ``with`` exit (Ctrl-C and exceptions such as a lost camera included) and at interpreter exit.
:meth:`Recorder.add_frame` returns only once librealsense has written the frame (its writer thread is
flushed), so "written so far" means every frame whose ``add_frame`` returned. librealsense's SQLite writer
cannot be configured (no journal on disk, no fsync, one transaction per message): a process killed while
SQLite writes a transaction can leave the file's B-tree half-updated ("database disk image is
malformed"). The file's rows are still there, and depth3d's playback recovers them: see
:mod:`depth3d.capture.repair` (every frame before the kill is played from a repaired copy in the cache;
the original file is left as it is). A power loss can lose what the OS had not yet written to disk.
"""

from __future__ import annotations

import atexit
import math
import os
import sqlite3
import json
import struct
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from depth3d.capture._rs import import_rs, ms_for_seconds, pose_to_extrinsics, stop_and_close
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


def recording_marker(path: str | Path) -> Path:
    """The file that exists beside a ``.db3`` while a :class:`Recorder` writes it (``.NAME.recording``,
    holding the writer's process id); readers refuse to open the file while that process lives."""
    path = Path(path)
    return path.with_name(f".{path.name}.recording")


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
        fps: the source's frame rate (frames per second), written into the stream profiles (rounded to
            an integer, at least 1: librealsense stores it as one).
        depth_scale: metres per unit for float depth input.
        name: device name stored in the file's device info.
    """

    def __init__(self, path: str | Path, fps: float = 30, depth_scale: float | None = None,
                 name: str = "depth3d software camera") -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".db3":
            raise ValueError(f"recording {self.path}: expected a .db3 file name (pyrealsense2 2.59 writes "
                             "ROS2 .db3 recordings)")
        if not self.path.parent.exists():
            raise FileNotFoundError(f"recording {self.path}: folder {self.path.parent} does not exist")
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise ValueError(f"recording {self.path}: fps must be a positive number, got {fps!r}")
        self.fps = max(1, int(round(fps)))
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
        # librealsense keeps intrinsics as float32 and option values as 6-decimal text: the exact float64
        # values go into the device info as JSON, read back by depth3d's playback
        exact = {"depth_scale": self._depth_scale, "depth_intrinsics": di.to_dict(),
                 "color_intrinsics": (frame.color_intrinsics or di).to_dict() if frame.color is not None else None,
                 "depth_to_color": frame.depth_to_color.to_list()}
        dev.register_info(rs.camera_info.physical_port, "depth3d:" + json.dumps(exact, separators=(",", ":")))
        marker = recording_marker(self.path)
        marker.write_text(str(os.getpid()))
        self._marker = marker
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
            # librealsense writes on its own thread, from an unbounded queue: a fast source runs seconds
            # ahead of the file, and a killed process loses all that is queued. pause() returns once that
            # queue is written (it flushes the writer thread); resume() continues at once. So a frame is
            # in the file (committed to the OS) when add_frame returns.
            self._recorder.pause()
            self._recorder.resume()
            self.frames_written += 1

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Stop the sensors and close the file (safe to call twice; the file replays afterwards)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            stop_and_close(self._sensors)
            self._sensors.clear()
            self._profiles.clear()
            self._depth_sensor = self._color_sensor = None
            rec, self._recorder = self._recorder, None
            self._dev = None
            del rec  # the recorder's destructor writes and closes the file
            import gc

            gc.collect()
            _OPEN.discard(self)
            try:
                if self.frames_written:
                    retime_messages(self.path)
            finally:
                marker = getattr(self, "_marker", None)
                if marker is not None:
                    marker.unlink(missing_ok=True)

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


_FRAME_TS = b"Frame Timestamp="


def retime_messages(path: str | Path) -> int:
    """Set each image message's time to its frame's own timestamp (a finished depth3d ``.db3``).

    Reads the exact seconds that :class:`Recorder` stores in each frame's metadata message
    (``Frame Timestamp`` = float64 bits), and gives the data, metadata and camera-info messages of that
    frame the time ``round((t - t0) * 1e9)`` ns, ``t0`` the first frame's time (never decreasing in write
    order). One transaction: the
    table is either fully rewritten or untouched. Returns the number of messages changed."""
    con = sqlite3.connect(str(path), timeout=10.0, isolation_level=None)
    try:
        topics = dict(con.execute("SELECT id, name FROM topics").fetchall())
        groups: dict[str, list[int]] = {}
        for tid, name in topics.items():
            if "/image/" in name:
                groups.setdefault(name.split("/image/")[0], []).append(tid)
        # the messages of one frame of one stream are written one after the other with one write time
        # (image data, metadata, camera info): group each stream's messages by runs of equal time in
        # write order (message id; librealsense's write times are not monotonic across pause/resume)
        groups_by_first: list[tuple[int, float, list[int]]] = []
        for prefix, tids in groups.items():
            q = (f"SELECT m.id, m.timestamp, m.topic_id, m.data FROM messages m WHERE m.topic_id IN "
                 f"({','.join('?' * len(tids))}) ORDER BY m.id")
            run: list[int] = []
            run_ts = None
            run_t = math.nan

            def flush() -> None:
                if run and math.isfinite(run_t):
                    groups_by_first.append((run[0], run_t, list(run)))

            for mid, ts, tid, data in con.execute(q, tids):
                if ts != run_ts:
                    flush()
                    run, run_ts, run_t = [], ts, math.nan
                run.append(mid)
                if topics[tid].endswith("/image/metadata"):
                    data = bytes(data)
                    i = data.find(_FRAME_TS)
                    if i >= 0:
                        try:
                            run_t = bits_to_seconds(int(data[i + len(_FRAME_TS):data.find(b";", i)]))
                        except ValueError:
                            pass
            flush()
        if not groups_by_first:
            return 0
        # in write order; times that go back (a source whose clock jumped) are held at the latest time so
        # far: playback order stays the recording order
        groups_by_first.sort()
        t0 = groups_by_first[0][1]
        latest = 0
        updates = []
        for _, t, ids in groups_by_first:
            latest = max(latest, int(round((t - t0) * 1e9)))
            updates.extend((latest, mid) for mid in ids)
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany("UPDATE messages SET timestamp = ? WHERE id = ?", updates)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return len(updates)
    finally:
        con.close()


def record_source(source, path: str | Path, max_frames: int | None = None, **options: Any) -> int:
    """Record every frame of an open-able ``source`` (a :class:`~depth3d.capture.source.Source` or an
    iterable of frames) into ``path``; returns the number of frames written."""
    with Recorder(path, **options) as rec:
        for i, frame in enumerate(source):
            if max_frames is not None and i >= max_frames:
                break
            rec.add_frame(frame)
        return rec.frames_written
