"""Stereo sources for ``open_source("stereo:...")``: cameras, image folders, RealSense IR pairs, simulator.

Spec forms (``rest`` is what follows ``stereo:``; options as ``?key=value&...`` or keyword arguments):

==========================================================  =====================================================
``folder?left=DIR/left*.png&right=DIR/right*.png&calib=F``  recorded left/right image folders (sorted, paired)
``uvc?left=0&right=1&calib=F[&sync_ms=15]``                 two UVC cameras (OpenCV capture)
``sbs?device=0&calib=F``                                    one side-by-side camera (left half | right half)
``realsense[?serial=S&width=848&height=480&fps=30]``        a RealSense's two IR streams (already rectified)
``sim[?frames=10&hfov=87&mode=ir&seed=0]``                  the virtual stereo sensor (exact depth in extras),
                                                            :mod:`depth3d.sim.stereo_source`
==========================================================  =====================================================

The kinds of this module are entries of :data:`STEREO_KINDS`; ``stereo:sim`` (and a bare ``stereo:``) is
routed to the simulator package by :func:`depth3d.capture.source.open_source`, since the simulator sits above
the sensor packages.

Every frame: ``depth`` float32 metres (calibration units) in the rectified left camera, ``color`` the
rectified left image as RGB (grey replicated), ``sensor="stereo"``; ``extras`` holds ``disparity``,
``left_rect``/``right_rect`` and, per source, ``device_depth`` (RealSense) or ``gt_depth`` (sim).
Options shared by all: ``method`` (sgbm/bm), ``num_disparities``, ``subpixel`` (iterations), ``max_depth``.
"""

from __future__ import annotations

import glob
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qsl

import numpy as np

from depth3d.core.errors import InputError
from depth3d.core.frame import RGBDFrame
from depth3d.core.registry import Registry
from depth3d.core.source import Source, SourceError
from depth3d.stereo.calibration import StereoCalibration, load_calibration


class StereoSource(Source):
    """Base of stereo sources: subclasses implement ``_open``, ``_close`` and ``_grab`` (a raw pair)."""

    kind = "stereo"

    def __init__(self, calib: StereoCalibration | str | None = None, rectified: bool = False, raw: bool = False,
                 method: str = "sgbm", num_disparities: int | None = None, subpixel: int = 1,
                 max_depth: float | None = None, **unknown: Any) -> None:
        super().__init__()
        if unknown:
            raise InputError(f"stereo source: unknown option(s) {', '.join(sorted(unknown))}")
        self._calib_arg = calib
        self.rectified = rectified
        self.raw = raw
        self._matcher_opts = dict(method=method, num_disparities=None if num_disparities is None else
                                  int(num_disparities), subpixel=int(subpixel))
        self.max_depth = None if max_depth is None else float(max_depth)
        self.pipeline = None
        self.calib: StereoCalibration | None = None
        self._index = 0

    # subclass hooks
    def _open(self) -> None: ...

    def _close(self) -> None: ...

    def _grab(self, timeout: float) -> tuple[np.ndarray, np.ndarray, float] | None:
        raise NotImplementedError

    def _extras(self) -> dict[str, Any]:
        return {}

    def start(self) -> None:
        from depth3d.stereo.matching import MatcherConfig
        from depth3d.stereo.pipeline import StereoPipeline

        # the calibration is loaded and checked before any device or image is opened
        if isinstance(self._calib_arg, (str, Path)):
            self.calib = load_calibration(self._calib_arg)
        elif self._calib_arg is not None:
            self.calib = self._calib_arg
        self._open()
        if self.raw:
            return
        if self.calib is None:
            raise InputError(f"{type(self).__name__}: a calibration is needed (calib=FILE)")
        self.pipeline = StereoPipeline(self.calib, MatcherConfig(**self._matcher_opts), max_depth=self.max_depth,
                                       rectify=not self.rectified)
        self.depth_intrinsics = self.pipeline.intrinsics
        self.color_intrinsics = self.pipeline.intrinsics

    def stop(self) -> None:
        self._close()

    def pairs(self) -> Iterator[tuple[np.ndarray, np.ndarray, float]]:
        """Raw (unrectified) pairs with timestamps (seconds), without matching."""
        if not self._started:
            self.__enter__()
        while True:
            p = self._grab(5.0)
            if p is None:
                return
            yield p

    def read(self, timeout: float = 5.0) -> RGBDFrame | None:
        import cv2

        pair = self._grab(timeout)
        if pair is None:
            return None
        left, right, ts = pair
        if self.pipeline is None:
            raise SourceError("stereo source opened with raw=True yields pairs() only")
        if self.calib is not None and (left.shape[1], left.shape[0]) != tuple(self.calib.image_size):
            raise SourceError(f"stereo source: images are {left.shape[1]}x{left.shape[0]} but the calibration "
                              f"is for {self.calib.image_size[0]}x{self.calib.image_size[1]}")
        res = self.pipeline(left, right, cloud=False)
        lr = res.left_rect
        color = cv2.cvtColor(lr, cv2.COLOR_GRAY2RGB) if lr.ndim == 2 else cv2.cvtColor(lr, cv2.COLOR_BGR2RGB)
        extras = {"disparity": res.disparity, "left_rect": res.left_rect, "right_rect": res.right_rect}
        extras.update(self._extras())
        frame = RGBDFrame(depth=res.depth, depth_intrinsics=self.depth_intrinsics, color=color,
                          color_intrinsics=None, depth_scale=1.0, timestamp=ts, index=self._index,
                          sensor="stereo", extras=extras)
        self._index += 1
        return frame


