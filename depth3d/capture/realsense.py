"""Live Intel RealSense cameras through pyrealsense2.

    with open_realsense("", width=848, height=480, fps=30, align="color") as cam:
        for frame in cam:          # RGBDFrame: uint16 depth + depth_scale, RGB colour, intrinsics
            ...

Streams: depth, colour and both infrared images (``infrared=True``), each at the requested size and rate.
The depth scale is read from the device. Alignment (``align="color"`` re-renders depth into the colour
camera, ``align="depth"`` colour into the depth camera, ``None`` keeps both raw) uses librealsense's
``rs.align`` block, once per frame, in C++. Post-processing follows librealsense's documented order
(threshold -> decimation -> depth-to-disparity -> spatial -> temporal -> disparity-to-depth -> hole
filling), each stage switched and tuned by :class:`PostProcessing`; it runs before alignment, as
librealsense recommends. :func:`postprocess_depth` runs the same chain on any uint16 depth image
(recordings, other sensors) through a software device.

Dropped frames are counted from gaps in the depth frame numbers. With no camera connected,
:func:`open_realsense` raises :class:`NoCameraError` whose message lists what can be used instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from depth3d.capture._rs import extrinsics_to_pose, import_rs
from depth3d.core.frame import RGBDFrame
from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose
from depth3d.core.source import Source, SourceError

ALTERNATIVES = (
    "  a recording:        depth3d stream --source data/sample.db3   (or any .db3/.bag file)\n"
    "  a TUM RGB-D folder: depth3d stream --source path/to/rgbd_dataset_freiburg1_xyz\n"
    "  the simulator:      depth3d stream --source sim:room\n"
    "  stereo cameras:     depth3d stream --source stereo:...\n"
    "  ToF / structured light: --source tof:... / --source sl:...")


class NoCameraError(SourceError):
    """No RealSense camera (or not the requested serial) is connected."""


_OPTION_NAMES = {"magnitude": "filter_magnitude", "smooth_alpha": "filter_smooth_alpha",
                 "smooth_delta": "filter_smooth_delta", "holes_fill": "holes_fill", "persistence": "holes_fill"}


def _option(name: str):
    rs = import_rs()
    if name not in _OPTION_NAMES:
        raise ValueError(f"unknown filter option {name!r}; expected one of {sorted(_OPTION_NAMES)}")
    return getattr(rs.option, _OPTION_NAMES[name])


@dataclass
class PostProcessing:
    """librealsense post-processing chain; ``None`` switches a stage off.

    Attributes:
        threshold: (min, max) metres kept by the threshold filter.
        decimation: magnitude 2..8 (image shrinks by this factor; intrinsics follow).
        spatial: options of the edge-preserving spatial filter (``magnitude``, ``smooth_alpha``,
            ``smooth_delta``, ``holes_fill``), or None.
        temporal: options of the temporal filter (``smooth_alpha``, ``smooth_delta``, ``persistence``).
        hole_filling: mode 0 (fill from left), 1 (farthest around), 2 (nearest around), or None.
        disparity: run spatial/temporal in the disparity domain (librealsense's recommendation).
    """

    threshold: tuple[float, float] | None = None
    decimation: int | None = None
    spatial: dict[str, float] | None = None
    temporal: dict[str, float] | None = None
    hole_filling: int | None = None
    disparity: bool = True

    @classmethod
    def default(cls) -> "PostProcessing":
        """The chain the RealSense Viewer enables by default."""
        return cls(threshold=(0.1, 10.0), decimation=2, spatial={}, temporal={}, hole_filling=None)

    @property
    def enabled(self) -> bool:
        return any(x is not None for x in (self.threshold, self.decimation, self.spatial, self.temporal,
                                           self.hole_filling))

    def build(self) -> list[Any]:
        """The ``rs`` filter objects in application order."""
        rs = import_rs()
        chain: list[Any] = []
        opt = rs.option
        if self.threshold is not None:
            f = rs.threshold_filter()
            f.set_option(opt.min_distance, float(self.threshold[0]))
            f.set_option(opt.max_distance, float(self.threshold[1]))
            chain.append(f)
        if self.decimation is not None:
            f = rs.decimation_filter()
            f.set_option(opt.filter_magnitude, float(self.decimation))
            chain.append(f)
        smoothing = self.spatial is not None or self.temporal is not None
        if smoothing and self.disparity:
            chain.append(rs.disparity_transform(True))
        if self.spatial is not None:
            f = rs.spatial_filter()
            for k, v in self.spatial.items():
                f.set_option(_option(k), float(v))
            chain.append(f)
        if self.temporal is not None:
            f = rs.temporal_filter()
            for k, v in self.temporal.items():
                f.set_option(_option(k), float(v))
            chain.append(f)
        if smoothing and self.disparity:
            chain.append(rs.disparity_transform(False))
        if self.hole_filling is not None:
            f = rs.hole_filling_filter()
            f.set_option(opt.holes_fill, float(self.hole_filling))
            chain.append(f)
        return chain


def list_devices() -> list[dict[str, str]]:
    """Connected RealSense devices: name, serial, firmware, USB type, product line (may be empty)."""
    rs = import_rs()
    out = []
    for dev in rs.context().query_devices():
        d = {}
        for key, info in (("name", rs.camera_info.name), ("serial", rs.camera_info.serial_number),
                          ("firmware", rs.camera_info.firmware_version),
                          ("usb", rs.camera_info.usb_type_descriptor),
                          ("product_line", rs.camera_info.product_line)):
            if dev.supports(info):
                d[key] = dev.get_info(info)
        out.append(d)
    return out


def no_camera_message(serial: str | None = None) -> str:
    """The message shown when no (matching) camera is connected, with the alternatives."""
    what = f"no RealSense camera with serial {serial} is connected" if serial else \
        "no RealSense camera is connected"
    return f"{what} (check the USB 3 cable and `depth3d devices`). Use instead:\n{ALTERNATIVES}"


class RealSenseSource(Source):
    """A live RealSense camera.

    Args:
        serial: device serial ('' = the first camera found).
        width, height, fps: depth (and infrared) stream mode.
        color: stream colour; ``color_size`` (w, h) defaults to the depth size.
        infrared: also stream both infrared images (``extras["infrared1"/"infrared2"]``, uint8).
        align: "color" (depth re-rendered into the colour camera), "depth" (colour into depth) or None.
        post: post-processing chain (:class:`PostProcessing`), None for raw depth.
        queue_size: frames librealsense buffers before it drops (drops show up in :attr:`dropped`).
    """

    kind = "realsense"

    def __init__(self, serial: str = "", *, width: int = 848, height: int = 480, fps: int = 30,
                 color: bool = True, color_size: tuple[int, int] | None = None, infrared: bool = False,
                 align: str | None = "color", post: PostProcessing | None = None, queue_size: int = 2,
                 **_: Any) -> None:
        super().__init__()
        if align not in (None, "color", "depth"):
            raise ValueError(f"align must be 'color', 'depth' or None, got {align!r}")
        self.serial = serial
        self.width, self.height, self.fps = int(width), int(height), int(fps)
        self.use_color = color
        self.color_size = color_size or (self.width, self.height)
        self.use_infrared = infrared
        self.align_to = align if color else None
        self.post = post
        self.queue_size = queue_size
        self._pipe = None
        self._last_number: int | None = None
        self._info: dict[str, Any] = {}

    def start(self) -> None:
        rs = import_rs()
        devices = list_devices()
        if not devices or (self.serial and self.serial not in [d.get("serial") for d in devices]):
            raise NoCameraError(no_camera_message(self.serial or None))
        cfg = rs.config()
        if self.serial:
            cfg.enable_device(self.serial)
        cfg.enable_stream(rs.stream.depth, self.width, self.height, rs.format.z16, self.fps)
        if self.use_color:
            cfg.enable_stream(rs.stream.color, self.color_size[0], self.color_size[1], rs.format.rgb8, self.fps)
        if self.use_infrared:
            cfg.enable_stream(rs.stream.infrared, 1, self.width, self.height, rs.format.y8, self.fps)
            cfg.enable_stream(rs.stream.infrared, 2, self.width, self.height, rs.format.y8, self.fps)
        pipe = rs.pipeline()
        try:
            profile = pipe.start(cfg)
        except RuntimeError as exc:
            raise SourceError(f"RealSense {self.serial or '(first camera)'}: cannot start "
                              f"{self.width}x{self.height}@{self.fps} ({exc}); check the modes with "
                              "`depth3d devices`") from None
        self._pipe = pipe
        dev = profile.get_device()
        depth_sensor = dev.first_depth_sensor()
        self.depth_scale = float(depth_sensor.get_depth_scale())
        self._info = {k: v for k, v in devices[0].items()}
        if self.serial:
            self._info = next(d for d in devices if d.get("serial") == self.serial)
        dprof = profile.get_stream(rs.stream.depth).as_video_stream_profile()
        self._raw_depth_intr = Intrinsics.from_realsense(dprof.get_intrinsics())
        self._align = rs.align(rs.stream.color if self.align_to == "color" else rs.stream.depth) \
            if self.align_to else None
        self._filters = self.post.build() if self.post is not None and self.post.enabled else []
        if self.use_color:
            cprof = profile.get_stream(rs.stream.color).as_video_stream_profile()
            self._color_intr = Intrinsics.from_realsense(cprof.get_intrinsics())
            self._d2c = extrinsics_to_pose(dprof.get_extrinsics_to(cprof))
        self.depth_intrinsics = self._raw_depth_intr
        self.color_intrinsics = getattr(self, "_color_intr", None)
        self.depth_to_color = getattr(self, "_d2c", Pose.identity())

    def read(self, timeout: float = 5.0) -> RGBDFrame | None:
        """Next frame; SourceError when the camera sends nothing for ``timeout`` s (unplugged)."""
        if self._pipe is None:
            raise SourceError("RealSense source is not started (use it in a `with` block)")
        ok, fs = self._pipe.try_wait_for_frames(int(timeout * 1000))
        if not ok:
            raise SourceError(f"RealSense {self._info.get('serial', '')}: no frames for {timeout:.1f} s "
                              "(camera disconnected?)")
        return self.process_frameset(fs)

    def setup_processing(self, depth_scale: float, depth_to_color: Pose | None = None) -> None:
        """Prepare alignment and filters without a pipeline (for framesets from elsewhere, e.g. a software
        device or a syncer); :meth:`start` does this for live cameras."""
        rs = import_rs()
        self.depth_scale = float(depth_scale)
        self._align = rs.align(rs.stream.color if self.align_to == "color" else rs.stream.depth) \
            if self.align_to else None
        self._filters = self.post.build() if self.post is not None and self.post.enabled else []
        self._d2c = depth_to_color if depth_to_color is not None else Pose.identity()

    def process_frameset(self, fs) -> RGBDFrame:
        """One ``rs.composite_frame`` (depth [+ colour] [+ infrared]) -> RGBDFrame: drop counting,
        post-processing, alignment, copies out of librealsense's frame pool."""
        import numpy as np

        depth_raw = fs.get_depth_frame()
        number = depth_raw.get_frame_number()
        if self._last_number is not None and number > self._last_number + 1:
            self.dropped += number - self._last_number - 1
        self._last_number = number
        extras: dict[str, Any] = {"frame_number": number}
        if self.use_infrared:
            for k in (1, 2):
                ir = fs.get_infrared_frame(k)
                if ir:
                    extras[f"infrared{k}"] = np.asanyarray(ir.get_data()).copy()
        for f in self._filters:  # on the frameset: the filters touch depth only, colour passes through
            fs = f.process(fs).as_frameset()
        if self._align is not None:
            fs = self._align.process(fs)
        depth = fs.get_depth_frame()
        dintr = Intrinsics.from_realsense(depth.get_profile().as_video_stream_profile().get_intrinsics())
        color = cintr = None
        d2c = Pose.identity()
        if self.use_color:
            cf = fs.get_color_frame()
            if cf:
                color = np.asanyarray(cf.get_data()).copy()
                cintr = Intrinsics.from_realsense(cf.get_profile().as_video_stream_profile().get_intrinsics())
                if self.align_to == "color":
                    d2c = Pose.identity()  # depth now lives in the colour camera
                elif self.align_to is None:
                    d2c = self._d2c
        if self.align_to is not None and color is not None:
            cintr = None  # registered: colour pixels match depth pixels one to one
        return RGBDFrame(depth=np.asanyarray(depth.get_data()).copy(), depth_intrinsics=dintr, color=color,
                         color_intrinsics=cintr, depth_to_color=d2c, depth_scale=self.depth_scale,
                         timestamp=depth.get_timestamp() / 1000.0, index=number, sensor="realsense",
                         extras=extras)

    def stop(self) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            try:
                pipe.stop()
            except RuntimeError:
                pass

    @property
    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, **self._info, "mode": f"{self.width}x{self.height}@{self.fps}",
                "depth_scale": self.depth_scale, "align": self.align_to}


