"""Play librealsense recordings (ROS2 ``.db3``; legacy ROS1 ``.bag`` converted once into a cache).

Playback runs with real time OFF: librealsense hands over every frame and waits for the consumer, so
nothing is dropped however slow the processing. Frames come back as :class:`~depth3d.core.frame.RGBDFrame`
(depth uint16 + depth units, colour RGB uint8 paired by frame number or nearest timestamp, infrared in
``extras``). Every wait has a timeout; a damaged file gives a clear error (or the frames that are intact,
for a file whose writer was killed), never a hang. Before librealsense opens a file it is checked
(:mod:`depth3d.capture.repair`): damaged frames are skipped and counted (``damaged``, ``info``), a file
whose SQLite structure was broken by a kill is salvaged, a cut-short recording is finished in a cached
copy; the original file is never modified.

    with open_recording("data/sample.db3") as src:
        print(src.frame_count, src.duration)
        for frame in src:
            ...
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import json
import logging
import os
import queue
import sqlite3
import threading
import time
import weakref
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from depth3d.capture._rs import extrinsics_to_pose, import_rs, stop_and_close
from depth3d.capture.record import bits_to_seconds
from depth3d.capture.source import Source, SourceError
from depth3d.core.frame import SENSORS, RGBDFrame
from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose

log = logging.getLogger(__name__)

_END = object()

#: librealsense objects whose stop/close thread outlived its timeout: kept alive (destroying a device
#: while one of its threads is inside it crashes the process) and waited for at interpreter exit
_BUSY: list[tuple[threading.Thread, tuple]] = []
_OPEN_SOURCES: "weakref.WeakSet[RecordingSource]" = weakref.WeakSet()


@atexit.register
def _teardown_at_exit() -> None:  # pragma: no cover - exercised by the subprocess tests
    """Stop every playing recording and wait (bounded) for librealsense threads still at work, before
    the interpreter tears pyrealsense2 down under them."""
    for src in list(_OPEN_SOURCES):
        try:
            src.stop()
        except Exception:
            pass
    for th, _keep in _BUSY:
        th.join(10.0)


def probe_recording(path: str | Path) -> dict[str, Any]:
    """Read a ``.db3`` recording's table of contents with SQLite, without librealsense.

    Returns ``{"topics": {topic: message count}, "depth_frames": int, "color_frames": int,
    "infrared_frames": int, "frames": ..., "playable": Path, "damaged_frames": int, "cut_frames": int,
    "repaired": bool, "unfinished": bool}``: the file is first checked by
    :func:`depth3d.capture.repair.check_recording`, and the counts are those of the file to play
    (``playable``: the original, or a repaired copy without the damaged frames). Raises
    FileNotFoundError / ValueError (naming the file) when the file is missing, not an SQLite database, damaged, or not a librealsense recording.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recording {path} does not exist")
    if _being_written(path):
        # even a read-only SQLite connection takes a shared lock, and librealsense's writer loses the
        # frames whose commit meets it: never touch a file that is being recorded
        raise ValueError(f"recording {path} is still being recorded (by process "
                         f"{_writer_pid(path)}); open it once the recording has finished")
    with open(path, "rb") as f:
        head = f.read(16)
    if head != b"SQLite format 3\x00":
        raise ValueError(f"recording {path} is not a librealsense .db3 recording (not an SQLite database: "
                         "random bytes, or a file of another kind)")
    from depth3d.capture.record import recording_marker
    from depth3d.capture.repair import check_recording

    checked = check_recording(path, unfinished=recording_marker(path).exists())
    original, path = path, checked.path
    try:
        con = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=2.0)
        try:
            rows = con.execute("SELECT t.name, COUNT(m.id) FROM topics t LEFT JOIN messages m "
                               "ON m.topic_id = t.id GROUP BY t.id").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"recording {original} is damaged ({exc}): the file was cut off or overwritten; "
                         "its frames cannot be read") from None
    topics = {name: int(n) for name, n in rows}
    if "/file_version" not in topics:
        raise ValueError(f"recording {original} is an SQLite file but not a librealsense recording "
                         "(no /file_version topic)")

    def count(kind: str) -> int:
        return sum(n for t, n in topics.items() if f"/{kind}_" in t and "/image/data" in t)

    return {"topics": topics, "depth_frames": count("Depth"), "color_frames": count("Color"),
            "infrared_frames": count("Infrared"), "frames": _frame_times(path), "playable": path,
            "damaged_frames": checked.damaged_frames, "cut_frames": checked.cut_frames,
            "repaired": checked.repaired, "unfinished": checked.unfinished,
            "damaged_numbers": set(checked.damaged_numbers), "notes": checked.notes}