class FolderStereoSource(StereoSource):
    """Recorded left/right images (glob patterns, paired in sorted order)."""

    def __init__(self, left: str, right: str, fps: float = 30.0, **kw: Any) -> None:
        super().__init__(**kw)
        self.left_files = sorted(glob.glob(str(left)))
        self.right_files = sorted(glob.glob(str(right)))
        if not self.left_files:
            raise FileNotFoundError(f"stereo folder source: no file matches left={left!r}")
        if len(self.left_files) != len(self.right_files):
            raise InputError(f"stereo folder source: {len(self.left_files)} left images ({left!r}) but "
                             f"{len(self.right_files)} right images ({right!r})")
        self.fps = float(fps)
        self._i = 0

    @property
    def frame_count(self) -> int:
        return len(self.left_files)

    @property
    def info(self) -> dict[str, Any]:
        return {"kind": "stereo-folder", "frames": len(self.left_files), "left": self.left_files[0]}

    def _grab(self, timeout: float):
        import cv2

        if self._i >= len(self.left_files):
            return None
        lf, rf = self.left_files[self._i], self.right_files[self._i]
        left, right = cv2.imread(lf, cv2.IMREAD_UNCHANGED), cv2.imread(rf, cv2.IMREAD_UNCHANGED)
        if left is None or right is None:
            raise SourceError(f"cannot read image {lf if left is None else rf}")
        t = self._i / self.fps
        self._i += 1
        return left, right, t


class OpenCVStereoSource(StereoSource):
    """Two UVC cameras (``left``/``right`` device indices or paths) or one side-by-side camera (``device``).

    Both cameras are ``grab()``-ed back to back, then decoded, to keep them close in time; a pair whose two
    timestamps (``CAP_PROP_POS_MSEC`` when the driver gives it, else the host clock at grab) differ by more
    than ``sync_ms`` is dropped and counted in ``dropped``.
    """

    def __init__(self, left: Any = None, right: Any = None, device: Any = None, width: int | None = None,
                 height: int | None = None, sync_ms: float = 20.0, **kw: Any) -> None:
        super().__init__(**kw)
        if device is None and (left is None or right is None):
            raise InputError("stereo camera source: give left=DEV&right=DEV (two cameras) or device=DEV "
                             "(one side-by-side camera)")
        self.devices = [device] if device is not None else [left, right]
        self.size = (None if width is None else int(width), None if height is None else int(height))
        self.sync_ms = float(sync_ms)
        self.caps: list = []

    def _open(self) -> None:
        import cv2

        for d in self.devices:
            dev = int(d) if str(d).isdigit() else str(d)
            cap = cv2.VideoCapture(dev)
            if not cap.isOpened():
                self._close()
                raise SourceError(f"stereo camera source: cannot open camera {d!r}")
            if self.size[0]:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0] * (2 if len(self.devices) == 1 else 1))
            if self.size[1]:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
            self.caps.append(cap)

    def _close(self) -> None:
        for c in self.caps:
            c.release()
        self.caps = []

    def _grab(self, timeout: float):
        import cv2

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stamps = []
            for c in self.caps:
                if not c.grab():
                    raise SourceError("stereo camera source: camera stopped delivering frames")
                ms = c.get(cv2.CAP_PROP_POS_MSEC)
                stamps.append(ms / 1000.0 if ms and ms > 0 else time.monotonic())
            if len(stamps) == 2 and abs(stamps[0] - stamps[1]) * 1000.0 > self.sync_ms:
                self.dropped += 1
                continue
            imgs = [c.retrieve()[1] for c in self.caps]
            if len(imgs) == 1:
                w = imgs[0].shape[1] // 2
                imgs = [imgs[0][:, :w], imgs[0][:, w:2 * w]]
            return np.ascontiguousarray(imgs[0]), np.ascontiguousarray(imgs[1]), float(np.mean(stamps))
        raise SourceError(f"stereo camera source: no pair within {self.sync_ms} ms of sync in {timeout} s")


