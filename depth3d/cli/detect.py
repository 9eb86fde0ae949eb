"""``depth3d detect``: VoteNet 3D object detection on scans, SUN RGB-D frames, recordings and live streams.

Writes, per input, ``OUT/<name>_boxes.json`` (boxes JSON of :mod:`depth3d.viz.boxes` with class, score,
centre, full size, heading counter-clockwise about +z, VoteNet heading and 8 corners; upright frame x right,
y forward, z up, metres) and ``OUT/<name>_boxes.ply`` (box line sets). Recordings/streams: one entry per
processed frame in ``OUT/<name>_boxes.json`` and ``OUT/<name>_fNNNNNN_boxes.ply``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from depth3d.cli import CLIError
from depth3d.cli._common import (add_force_arg, check_output_folder, positive_int, refuse_existing,
                                 unique_stems)

DEFAULT_CKPT = Path(__file__).resolve().parents[2] / "data" / "votenet_synthetic.pt"
SCAN_SUFFIXES = (".npz", ".npy", ".ply", ".pcd", ".mat", ".off", ".obj", ".stl", ".gltf", ".glb")
# one default for detect, stream --detect and demo: levelling on the floor is safe now that it reports "no
# floor" (and keeps a level camera) when no large horizontal plane lies below the camera
DEFAULT_TILT: float | str = "auto"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "detect", help="detect oriented 3D boxes (VoteNet) in scans, SUN RGB-D frames or streams",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="scan file (.npz/.npy/.ply/.pcd/.mat or a mesh), sunrgbd:ROOT:ID, or a source spec for "
                        "open_source (recording .bag/.db3, sim:..., realsense)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--checkpoint", default=str(DEFAULT_CKPT), help=f"VoteNet checkpoint (default {DEFAULT_CKPT.name})")
    p.add_argument("--dataset", choices=("sunrgbd", "scannet"),
                   help="head sizes of a released facebookresearch/votenet .tar checkpoint (default: from its "
                        "tensor shapes)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threshold", type=float, default=0.5, help="objectness threshold (default 0.5)")
    p.add_argument("--nms", choices=("agnostic", "class"), default="agnostic",
                   help="3D NMS between boxes of any class (default, as the reference demo) or only within a class")
    p.add_argument("--num-points", type=int, default=None, help="points sampled per scan (default: checkpoint's)")
    p.add_argument("--frame", choices=("auto", "upright", "camera"), default="auto",
                   help="frame of the input cloud: upright (x right, y forward, z up) or camera (x right, y down, "
                        "z forward); auto (default): VoteNet _pc.npz, ScanNet _vert.npy and SUN RGB-D are upright, "
                        "streams are camera, and other clouds (.ply/.pcd/.npz, meshes) are told from the data "
                        "(points behind the camera, which way the floor faces); the frame used and why is printed")
    p.add_argument("--tilt", type=tilt_arg, default=DEFAULT_TILT, metavar="DEG|auto",
                   help="camera pitch down in degrees for camera-frame inputs, or 'auto' (default, as in "
                        "stream --detect and demo): level each cloud on the floor plane in view; when no large "
                        "horizontal plane lies below the camera it says 'no floor' and assumes a level camera, "
                        "so auto is safe on views of walls")
    p.add_argument("--camera-height", type=float, default=0.0,
                   help="camera height above the floor in metres (camera-frame inputs; 0 = camera at origin)")
    p.add_argument("--every", type=positive_int, default=1, help="streams: process every Nth frame")
    p.add_argument("--max-frames", type=positive_int, default=None, help="streams: stop after this many processed frames")
    p.add_argument("--save-cloud", action="store_true", help="also write OUT/<name>_cloud.ply (upright points; "
                   "recordings and streams: OUT/<name>_fNNNNNN_cloud.ply per processed frame)")
    p.add_argument("--view", action="store_true", help="show the cloud and boxes in a window")
    p.add_argument("--screenshot", metavar="PNG", help="render the cloud and boxes to a PNG")
    add_force_arg(p)
    p.set_defaults(func=run)


def tilt_arg(text: str) -> float | str:
    """argparse type of ``--tilt`` (detect, stream): degrees, or "auto" (level on the floor plane)."""
    if text == "auto":
        return text
    try:
        deg = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--tilt expects degrees or 'auto', got {text!r}") from None
    if not -90.0 <= deg <= 90.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"--tilt expects degrees in [-90, 90] or 'auto', got {text!r}")
    return deg


def _print_levelling(spec: str, lev) -> None:
    """One line on stderr saying how a camera-frame cloud was levelled."""
    if lev.floor is not None:
        print(f"depth3d detect: {spec}: levelled on the floor (tilt {lev.tilt_angle_deg:.1f} deg, camera "
              f"{lev.camera_height:.2f} m above it)", file=sys.stderr)
    elif lev.message:
        print(f"depth3d detect: {spec}: {lev.message}", file=sys.stderr)


def _scan_frame(spec: str, points, known: str, flag: str) -> str:
    """The frame a scan is read in ("upright" or "camera"), said on stderr with the reason: ``--frame``
    when given, else the format's own frame, else guessed from the data (where the floor is)."""
    from depth3d.geometry.floor import guess_frame

    if flag != "auto":
        frame, why = flag, "as given by --frame"
    elif known != "unknown":
        frame, why = known, "the format is upright by definition"
    else:
        frame, why = guess_frame(points)
    print(f"depth3d detect: {spec}: read as the {frame} frame ({why})", file=sys.stderr)
    return frame