def open_realsense(rest: str = "", **options: Any) -> RealSenseSource:
    """Source for a live camera: ``rest`` is a serial number or '' for the first camera. Options go to
    :class:`RealSenseSource`; ``post=True`` selects :meth:`PostProcessing.default`."""
    post = options.pop("post", None)
    if post is True:
        post = PostProcessing.default()
    return RealSenseSource(rest, post=post, **options)


class DepthPostProcessor:
    """Run a :class:`PostProcessing` chain on uint16 depth images from any source (recordings, simulated
    or third-party sensors): each image goes through an ``rs.software_device`` into librealsense's filters.
    Keeps state between calls (the temporal filter needs the previous frames).

    Args:
        intrinsics: of the input depth images.
        depth_scale: metres per unit (the threshold and disparity stages need it).
        post: the chain.
    """

    def __init__(self, intrinsics: Intrinsics, depth_scale: float, post: PostProcessing) -> None:
        rs = import_rs()
        self.intrinsics = intrinsics
        self._dev = rs.software_device()
        self._sensor = self._dev.add_sensor("Stereo Module")
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid = rs.stream.depth, 0, 0
        vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = intrinsics.width, intrinsics.height, 30, 2, rs.format.z16
        vs.intrinsics = intrinsics.to_realsense()
        self._profile = self._sensor.add_video_stream(vs)
        self._sensor.add_read_only_option(rs.option.depth_units, float(depth_scale))
        self._sensor.add_read_only_option(rs.option.stereo_baseline, 50.0)  # mm; disparity needs a baseline
        self._queue = rs.frame_queue(4, keep_frames=True)
        self._sensor.open(self._profile)
        self._sensor.start(self._queue)
        self._filters = post.build()
        self._n = 0

    def process(self, depth, timestamp_s: float | None = None):
        """Filter one (H, W) uint16 depth image; returns (depth (h, w) uint16, intrinsics of the result)."""
        import numpy as np

        rs = import_rs()
        depth = np.ascontiguousarray(depth, dtype=np.uint16)
        if depth.shape != (self.intrinsics.height, self.intrinsics.width):
            raise ValueError(f"depth is {depth.shape[1]}x{depth.shape[0]}, the processor was set up for "
                             f"{self.intrinsics.width}x{self.intrinsics.height}")
        self._n += 1
        f = rs.software_video_frame()
        f.pixels, f.stride, f.bpp = depth, depth.shape[1] * 2, 2
        f.timestamp = (timestamp_s if timestamp_s is not None else self._n / 30.0) * 1000.0
        f.domain = rs.timestamp_domain.hardware_clock
        f.frame_number = self._n
        f.profile = self._profile.as_video_stream_profile()
        self._sensor.on_video_frame(f)
        ok, frame = self._queue.try_wait_for_frame(5000)
        if not ok:
            raise SourceError("librealsense post-processing: the software device gave no frame in 5 s")
        for flt in self._filters:
            frame = flt.process(frame)
        out = np.asanyarray(frame.get_data()).copy()
        intr = Intrinsics.from_realsense(frame.get_profile().as_video_stream_profile().get_intrinsics())
        return out, intr

    def close(self) -> None:
        try:
            self._sensor.stop()
            self._sensor.close()
        except RuntimeError:
            pass

    def __enter__(self) -> "DepthPostProcessor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def postprocess_depth(depth, intrinsics: Intrinsics, depth_scale: float, post: PostProcessing):
    """One-shot :class:`DepthPostProcessor` (stateless use: the temporal filter sees a single frame)."""
    with DepthPostProcessor(intrinsics, depth_scale, post) as pp:
        return pp.process(depth)
