"""``depth3d stream``: frames from any source -> coloured cloud (-> voxels), shown, recorded, measured.

Headless it prints once a second: frames per second, latency (frame delivered -> cloud ready) and the
frames the source lost. ``--detect`` runs VoteNet on every Nth frame's cloud as shown (after --min/--max-depth
and --voxel; levelled on the floor plane), shows that cloud with its boxes and class names in the ``--view``
window until the next detection, prints them headless, and streams them all to ``--boxes FILE``.
Ctrl-C, SIGTERM or a lost camera stop it cleanly; a ``--record`` file is then finalised and replays.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from depth3d.cli import CLIError
from depth3d.cli._common import positive_float, positive_int
from depth3d.cli.detect import DEFAULT_TILT, tilt_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stream", help="stream RGB-D frames: view, record, measure",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default="realsense",
                   help="a RealSense serial or 'realsense', a recording (.db3/.bag), a TUM folder, or a "
                        "scheme source: sim:room?seed=3&frames=30 / sim:SCENE.npz (simulated RealSense), "
                        "stereo:sim|folder:DIR|uvc?left=0&right=1|sbs|realsense, tof:sim|demo|RAW_DIR, "
                        "sl:sim|demo|CAPTURE_DIR; default: the first RealSense")
    p.add_argument("--view", action="store_true",
                   help="Open3D window with the cloud + OpenCV window with colour and depth")
    p.add_argument("--record", "-o", "--output", dest="record", metavar="FILE",
                   help="record the frames into a librealsense .db3 file")
    p.add_argument("--force", "--overwrite", dest="force", action="store_true",
                   help="let --record replace an existing file")
    p.add_argument("--max-frames", type=positive_int, metavar="N", help="stop after N frames")
    p.add_argument("--voxel", type=positive_float, metavar="SIZE", help="voxel down-sample the cloud (metres)")
    p.add_argument("--min-depth", type=float, default=0.0, help="metres (default 0)")
    p.add_argument("--max-depth", type=float, default=float("inf"), help="metres (default: no limit)")
    p.add_argument("--no-cloud", action="store_true", help="skip the point cloud (frames only)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a frame (default 5)")
    rs = p.add_argument_group("RealSense options")
    rs.add_argument("--width", type=int, default=None, help="depth width (default 848)")
    rs.add_argument("--height", type=int, default=None, help="depth height (default 480)")
    rs.add_argument("--fps", type=int, default=None, help="frame rate (default 30)")
    rs.add_argument("--align", choices=("color", "depth", "none"), default=None,
                    help="put depth and colour in one camera: color = depth re-rendered into the colour camera, "
                         "depth = colour sampled at the depth pixels (default color for a live camera, where "
                         "librealsense's rs.align does it; other sources: done by depth3d from the frames' "
                         "intrinsics and depth-to-colour pose, default none)")
    rs.add_argument("--infrared", action="store_true", help="also stream both infrared images")
    rs.add_argument("--post", action="store_true",
                    help="librealsense post-processing (threshold, decimation 2, spatial, temporal)")
    p.add_argument("--realtime", action="store_true",
                   help="pace finite sources (recordings, folders) at their recorded timestamps")
    p.add_argument("--quiet", action="store_true", help="no per-second report")
    det = p.add_argument_group("3D detection (VoteNet)")
    det.add_argument("--detect", nargs="?", const="default", metavar="CHECKPOINT",
                     help="detect oriented 3D boxes in the stream (default checkpoint: data/votenet_synthetic.pt); "
                          "detection runs on the cloud as shown (depth limits, voxel size); the --view window then shows "
                          "each detected frame's levelled cloud with its boxes and class names")
    det.add_argument("--detect-every", type=positive_int, default=5, metavar="N",
                     help="run detection on every Nth frame (default 5); boxes persist in between")
    det.add_argument("--tilt", type=tilt_arg, default=DEFAULT_TILT, metavar="DEG|auto",
                     help="camera pitch down in degrees, or auto: level each frame on the floor plane (default)")
    det.add_argument("--boxes", metavar="FILE", help="write the detections of every processed frame as JSON")
    det.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="detection device (default cpu)")
    det.add_argument("--threshold", type=float, default=0.5, help="objectness threshold (default 0.5)")
    det.add_argument("--nms", choices=("agnostic", "class"), default="agnostic",
                     help="3D NMS between boxes of any class (default, as the reference demo) or only within a class")
    p.set_defaults(func=run)


def _is_live(spec: str) -> bool:
    return spec == "realsense" or spec.startswith("realsense:") or (spec.isdigit() and len(spec) >= 6)


def _source_options(args: argparse.Namespace) -> dict[str, Any]:
    """Options for the source; a camera-only option given for another source is refused (exit 2)."""
    spec = args.source
    if _is_live(spec):
        return dict(width=args.width or 848, height=args.height or 480, fps=args.fps or 30,
                    infrared=args.infrared, align=None if args.align == "none" else (args.align or "color"),
                    post=True if args.post else None)
    given = [flag for flag, v in (("--width", args.width), ("--height", args.height), ("--fps", args.fps))
             if v is not None]
    if args.infrared and not spec.lower().endswith((".db3", ".bag")):
        given.append("--infrared")
    if given:
        raise CLIError(f"{', '.join(given)}: only a live RealSense camera takes {'these' if len(given) > 1 else 'this'}"
                       f" (source {spec} delivers its frames as recorded)", code=2)
    if spec.lower().endswith((".db3", ".bag")):
        return dict(timeout=args.timeout, infrared=args.infrared)
    return {}


class _Preview:
    """The --view windows: Open3D cloud updated in place, OpenCV colour | colour-mapped depth."""

    def __init__(self) -> None:
        import os

        if not os.environ.get("DISPLAY"):
            from depth3d.viz.display import ensure_display

            ensure_display()
        from depth3d.viz.viewer import LiveViewer

        self.viewer = LiveViewer(title="depth3d stream")
        self.closed = False

    def update(self, frame, cloud, boxes=None, rotation=None, hold: bool = False) -> None:
        """Show ``frame``'s images and ``cloud`` (camera frame); with ``rotation`` (camera -> upright) the
        cloud is shown upright together with ``boxes`` (upright frame, detected on this cloud). ``hold``:
        keep the 3D window's content (only handle its events)."""
        import cv2
        import numpy as np

        if hold:
            if not self.viewer.poll():
                self.closed = True
        elif cloud is not None:
            if rotation is not None:
                from depth3d.core.cloud import PointCloud

                c = cloud.to_numpy()
                up = PointCloud(np.asarray(c.points, np.float32) @ np.asarray(rotation, np.float32).T, c.colors)
                alive = self.viewer.update(up, boxes or [], view="upright")
            else:
                alive = self.viewer.update(cloud)
            if not alive:
                self.closed = True
        d = frame.depth_m()
        valid = d > 0
        hi = float(np.percentile(d[valid], 99)) if valid.any() else 1.0
        d8 = np.clip(d / max(hi, 1e-6) * 255.0, 0, 255).astype(np.uint8)
        dcol = cv2.applyColorMap(d8, cv2.COLORMAP_JET)
        dcol[~valid] = 0
        panels = [dcol]
        if frame.color is not None:
            c = cv2.cvtColor(frame.color, cv2.COLOR_RGB2BGR)
            if c.shape[:2] != dcol.shape[:2]:
                c = cv2.resize(c, (int(c.shape[1] * dcol.shape[0] / c.shape[0]), dcol.shape[0]))
            panels.insert(0, c)
        cv2.imshow("depth3d stream: colour | depth", np.hstack(panels))
        if cv2.waitKey(1) in (27, ord("q")):
            self.closed = True

    def close(self) -> None:
        import cv2

        try:
            cv2.destroyAllWindows()
        except cv2.error:
            pass
        self.viewer.close() if hasattr(self.viewer, "close") else None


