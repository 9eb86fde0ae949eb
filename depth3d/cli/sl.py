"""``depth3d sl``: structured light -- generate projector patterns, decode captures, simulate a rig.

    depth3d sl generate -o PATTERNS --width 800 --height 600 [--bits 10] [--steps 4] [--period 16] [--rows]
    depth3d sl decode CAPTURE_DIR -o OUT [--calibration calib.json] [--no-phase]
    depth3d sl simulate -o CAPTURE_DIR [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from depth3d.cli import CLIError
from depth3d.cli._common import add_command, add_command_group, add_device_arg, check_output_folder
from depth3d.core.device import resolve_device


def register(subparsers) -> None:
    sub = add_command_group(subparsers, "sl", "sl_command",
                            help="structured light: generate patterns, decode captures to depth",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = add_command(sub, "generate", _generate, "output folder",
                    help="write projector patterns (PNG) and patterns.json")
    g.add_argument("--width", type=int, required=True, help="projector width (pixels)")
    g.add_argument("--height", type=int, required=True, help="projector height (pixels)")
    g.add_argument("--bits", type=int, default=None, help="code bits (default ceil(log2(width)))")
    g.add_argument("--steps", type=int, default=4, help="phase-shift steps (0 = Gray code only)")
    g.add_argument("--period", type=int, default=16, help="phase period in projector pixels")
    g.add_argument("--rows", action="store_true", help="also code projector rows")
    g.add_argument("--code", choices=("gray", "binary"), default="gray")
    d = add_command(sub, "decode", _decode, "output folder",
                    help="capture folder (+ calibration) -> depth.png, cloud.ply, column.npy")
    d.add_argument("folder", help="capture folder (layout: depth3d.structured_light.capture)")
    d.add_argument("--calibration", default=None, help="calibration.json (default: in the folder or its parent)")
    d.add_argument("--no-phase", action="store_true", help="Gray code only (ignore phase-shift images)")
    d.add_argument("--min-contrast", type=float, default=6.0, help="shadow threshold on white - black")
    add_device_arg(d)
    add_command(sub, "simulate", _simulate, "capture folder to write (with gt_depth.png)", seed=True,
                help="render captures of the virtual projector-camera rig")


def _generate(args) -> int:
    from depth3d.structured_light.patterns import PatternSet

    check_output_folder(args.output, force=args.force)
    try:
        ps = PatternSet.default(args.width, args.height, bits=args.bits, steps=args.steps, period=args.period,
                                rows=args.rows, code=args.code)
    except ValueError as exc:
        raise CLIError(str(exc), code=2) from None
    paths = ps.write(args.output)
    print(f"wrote {len(paths)} patterns ({args.width}x{args.height}) and patterns.json to {args.output}")
    return 0


def _decode(args) -> int:
    import numpy as np

    from depth3d.core.cloud import PointCloud
    from depth3d.core.atomic import atomic_write
    from depth3d.io.clouds import write_cloud
    from depth3d.io.depth_png import write_depth_png
    from depth3d.structured_light.capture import read_capture
    from depth3d.geometry import depth_to_points
    from depth3d.structured_light.decode import decode_captures, triangulate_columns

    resolve_device(args.device)  # decoding is vectorised numpy; --device only checks the request
    check_output_folder(args.output, force=args.force, patterns=("depth.png", "intrinsics.json", "column.npy",
                                                                  "cloud.ply"))
    images, patterns, calib = read_capture(args.folder, args.calibration)
    if calib is None:
        raise CLIError(f"{args.folder}: no calibration.json in the folder or its parent; give --calibration FILE",
                       code=2)
    dec = decode_captures(images, patterns, min_contrast=args.min_contrast)
    col = np.where(dec.column_gray >= 0, dec.column_gray, np.nan).astype(np.float32) if args.no_phase \
        else dec.column
    depth = triangulate_columns(col, calib)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    write_depth_png(out / "depth.png", depth, 0.001)
    calib.camera.save(out / "intrinsics.json")
    with atomic_write(out / "column.npy") as f:
        np.save(f, col)
    pts = depth_to_points(depth, calib.camera)
    white = images["white"].astype(np.float32)
    grey = (white / max(float(white.max()), 1.0))[depth > 0]
    write_cloud(out / "cloud.ply", PointCloud(pts, np.repeat(grey[:, None], 3, 1).astype(np.float32)))
    print(f"{int(dec.lit.sum())} lit pixels, {int((depth > 0).sum())} with depth; wrote depth.png, cloud.ply "
          f"({len(pts)} points), column.npy to {out}")
    return 0


def _simulate(args) -> int:
    import numpy as np

    from depth3d.io.depth_png import write_depth_png
    from depth3d.sim.scene import demo_scene
    from depth3d.sim.structured_light_sensor import StructuredLightRig
    from depth3d.structured_light.capture import write_capture

    check_output_folder(args.output, force=args.force)
    rig = StructuredLightRig()
    out = rig.render(demo_scene(args.seed, far=2.5, near=0.8), rng=np.random.default_rng(args.seed))
    folder = write_capture(args.output, out["images"], rig.patterns, rig.calibration)
    write_depth_png(folder / "gt_depth.png", out["gt_depth"], 0.001)
    from depth3d.core.atomic import atomic_write

    with atomic_write(folder / "gt_column.npy") as f:
        np.save(f, out["gt_column"])
    print(f"wrote {len(out['images'])} captures, patterns.json, calibration.json, gt_depth.png to {folder}")
    return 0