#: a serialised sensor_msgs/CompressedImage holds a header (stamp, frame id) and a format string: far more
_MIN_IMAGE_MESSAGE = 32


def _kind_of_topic(name: str) -> str | None:
    for key, kind in (("/Depth_", "depth"), ("/Color_", "color"), ("/Infrared_1", "infrared1"),
                      ("/Infrared_2", "infrared2")):
        if key in name:
            return kind
    return None


def _frame_times(path: Path) -> dict[str, list[tuple[int, int]]]:
    """Per stream kind, the (message time ns, frame number) of every image message, in time order.

    Frame numbers come from the metadata message written beside each image (``Frame number=N``); -1
    where it is missing (a file cut off mid-frame)."""
    con = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=2.0)
    try:
        topics = dict(con.execute("SELECT id, name FROM topics").fetchall())
        numbers: dict[tuple[str, int], int] = {}
        out: dict[str, list[tuple[int, int]]] = {}
        for tid, name in topics.items():
            kind = _kind_of_topic(name)
            if kind is None or not name.endswith("/image/metadata"):
                continue
            for ts, data in con.execute("SELECT timestamp, data FROM messages WHERE topic_id = ?", (tid,)):
                data = bytes(data)
                i = data.find(b"Frame number=")
                if i >= 0:
                    j = data.find(b";", i)
                    try:
                        numbers[(kind, int(ts))] = int(data[i + 13:j])
                    except ValueError:
                        pass
        names = set(topics.values())
        for tid, name in topics.items():
            kind = _kind_of_topic(name)
            if kind is None or "/image/data" not in name:
                continue
            # librealsense trusts these messages: a stream without its description, or an image message
            # too short to hold an image header, makes its reader spin forever; refuse such files here
            stream = name.split("/image/")[0]
            missing = [t for t in (stream + "/info", stream + "/image/metadata") if t not in names]
            if missing:
                raise ValueError(f"recording {path} is damaged or incomplete: stream {stream} lacks "
                                 f"{', '.join(missing)}; librealsense cannot play it")
            rows = con.execute("SELECT timestamp, length(data) FROM messages WHERE topic_id = ? "
                               "ORDER BY timestamp, id", (tid,)).fetchall()
            short = sum(1 for _, n in rows if n < _MIN_IMAGE_MESSAGE)
            if short:
                raise ValueError(f"recording {path} is damaged: {short} image message(s) of {stream} are "
                                 f"shorter than {_MIN_IMAGE_MESSAGE} bytes (no image in them)")
            out.setdefault(kind, []).extend((int(ts), numbers.get((kind, int(ts)), -1)) for ts, _ in rows)
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"recording {path} is damaged ({exc}): its frames cannot be read") from None
    finally:
        con.close()
    for v in out.values():
        v.sort()
    return out