def _sigterm(signum, frame):  # pragma: no cover - exercised by the subprocess tests
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from depth3d.capture.source import SourceError, open_source

    import math

    if not (math.isfinite(args.timeout) and 0 < args.timeout <= 3600):
        raise CLIError(f"--timeout {args.timeout}: expected seconds in (0, 3600]", code=2)
    if not (math.isfinite(args.min_depth) and args.min_depth >= 0) or math.isnan(args.max_depth) \
            or args.max_depth <= args.min_depth:
        raise CLIError(f"--min-depth {args.min_depth} / --max-depth {args.max_depth}: expected "
                       "0 <= min < max (metres)", code=2)
    if not (math.isfinite(args.threshold) and 0 <= args.threshold <= 1):
        raise CLIError(f"--threshold {args.threshold}: expected 0..1", code=2)
    for flag, v in (("--width", args.width), ("--height", args.height), ("--fps", args.fps)):
        if v is not None and v <= 0:
            raise CLIError(f"{flag} must be positive", code=2)
    if args.record and not args.record.lower().endswith(".db3"):
        raise CLIError(f"--record {args.record}: recordings are written as .db3 (librealsense 2.59 format)",
                       code=2)
    if args.record:
        from pathlib import Path

        rec, src = Path(args.record), Path(args.source)
        if src.exists() and rec.exists() and rec.resolve() == src.resolve():
            raise CLIError(f"--record {args.record}: this is the file being played; record to another file",
                           code=2)
        if rec.exists() and not args.force:
            raise CLIError(f"--record {args.record}: the file exists; pass --force to replace it", code=2)
    options = _source_options(args)
    detector = _make_detector(args)  # None without --detect
    signal.signal(signal.SIGTERM, _sigterm)
    source = open_source(args.source, **options)
    recorder = preview = None
    n = 0
    interrupted = False
    lost: str | None = None
    try:
        with source:
            if args.infrared and not _is_live(args.source) and \
                    not any(str(k).startswith("infrared") for k in source.info.get("streams", ())):
                raise CLIError(f"--infrared: source {args.source} has no infrared streams", code=2)
            if not args.quiet:
                info = source.info
                print(f"source: {', '.join(f'{k}={v}' for k, v in info.items())}", flush=True)
            if args.record:
                from depth3d.capture.record import Recorder

                fps = source.info.get("fps")
                try:
                    fps = float(fps)
                except (TypeError, ValueError):
                    fps = 30.0
                recorder = Recorder(args.record, fps=fps if fps > 0 else 30.0)
            if args.view:
                preview = _Preview()
            if detector is not None and args.boxes:
                from depth3d.detection.detect import BoxesLog

                # records go to the file as they come (none kept in memory); renamed into place at the end
                detector.log = BoxesLog(args.boxes, source=args.source, checkpoint=detector.checkpoint)
            n, lost = _loop(args, source, recorder, preview, detector)
    except KeyboardInterrupt:
        interrupted = True
    except SourceError as exc:  # raised while opening
        raise CLIError(str(exc)) from None
    finally:
        if recorder is not None:
            recorder.close()
            n_rec = recorder.frames_written
        if preview is not None:
            preview.close()
        if detector is not None and detector.log is not None:
            detector.log.close()
            print(f"wrote the boxes of {detector.log.count} frames to {args.boxes}",
                  file=sys.stderr if args.quiet else sys.stdout, flush=True)
    if recorder is not None:
        print(f"recorded {n_rec} frames to {args.record}", file=sys.stderr if args.quiet else sys.stdout,
              flush=True)
    if interrupted:
        print("stream: interrupted, stopped cleanly", file=sys.stderr, flush=True)
        return 130
    if lost:
        print(f"depth3d stream: error: {lost}", file=sys.stderr, flush=True)
        return 1
    return 0


