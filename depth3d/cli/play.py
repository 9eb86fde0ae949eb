"""``depth3d play FILE``: replay a recording (or any source) and optionally export its frames.

``--export DIR`` writes ``depth/NNNNNN.png`` (16-bit, raw depth units; ``meta.json`` holds the depth
scale), ``color/NNNNNN.png``, ``cloud/NNNNNN.ply`` (coloured cloud, metres, depth camera frame),
``intrinsics.json`` / ``color_intrinsics.json`` and ``frames.csv`` (index, frame number, timestamp).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from depth3d.cli import CLIError
from depth3d.cli._common import add_force_arg, check_output_folder, positive_float, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("play", help="replay a recording; export PNG depth/colour and PLY clouds",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="recording (.db3/.bag), TUM folder, or any --source spec")
    p.add_argument("--export", "-o", "--output", dest="export", metavar="DIR", help="export frames here")
    p.add_argument("--max-frames", type=positive_int, metavar="N", help="stop after N frames")
    p.add_argument("--every", type=positive_int, default=1, metavar="K", help="export every K-th frame (default 1)")
    p.add_argument("--no-clouds", action="store_true", help="do not write PLY clouds")
    p.add_argument("--voxel", type=positive_float, metavar="SIZE", help="voxel down-sample exported clouds (metres)")
    p.add_argument("--seek", type=float, metavar="SECONDS", help="start this far into a recording")
    add_force_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from depth3d.capture.source import SourceError, open_source

    import math

    if args.seek is not None and not (math.isfinite(args.seek) and args.seek >= 0):
        raise CLIError(f"--seek {args.seek}: expected seconds >= 0", code=2)
    path = Path(args.file)
    if not path.exists() and ":" not in args.file:
        raise FileNotFoundError(f"recording {path} does not exist")
    out = Path(args.export) if args.export else None
    if out is not None:
        check_output_folder(out, force=args.force, patterns=("depth/*", "color/*", "cloud/*", "frames.csv",
                                                             "meta.json", "intrinsics.json", "color_intrinsics.json"))
    rows = []
    n = 0
    try:
        with open_source(args.file) as src:
            info = src.info
            print(json.dumps(info, default=str), flush=True)
            if args.seek is not None:
                if not hasattr(src, "seek"):
                    raise CLIError(f"{args.file}: this source cannot seek", code=2)
                try:
                    src.seek(args.seek)
                except ValueError as exc:
                    raise CLIError(f"--seek: {exc}", code=2) from None
            total = src.frame_count
            if args.max_frames is not None and total is not None:
                total = min(total, args.max_frames)
            if out is not None:
                for sub in ("depth", "color") + (() if args.no_clouds else ("cloud",)):
                    (out / sub).mkdir(parents=True, exist_ok=True)
            for frame in tqdm(src, total=total, unit="frame", disable=not sys.stderr.isatty()):
                if args.max_frames is not None and n >= args.max_frames:
                    break
                if out is not None and n % args.every == 0:
                    _export(out, n, frame, args, write_meta=not rows)
                    rows.append(f"{n},{frame.index},{frame.timestamp!r}")
                n += 1
    except SourceError as exc:
        raise CLIError(str(exc)) from None
    if out is not None:
        from depth3d.core.atomic import atomic_write

        with atomic_write(out / "frames.csv", "w") as f:
            f.write("file_index,frame_index,timestamp_s\n" + "".join(r + "\n" for r in rows))
        print(f"exported {len(rows)} frames to {out}")
    damaged = int(getattr(src, "damaged", 0) or 0)
    print(f"played {n} frames, dropped {src.dropped}" + (f", damaged {damaged}" if damaged else ""))
    if damaged:
        print(f"depth3d play: error: {args.file}: {damaged} damaged frame(s) skipped", file=sys.stderr)
        return 1
    return 0


def _export(out: Path, n: int, frame, args, write_meta: bool) -> None:
    from depth3d.core.atomic import atomic_write
    from depth3d.io.clouds import write_cloud
    from depth3d.io.depth_png import write_color, write_depth_png

    name = f"{n:06d}"
    if write_meta:
        frame.depth_intrinsics.save(out / "intrinsics.json")
        if frame.color_intrinsics is not None:
            frame.color_intrinsics.save(out / "color_intrinsics.json")
        with atomic_write(out / "meta.json", "w") as f:
            json.dump({"depth_scale": frame.depth_scale, "sensor": frame.sensor,
                       "depth_to_color": frame.depth_to_color.to_list()}, f, indent=2)
    if str(frame.depth.dtype) == "uint16":
        write_depth_png(out / "depth" / f"{name}.png", frame.depth)
    else:
        write_depth_png(out / "depth" / f"{name}.png", frame.depth_m(), depth_scale=0.001)
    if frame.color is not None:
        write_color(out / "color" / f"{name}.png", frame.color)
    if not args.no_clouds:
        from depth3d.geometry import rgbd_to_cloud, voxel_downsample

        cloud = rgbd_to_cloud(frame)
        if args.voxel:
            cloud = voxel_downsample(cloud, args.voxel)
        write_cloud(out / "cloud" / f"{name}.ply", cloud)