def _is_scan(spec: str) -> bool:
    return spec.startswith("sunrgbd:") or Path(spec).suffix.lower() in SCAN_SUFFIXES


def _render(points, boxes, view: bool, screenshot: str | None, colors=None) -> None:
    """Show / render the upright cloud (its own colours, else grey by height) with the boxes and their
    class names."""
    import numpy as np

    from depth3d.core.cloud import PointCloud
    from depth3d.viz.boxes import boxes_to_labels, boxes_to_lineset
    from depth3d.viz.viewer import show

    pts = np.asarray(points, np.float32) if points is not None and len(points) else np.zeros((1, 3), np.float32)
    if colors is not None and len(colors) == len(pts):
        cols = np.asarray(colors, np.float32)
    else:
        z = pts[:, 2]
        g = np.clip((z - z.min()) / max(float(np.ptp(z)), 1e-6), 0, 1)
        cols = np.stack([0.35 + 0.4 * g, 0.35 + 0.4 * g, 0.45 + 0.3 * g], 1)
    geoms = [PointCloud(pts, cols), boxes_to_lineset(boxes), boxes_to_labels(boxes)]
    kw = dict(front=[0.0, -1.0, 0.8], up=[0.0, 0.0, 1.0], zoom=0.6)
    if screenshot:
        show(geoms, screenshot=screenshot, **kw)
    if view:
        show(geoms, **kw)