def _make_detector(args: argparse.Namespace):
    """The FrameDetector of ``--detect`` (None without it), after checking the detection options: the
    ``--boxes`` file must be writable (a .json path in an existing folder) before any frame is processed."""
    from pathlib import Path

    from depth3d.core.device import resolve_device
    from depth3d.cli.detect import DEFAULT_CKPT
    from depth3d.detection.detect import FrameDetector

    if args.boxes and not args.detect:
        raise CLIError(f"--boxes {args.boxes}: needs --detect (boxes come from detection)", code=2)
    if not args.detect:
        return None
    if args.boxes:
        boxes = Path(args.boxes)
        if boxes.is_dir():
            raise CLIError(f"--boxes {boxes}: is a folder; expected a .json file to write", code=2)
        if boxes.suffix.lower() != ".json":
            raise CLIError(f"--boxes {boxes}: expected a .json file name", code=2)
        if not boxes.parent.is_dir():
            raise CLIError(f"--boxes {boxes}: folder {boxes.parent} does not exist", code=2)
        if boxes.exists():
            print(f"depth3d stream: --boxes {boxes} exists and will be replaced at the end of the run",
                  file=sys.stderr, flush=True)
    ckpt = DEFAULT_CKPT if args.detect == "default" else Path(args.detect)
    if not ckpt.is_file():
        raise CLIError(f"--detect {ckpt}: checkpoint does not exist (train one with `depth3d train det`)", code=2)
    return FrameDetector(str(ckpt), resolve_device(args.device), args.threshold, args.detect_every, args.tilt,
                         warn_no_floor=False, nms=args.nms)