class RealSenseIRSource(StereoSource):
    """A RealSense D4xx's two infrared streams (rectified by the camera), plus its own depth for comparison."""

    def __init__(self, serial: str | None = None, width: int = 848, height: int = 480, fps: int = 30,
                 emitter: bool = True, **kw: Any) -> None:
        kw.setdefault("rectified", True)
        super().__init__(**kw)
        self.serial, self.w, self.h, self.fps, self.emitter = serial, int(width), int(height), int(fps), emitter
        self._pipe = None
        self._device_depth = None

    def _open(self) -> None:
        import pyrealsense2 as rs

        from depth3d.core.intrinsics import Intrinsics

        cfg = rs.config()
        if self.serial:
            cfg.enable_device(str(self.serial))
        cfg.enable_stream(rs.stream.infrared, 1, self.w, self.h, rs.format.y8, self.fps)
        cfg.enable_stream(rs.stream.infrared, 2, self.w, self.h, rs.format.y8, self.fps)
        cfg.enable_stream(rs.stream.depth, self.w, self.h, rs.format.z16, self.fps)
        pipe = rs.pipeline()
        try:
            profile = pipe.start(cfg)
        except RuntimeError as exc:
            raise SourceError(f"RealSense IR stereo source: cannot start ({exc})") from None
        self._pipe = pipe
        dev = profile.get_device().first_depth_sensor()
        if dev.supports(rs.option.emitter_enabled):
            dev.set_option(rs.option.emitter_enabled, 1.0 if self.emitter else 0.0)
        self.depth_scale = dev.get_depth_scale()
        p1 = profile.get_stream(rs.stream.infrared, 1).as_video_stream_profile()
        p2 = profile.get_stream(rs.stream.infrared, 2).as_video_stream_profile()
        intr = Intrinsics.from_realsense(p1.get_intrinsics())
        ext = p1.get_extrinsics_to(p2)  # left -> right, metres
        T = np.asarray(ext.translation, np.float64)
        R = np.asarray(ext.rotation, np.float64).reshape(3, 3).T  # librealsense stores column-major
        if self.calib is None:
            self.calib = StereoCalibration.from_extrinsics(intr.K, np.zeros(5), intr.K, np.zeros(5), R, T,
                                                           (intr.width, intr.height), alpha=-1,
                                                           board={"kind": "realsense-factory"})

    def _close(self) -> None:
        if self._pipe is not None:
            self._pipe.stop()
            self._pipe = None

    def _grab(self, timeout: float):
        try:
            fs = self._pipe.wait_for_frames(int(timeout * 1000))
        except RuntimeError as exc:
            raise SourceError(f"RealSense IR stereo source: {exc}") from None
        left = np.asanyarray(fs.get_infrared_frame(1).get_data()).copy()
        right = np.asanyarray(fs.get_infrared_frame(2).get_data()).copy()
        d = fs.get_depth_frame()
        self._device_depth = np.asanyarray(d.get_data()).astype(np.float32) * self.depth_scale if d else None
        return left, right, fs.get_timestamp() / 1000.0

    def _extras(self) -> dict[str, Any]:
        return {"device_depth": self._device_depth}


def parse_stereo_query(query: str) -> dict[str, Any]:
    """Options from the ``?key=value&...`` part of a stereo spec, with numbers and flags converted."""
    opts: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    for k in ("num_disparities", "subpixel", "frames", "seed", "width", "height", "fps"):
        if k in opts:
            opts[k] = int(opts[k])
    for k in ("max_depth", "hfov", "sync_ms"):
        if k in opts:
            opts[k] = float(opts[k])
    for k in ("rectified", "raw", "emitter"):
        if k in opts:
            opts[k] = str(opts[k]).lower() in ("1", "true", "yes", "on")
    return opts


#: stereo source kind (the part of the spec after ``stereo:`` and before ``?``) -> source class
STEREO_KINDS: Registry[type[StereoSource]] = Registry("stereo source kind")
STEREO_KINDS.register("folder", FolderStereoSource, "recorded left/right image folders")
STEREO_KINDS.register("uvc", OpenCVStereoSource, "two UVC cameras")
STEREO_KINDS.register("sbs", OpenCVStereoSource, "one side-by-side camera")
STEREO_KINDS.register("realsense", RealSenseIRSource, "a RealSense's two IR streams")


def open_stereo_source(rest: str, **options: Any) -> StereoSource:
    """Create (not start) a stereo source from ``rest`` (see the module docstring) and keyword options.

    Raises InputError (a ValueError) for an unknown kind or a folder spec without both patterns."""
    kind, _, query = rest.partition("?")
    opts = parse_stereo_query(query)
    opts.update(options)
    if kind not in STEREO_KINDS:
        raise InputError(f"stereo source {rest!r}: kind must be one of {', '.join([*STEREO_KINDS, 'sim'])} "
                         "(e.g. stereo:folder?left=DIR/left*.png&right=DIR/right*.png&calib=FILE)")
    if kind == "folder" and ("left" not in opts or "right" not in opts):
        raise InputError(f"stereo source {rest!r}: folder needs left=PATTERN and right=PATTERN")
    return STEREO_KINDS.get(kind)(**opts)