def run(args) -> int:
    from depth3d.core.device import resolve_device
    from depth3d.detection.decode import demo_config
    from depth3d.detection.detect import Detector, camera_to_upright, frames_to_clouds, load_scan
    from depth3d.viz.boxes import write_boxes, write_boxes_ply

    if not 0.0 <= args.threshold < 1.0:  # NaN fails too
        raise CLIError("--threshold must be in [0, 1)", 2)
    device = resolve_device(args.device)
    if not Path(args.checkpoint).exists():
        raise CLIError(f"checkpoint {args.checkpoint} does not exist (train one with `depth3d train det` or "
                       f"use data/votenet_synthetic.pt)")
    post = demo_config(args.threshold, args.nms)
    det = Detector(args.checkpoint, device, args.num_points, post, dataset=args.dataset)
    names = unique_stems(list(args.inputs), lambda spec: Path(spec.split(":")[-1]).stem
                         if not spec.startswith("sunrgbd:") else "sunrgbd_" + spec.split(":")[-1])
    out = check_output_folder(args.output, force=args.force, patterns=tuple(f"{n}_*" for n in names))
    if args.screenshot:
        refuse_existing([args.screenshot], args.force)
    out.mkdir(parents=True, exist_ok=True)
    last_points, last_boxes, last_colors = None, [], None
    damaged_inputs: list[str] = []
    for spec, name in zip(args.inputs, names):
        if _is_scan(spec):
            import numpy as np

            pts, rgb, frame = load_scan(spec, colors=True)
            frame = _scan_frame(spec, pts, frame, args.frame)
            if frame == "camera":
                levelled: list = []
                pts = camera_to_upright(pts, args.tilt, args.camera_height, levelled)
                _print_levelling(spec, levelled[-1])
            res = det.detect(pts)
            if res.message:
                print(f"depth3d detect: {spec}: {res.message}", file=sys.stderr)
            # the colours of the points the detector kept (its finite rows)
            cols = None if rgb is None or res.points is None else rgb[np.isfinite(pts[:, :3]).all(1)]
            write_boxes(out / f"{name}_boxes.json", res.boxes)
            write_boxes_ply(out / f"{name}_boxes.ply", res.boxes)
            if args.save_cloud and res.points is not None:
                from depth3d.core.cloud import PointCloud
                from depth3d.io.clouds import write_cloud

                write_cloud(out / f"{name}_cloud.ply", PointCloud(res.points, cols))
            summary = ", ".join(f"{b['class']} {b['score']:.2f}" for b in res.boxes) or "no boxes"
            print(f"{spec}: {len(res.boxes)} boxes ({summary}) -> {out / (name + '_boxes.json')}")
            last_points, last_boxes, last_colors = res.points, res.boxes, cols
        else:
            frames, levelled, stats = [], [], {}
            try:
                for idx, ts, pts in frames_to_clouds(spec, args.every, args.max_frames, args.tilt,
                                                     args.camera_height, levelling=levelled, stats=stats):
                    res = det.detect(pts)
                    if res.message:
                        print(f"depth3d detect: {spec} frame {idx}: {res.message}", file=sys.stderr)
                    write_boxes_ply(out / f"{name}_f{idx:06d}_boxes.ply", res.boxes)
                    if args.save_cloud and res.points is not None:
                        from depth3d.core.cloud import PointCloud
                        from depth3d.io.clouds import write_cloud

                        write_cloud(out / f"{name}_f{idx:06d}_cloud.ply", PointCloud(res.points))
                    frames.append({"index": int(idx), "timestamp": float(ts), "boxes": res.boxes,
                                   "levelling": levelled[-1].to_dict()})
                    print(f"{spec} frame {idx}: {len(res.boxes)} boxes")
                    last_points, last_boxes, last_colors = res.points, res.boxes, None
            except ImportError as exc:
                raise CLIError(f"{spec}: not a scan file ({', '.join(SCAN_SUFFIXES)}) and no source can open it "
                               f"({exc})") from None
            from depth3d.core.atomic import atomic_write

            with atomic_write(out / f"{name}_boxes.json", "w") as f:
                json.dump({"frame": "upright", "source": spec, "frames": frames,
                           **({"damaged_frames": stats["damaged"]} if stats.get("damaged") else {})}, f, indent=1)
            if stats.get("damaged"):
                damaged_inputs.append(f"{spec}: {stats['damaged']} damaged frame(s) skipped")
    if args.view or args.screenshot:
        _render(last_points, last_boxes, args.view, args.screenshot, last_colors)
    for line in damaged_inputs:  # the intact frames were detected; the loss is still an error
        print(f"depth3d detect: error: {line}", file=sys.stderr)
    return 1 if damaged_inputs else 0