class _Post:
    """--post for sources other than a live camera: librealsense's filter chain on each frame's depth
    (through a software device, :class:`depth3d.capture.realsense.DepthPostProcessor`). Decimation
    shrinks the depth image; colour keeps its size and becomes a separate camera (the original depth
    camera's intrinsics, identity extrinsics for a registered frame)."""

    def __init__(self, source_name: str) -> None:
        self.source_name = source_name
        self.pp = None

    def __call__(self, frame):
        import dataclasses

        import numpy as np

        from depth3d.capture.realsense import DepthPostProcessor, PostProcessing

        if frame.depth.dtype != np.uint16:
            raise CLIError(f"--post: source {self.source_name} gives float depth; librealsense's filters "
                           "take 16-bit depth", code=2)
        if self.pp is None:
            self.pp = DepthPostProcessor(frame.depth_intrinsics, frame.depth_scale, PostProcessing.default())
        depth, intr = self.pp.process(frame.depth, frame.timestamp)
        color_intr = frame.color_intrinsics
        if frame.color is not None and color_intr is None:
            color_intr = frame.depth_intrinsics
        return dataclasses.replace(frame, depth=depth, depth_intrinsics=intr, color_intrinsics=color_intr)

    def close(self) -> None:
        if self.pp is not None:
            self.pp.close()


def _loop(args, source, recorder, preview, detector=None) -> tuple[int, str | None]:
    post = _Post(args.source) if getattr(args, "post", False) and not _is_live(args.source) else None
    try:
        return _run_loop(args, source, recorder, preview, detector, post)
    finally:
        if post is not None:
            post.close()


def _run_loop(args, source, recorder, preview, detector, post) -> tuple[int, str | None]:
    from depth3d.capture.source import SourceError
    from depth3d.geometry.backproject import align_frame

    # a live camera aligns in librealsense (rs.align); every other source through depth3d.geometry
    soft_align = getattr(args, "align", None) in ("color", "depth") and not _is_live(getattr(args, "source", ""))

    pipeline = None
    if not args.no_cloud or preview is not None or detector is not None:
        from depth3d.capture.pipeline import StreamPipeline

        # builds/loads the compiled kernels (and torch) before the first frame is timed
        pipeline = StreamPipeline(args.voxel, args.min_depth, args.max_depth)
    pace: tuple[float, float] | None = None
    n = 0
    window_start = time.perf_counter()
    window_frames = 0
    latencies: list[float] = []
    total_points = 0
    while args.max_frames is None or n < args.max_frames:
        try:
            frame = source.read(args.timeout)
        except SourceError as exc:
            return n, f"source lost: {exc}; stopped"
        if frame is None:
            break
        if soft_align:
            if frame.color is None:
                raise CLIError(f"--align {args.align}: source {args.source} has no colour stream to align with",
                               code=2)
            frame = align_frame(frame, args.align)
        if post is not None:
            frame = post(frame)
        if args.realtime:
            if pace is None:
                pace = (time.perf_counter(), frame.timestamp)
            wait = (frame.timestamp - pace[1]) - (time.perf_counter() - pace[0])
            if wait > 0:
                time.sleep(min(wait, 1.0))
        t_frame = time.perf_counter()
        cloud = None
        due = detector is not None and n % detector.every == 0
        if pipeline is not None and (not args.no_cloud or preview is not None or due):
            cloud = pipeline.cloud(frame)
            total_points = len(cloud.points)
        if recorder is not None:
            recorder.add_frame(frame)
        # detection on exactly the points shown: the depth-limited (--min/--max-depth), voxel down-sampled cloud
        fresh = due and detector.process(n, frame, points=cloud.points) is not None
        if fresh and args.quiet is False and preview is None:
            print(f"frame {n}: {len(detector.boxes)} boxes ({detector.summary()}) in "
                  f"{1e3 * detector.seconds[-1]:.0f} ms", flush=True)
        if preview is not None:
            if detector is None:
                preview.update(frame, cloud)
            else:
                # the 3D window shows the cloud of the detected frame with its boxes (both levelled with that
                # frame's rotation) and holds it until the next detection; the colour | depth window is live
                preview.update(frame, cloud if fresh else None, detector.boxes, detector.rotation if fresh else None,
                               hold=not fresh)
            if preview.closed:
                n += 1
                break
        latencies.append(time.perf_counter() - t_frame)
        n += 1
        window_frames += 1
        now = time.perf_counter()
        if now - window_start >= 1.0 and not args.quiet:
            fps = window_frames / (now - window_start)
            lat = sorted(latencies)[len(latencies) // 2] * 1000
            print(f"frames {n:6d}  fps {fps:6.1f}  latency {lat:6.1f} ms  dropped {source.dropped}  "
                  f"points {total_points}", flush=True)
            window_start, window_frames, latencies = now, 0, []
    if not args.quiet:
        print(f"done: {n} frames, dropped {source.dropped}", flush=True)
    return n, None