def _writer_pid(path: Path) -> int:
    from depth3d.capture.record import recording_marker

    try:
        return int(recording_marker(path).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _being_written(path: Path) -> bool:
    """True while a depth3d recorder (a live process) writes ``path``."""
    pid = _writer_pid(path)
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False  # the writer died: the file is what it is
    except PermissionError:
        pass
    return True


def bag_to_db3(path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Convert a legacy ROS1 ``.bag`` recording to ``.db3`` once (cached by path, size and mtime)."""
    rs = import_rs()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recording {path} does not exist")
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    cache = Path(cache_dir or os.environ.get("DEPTH3D_CACHE", Path.home() / ".cache" / "depth3d")) / "bag2db3"
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"{path.stem}-{key}.db3"
    if out.is_file():
        return out
    tmp = cache / f".{out.stem}.{os.getpid()}.tmp.db3"
    try:
        rs.context().convert_bag_to_db3(str(path), str(tmp))
    except RuntimeError as exc:
        tmp.unlink(missing_ok=True)
        raise ValueError(f"recording {path}: librealsense could not convert this .bag file ({exc})") from None
    os.replace(tmp, out)
    return out


def _call_with_timeout(fn, timeout: float, what: str, keep: tuple = ()):
    """Run ``fn()`` in a daemon thread; raise SourceError if it does not return within ``timeout`` s.

    ``keep``: objects that thread uses; on a timeout they are kept alive until the thread ends."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(timeout)
    if th.is_alive():
        _BUSY.append((th, keep))
        raise SourceError(f"{what} did not finish within {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class _Item:
    __slots__ = ("kind", "number", "ms", "seconds", "data")

    def __init__(self, kind: str, number: int, ms: float, seconds: float, data: np.ndarray) -> None:
        self.kind, self.number, self.ms, self.seconds, self.data = kind, number, ms, seconds, data


class RecordingSource(Source):
    """A librealsense recording as a :class:`~depth3d.capture.source.Source`.

    Args:
        path: ``.db3`` (or legacy ``.bag``) file.
        timeout: seconds to wait for librealsense at each step (opening, next frame) before giving up.
        infrared: also deliver infrared images (``extras["infrared1"/"infrared2"]``, (H, W) uint8).
        cache_dir: where converted ``.bag`` files are kept.
    """

    kind = "recording"

    def __init__(self, path: str | Path, *, timeout: float = 5.0, infrared: bool = True,
                 cache_dir: str | Path | None = None, **_: Any) -> None:
        super().__init__()
        self.path = Path(path)
        self.timeout = float(timeout)
        self.want_infrared = infrared
        self.cache_dir = cache_dir
        self._probe: dict[str, Any] | None = None
        self._q: queue.Queue = queue.Queue(maxsize=32)
        self._stopping = threading.Event()
        self._sensors: list[Any] = []
        self._buf: dict[str, collections.deque] = {}
        self._received: collections.Counter = collections.Counter()
        self._last_number: int | None = None
        self._last_in: dict[str, int] = {}
        #: frames dropped because their frame counter did not advance: a recording cut off mid-write
        #: (killed, power loss) can end in a frame whose metadata never reached the file (number 0, time 0)
        self._runtime_damaged = 0
        #: frames of the file found damaged before playing (skipped; see depth3d.capture.repair)
        self._file_damaged = 0
        self._exact_counts = True
        self._device_info: dict[str, str] = {}
        self.sensor_kind = "realsense"
        self._depth3d_file = False
        self._duration = 0.0
        self._t0_ns = 0
        self._wanted: set[tuple[str, int]] | None = None
        self._seen: set[tuple[str, int]] = set()
        self._expected: dict[str, int] | None = None

    @property
    def damaged(self) -> int:
        """Frames skipped because they are damaged: found by the check before playing, or delivered by
        librealsense with a frame counter that went back (metadata missing)."""
        return self._file_damaged + self._runtime_damaged

    # ------------------------------------------------------------------ opening
    def start(self) -> None:
        self._open(None)

    def _open(self, seek_ns: int | None) -> None:
        """Load the file into librealsense, open and start the sensors; with ``seek_ns`` the playback is
        moved there while paused, before any frame is delivered."""
        rs = import_rs()
        if not self.path.exists():
            raise FileNotFoundError(f"recording {self.path} does not exist")
        db3 = bag_to_db3(self.path, self.cache_dir) if self.path.suffix.lower() == ".bag" else self.path
        self._db3 = db3
        self._probe = probe_recording(db3)
        db3 = self._db3 = self._probe["playable"]
        self._file_damaged = int(self._probe["damaged_frames"])
        if self._probe["depth_frames"] == 0:
            raise ValueError(f"recording {self.path} holds no depth frames "
                             f"(streams: {sorted(t for t in self._probe['topics'] if '/image/data' in t) or 'none'})")

        def load():
            return rs.context().load_device(str(db3))

        try:
            dev = _call_with_timeout(load, self.timeout * 2, f"opening recording {self.path}")
        except RuntimeError as exc:
            if isinstance(exc, SourceError):
                raise
            raise ValueError(f"recording {self.path}: librealsense cannot open it ({exc})") from None
        self._dev = dev
        self._pb = dev.as_playback()
        self._pb.set_real_time(False)
        self._duration = self._frame_span()
        for key, info in (("name", rs.camera_info.name), ("serial", rs.camera_info.serial_number),
                          ("product_line", rs.camera_info.product_line),
                          ("firmware", rs.camera_info.firmware_version)):
            if dev.supports(info):
                self._device_info[key] = dev.get_info(info)
        pl = self._device_info.get("product_line", "")
        if pl.startswith("depth3d:"):
            self._depth3d_file = True
            kind = pl.split(":", 1)[1]
            self.sensor_kind = kind if kind in SENSORS else "file"
        exact: dict[str, Any] = {}
        if self._depth3d_file and dev.supports(rs.camera_info.physical_port):
            port = dev.get_info(rs.camera_info.physical_port)
            if port.startswith("depth3d:"):
                try:
                    exact = json.loads(port[len("depth3d:"):])
                except ValueError:
                    exact = {}
        depth_profile = color_profile = None
        self._kinds: set[str] = set()
        for sensor in dev.query_sensors():
            chosen = []
            for p in sensor.get_stream_profiles():
                st = p.stream_type()
                if st == rs.stream.depth and depth_profile is None:
                    depth_profile = p
                    chosen.append(p)
                    if sensor.supports(rs.option.depth_units):
                        self.depth_scale = float(sensor.get_option(rs.option.depth_units))
                elif st == rs.stream.color and color_profile is None:
                    color_profile = p
                    chosen.append(p)
                elif st == rs.stream.infrared and self.want_infrared and p.stream_index() in (1, 2) and \
                        f"infrared{p.stream_index()}" not in self._kinds:
                    chosen.append(p)
                    self._kinds.add(f"infrared{p.stream_index()}")
            if chosen:
                sensor.open(chosen)
                self._sensors.append(sensor)
        if depth_profile is None:
            raise ValueError(f"recording {self.path} has no depth stream")
        self._kinds.add("depth")
        self.depth_intrinsics = Intrinsics.from_realsense(depth_profile.as_video_stream_profile().get_intrinsics())
        self._depth_profile = depth_profile
        if color_profile is not None:
            self._kinds.add("color")
            self.color_intrinsics = Intrinsics.from_realsense(
                color_profile.as_video_stream_profile().get_intrinsics())
            self._color_format = color_profile.format()
            try:
                self.depth_to_color = extrinsics_to_pose(depth_profile.get_extrinsics_to(color_profile))
            except RuntimeError:
                self.depth_to_color = Pose.identity()
        self._fps = depth_profile.fps()
        self._apply_exact(exact)
        self._buf = {k: collections.deque() for k in self._kinds}
        self._ended = {k: False for k in self._kinds}
        # librealsense starts playing when the first sensor starts: pause so that no stream loses its
        # first frames while the others are still being started
        self._pb.pause()
        for sensor in self._sensors:
            sensor.start(self._callback)
        if seek_ns is not None:
            self._pb.seek(timedelta(microseconds=seek_ns / 1000.0))
            self._drain()
        self._pb.resume()
        _OPEN_SOURCES.add(self)

    def _drain(self) -> None:
        while True:
            try:
                self._q.get_nowait()
            except queue.Empty:
                break

    def _frame_span(self) -> float:
        """(first, last) image message time in ns -> duration in s. Only image messages count: a file whose
        static messages sit at time 0 and frames at wall-clock epoch times is not 50 years long."""
        times = [ts for v in self._probe["frames"].values() for ts, _ in v]
        if not times:
            return 0.0
        self._t0_ns = min(times)
        return (max(times) - self._t0_ns) / 1e9

    def _apply_exact(self, exact: dict[str, Any]) -> None:
        """Use the float64 values a depth3d recorder stored, where they agree with the float32 streams."""
        from depth3d.capture._rs import f32, intrinsics_f32

        try:
            if exact.get("depth_scale") is not None and abs(f32(exact["depth_scale"]) - self.depth_scale) <= \
                    1e-6 * max(self.depth_scale, 1e-9) + 5e-7:
                self.depth_scale = float(exact["depth_scale"])
            di = exact.get("depth_intrinsics")
            if di is not None:
                di = Intrinsics.from_dict(di)
                if intrinsics_f32(di) == self.depth_intrinsics:
                    self.depth_intrinsics = di
            ci = exact.get("color_intrinsics")
            if ci is not None and self.color_intrinsics is not None:
                ci = Intrinsics.from_dict(ci)
                if intrinsics_f32(ci) == self.color_intrinsics:
                    self.color_intrinsics = ci
            if exact.get("depth_to_color") is not None and self.color_intrinsics is not None:
                pose = Pose.from_list(exact["depth_to_color"])
                if np.allclose(pose.matrix, self.depth_to_color.matrix, atol=1e-5):
                    self.depth_to_color = pose
        except (ValueError, TypeError, KeyError):
            pass  # a foreign or damaged note: keep librealsense's float32 values

    # ------------------------------------------------------------------ frames in (librealsense thread)
    def _callback(self, f) -> None:
        rs = self._rs_mod()
        try:
            p = f.get_profile()
            st = p.stream_type()
            if st == rs.stream.depth:
                kind = "depth"
            elif st == rs.stream.color:
                kind = "color"
            else:
                kind = f"infrared{p.stream_index()}"
            data = np.asanyarray(f.get_data()).copy()
            ms = f.get_timestamp()
            seconds = ms / 1000.0
            if self._depth3d_file and f.supports_frame_metadata(rs.frame_metadata_value.frame_timestamp):
                seconds = bits_to_seconds(f.get_frame_metadata(rs.frame_metadata_value.frame_timestamp))
            if kind == "color":
                data = self._to_rgb(data, p.format())
            item = _Item(kind, int(f.get_frame_number()), ms, seconds, data)
        except Exception as exc:  # never let an exception escape into librealsense
            item = exc
        while not self._stopping.is_set():  # blocking put: back-pressure on the non-real-time playback
            try:
                self._q.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    @staticmethod
    def _rs_mod():
        import pyrealsense2 as rs

        return rs

    def _to_rgb(self, data: np.ndarray, fmt) -> np.ndarray:
        rs = self._rs_mod()
        if fmt == rs.format.rgb8:
            return data
        if fmt == rs.format.bgr8:
            return np.ascontiguousarray(data[..., ::-1])
        if fmt == rs.format.rgba8:
            return np.ascontiguousarray(data[..., :3])
        if fmt == rs.format.bgra8:
            return np.ascontiguousarray(data[..., 2::-1])
        if fmt == rs.format.yuyv:
            import cv2

            return cv2.cvtColor(data.reshape(data.shape[0], -1, 2), cv2.COLOR_YUV2RGB_YUYV)
        raise ValueError(f"recording {self.path}: colour format {fmt} is not supported")

    # ------------------------------------------------------------------ frames out
    def _all_received(self) -> bool:
        if not self._exact_counts or self._probe is None:
            return False
        p = self._probe
        if self._expected is not None:
            return all(self._received[k] >= n for k, n in self._expected.items())
        return (self._received["depth"] >= p["depth_frames"]
                and ("color" not in self._kinds or self._received["color"] >= p["color_frames"]))

    def _pull(self, wait: float) -> bool:
        """Move one item from the librealsense queue into the buffers; False when nothing came."""
        try:
            item = self._q.get(timeout=wait)
        except queue.Empty:
            return False
        if isinstance(item, Exception):
            raise SourceError(f"recording {self.path}: {item}")
        if self._wanted is not None:  # after a seek: only the frames at or after the seek time, once each
            key = (item.kind, item.number)
            if key not in self._wanted or key in self._seen:
                return True
            self._seen.add(key)
        self._received[item.kind] += 1
        last = self._last_in.get(item.kind)
        if last is not None and item.number <= last:
            self._runtime_damaged += 1
            log.warning("recording %s: dropped a %s frame whose frame counter went back (%d after %d): "
                        "its metadata is missing, the file was cut off mid-write", self.path, item.kind,
                        item.number, last)
            return True
        self._last_in[item.kind] = item.number
        self._buf[item.kind].append(item)
        return True

    def _stream_done(self) -> bool:
        """True when the file is played to the end and every delivered frame is buffered."""
        if self._all_received():
            return True
        rs = self._rs_mod()
        if self._pb.current_status() != rs.playback_status.stopped:
            return False
        # stopped: give the dispatch threads a moment to hand over what they still hold
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            if self._pull(0.05):
                deadline = time.monotonic() + 0.3
        return True

    def _match(self, kind: str, d: _Item, done: bool) -> tuple[bool, _Item | None]:
        """(ready, item) for stream ``kind`` to pair with depth item ``d``; does not touch the buffers."""
        buf = self._buf[kind]
        if kind.startswith("infrared") or self._depth3d_file:  # same frame counter as depth
            for it in buf:
                if it.number == d.number:
                    return True, it
            if done or any(it.number > d.number for it in buf):
                return True, None
            return False, None
        # independent clocks: nearest timestamp, once a frame at or after the depth time is buffered
        if not buf:
            return done, None
        if buf[-1].ms < d.ms and not done:
            return False, None
        return True, min(buf, key=lambda it: abs(it.ms - d.ms))

    def _consume(self, kind: str, d: _Item, it: _Item | None) -> None:
        """Drop the frames of ``kind`` that can no longer pair with a later depth frame."""
        buf = self._buf[kind]
        if kind.startswith("infrared") or self._depth3d_file:
            while buf and (buf[0].number <= d.number):
                buf.popleft()
        elif it is not None:
            while buf and buf[0] is not it:  # the chosen one stays: the next depth frame may pair with it
                buf.popleft()

    def read(self, timeout: float | None = None) -> RGBDFrame | None:
        """Next frame in recording order, or None at the end of the file.

        Raises SourceError if librealsense delivers nothing for ``timeout`` seconds (default: the
        source's ``timeout``) while the file is not finished."""
        if not self._sensors:
            raise SourceError(f"recording {self.path} is not started (use it in a `with` block)")
        timeout = self.timeout if timeout is None else timeout
        last_progress = time.monotonic()
        done = False
        while True:
            depth_buf = self._buf["depth"]
            if depth_buf:
                d = depth_buf[0]
                parts: dict[str, _Item | None] = {}
                ready = True
                for kind in self._kinds - {"depth"}:
                    ok, it = self._match(kind, d, done)
                    if not ok:
                        ready = False
                        break
                    parts[kind] = it
                if ready:
                    depth_buf.popleft()
                    for kind, it in parts.items():
                        self._consume(kind, d, it)
                    return self._make_frame(d, parts)
            elif done:
                return None
            if self._pull(0.05):
                last_progress = time.monotonic()
                continue
            if self._stream_done():
                done = True
                continue
            if time.monotonic() - last_progress > timeout:
                raise SourceError(f"recording {self.path}: no frame from librealsense within {timeout:.1f} s "
                                  f"(status {self._pb.current_status()}); the file may be damaged")

    def _make_frame(self, d: _Item, parts: dict[str, _Item | None]) -> RGBDFrame:
        if self._last_number is not None and d.number > self._last_number + 1:
            gap = range(self._last_number + 1, d.number)
            skipped = self._probe.get("damaged_numbers", set()) if self._probe else set()
            self.dropped += sum(1 for n in gap if n not in skipped)  # damaged frames count as damaged
        self._last_number = d.number
        c = parts.get("color")
        extras: dict[str, Any] = {"frame_number": d.number, "timestamp_ms": d.ms}
        for k in ("infrared1", "infrared2"):
            if parts.get(k) is not None:
                extras[k] = parts[k].data
        if c is not None:
            extras["color_timestamp"] = c.seconds
        return RGBDFrame(depth=d.data, depth_intrinsics=self.depth_intrinsics,
                         color=None if c is None else c.data,
                         color_intrinsics=self.color_intrinsics if c is not None else None,
                         depth_to_color=self.depth_to_color if c is not None else Pose.identity(),
                         depth_scale=self.depth_scale, timestamp=d.seconds, index=d.number,
                         sensor=self.sensor_kind, extras=extras)

    # ------------------------------------------------------------------ seeking, info, stopping
    def seek(self, seconds: float) -> None:
        """Jump to ``seconds`` after the first frame: the frames whose recorded time is at or after it
        follow (every stream), in order, each once.

        librealsense's own seek skips the first message at or after the seek time (and frames already in
        flight may still arrive), so the playback is moved to the last image message before the target
        and the frames before the target, and repeats, are dropped here: the result does not depend on
        timing. Raises ValueError outside ``0 .. duration``."""
        import math

        if not self._sensors:
            raise SourceError(f"recording {self.path} is not started")
        if not (isinstance(seconds, (int, float)) and math.isfinite(seconds)) or \
                not 0 <= seconds <= self._duration + 1e-9:
            raise ValueError(f"seek to {seconds} s is outside the recording (0 .. {self._duration:.3f} s)")
        target = self._t0_ns + int(round(seconds * 1e9))
        frames = {k: v for k, v in self._probe["frames"].items() if k in self._kinds}
        wanted = {(k, n) for k, v in frames.items() for ts, n in v if ts >= target and n >= 0}
        before = [ts for v in self._probe["frames"].values() for ts, _ in v if ts < target]
        self._shutdown()
        self._stopping.clear()
        self._drain()
        self._wanted, self._seen = wanted, set()
        self._expected = collections.Counter(k for k, _ in wanted)
        self._received.clear()
        self._last_number = None
        self._last_in.clear()
        self._open(max(before) if before else 0)

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame (image message times; for depth3d recordings these
        are the frames' own timestamps)."""
        return self._duration

    @property
    def frame_count(self) -> int | None:
        if self._probe is None:
            self._probe = probe_recording(self.path if self.path.suffix.lower() == ".db3"
                                          else bag_to_db3(self.path, self.cache_dir))
        return int(self._probe["depth_frames"])

    @property
    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "path": str(self.path), **self._device_info}
        if self.damaged:
            out["damaged_frames"] = self.damaged
        if self._probe is not None:
            out.update(frames=self._probe["depth_frames"], color_frames=self._probe["color_frames"],
                       infrared_frames=self._probe["infrared_frames"])
            if self._probe.get("repaired"):
                out["repaired"] = "; ".join(self._probe.get("notes") or ["played from a repaired copy"])
            if self._probe.get("unfinished"):
                out["cut_short"] = True
                if self._probe.get("cut_frames"):
                    out["cut_frames"] = self._probe["cut_frames"]
        if self.depth_intrinsics is not None:
            out.update(depth=f"{self.depth_intrinsics.width}x{self.depth_intrinsics.height}",
                       fps=getattr(self, "_fps", None), duration_s=self._duration, depth_scale=self.depth_scale,
                       streams=sorted(getattr(self, "_kinds", ())))
        return out

    def _shutdown(self) -> None:
        """Stop and close the sensors (bounded by the timeout); the device can be loaded again."""
        self._stopping.set()
        sensors, self._sensors = self._sensors, []

        def shutdown() -> None:
            stop_and_close(sensors)

        finished = False
        try:
            # the device, playback and sensors stay referenced while the thread may still use them
            _call_with_timeout(shutdown, self.timeout, f"closing recording {self.path}",
                               keep=(self._dev, self._pb, list(sensors)))
            finished = True
        finally:
            _OPEN_SOURCES.discard(self)
            while True:
                try:
                    self._q.get_nowait()
                except queue.Empty:
                    break
            # release in order: sensors, playback, device. A sensor released after its device calls
            # into the destroyed device ("pure virtual method called", SIGABRT/SIGSEGV; seen once in
            # 89 `stream --record` runs when the function's local list of sensors outlived the device)
            if finished:
                sensors.clear()
                shutdown = None  # noqa: F841 - the closure held the list too
            self._pb = None
            self._dev = None

    def stop(self) -> None:
        self._shutdown()



def open_recording(rest: str, **options: Any) -> RecordingSource:
    """Source for a librealsense recording ``rest`` (a ``.db3`` or ``.bag`` path); options go to
    :class:`RecordingSource` (``timeout``, ``infrared``, ``cache_dir``)."""
    return RecordingSource(rest, **options)


def describe_recording(path: str | Path) -> dict[str, Any]:
    """What a recording holds (for ``depth3d info``): device, streams, sizes, frame counts, duration."""
    with RecordingSource(path) as src:
        d = {"kind": "librealsense recording", **src.info}
    d.pop("path", None)
    if src.depth_intrinsics is not None:
        d["depth_intrinsics"] = src.depth_intrinsics.to_dict()
    if src.color_intrinsics is not None:
        d["color_intrinsics"] = src.color_intrinsics.to_dict()
    return d
