"""``depth3d sim``: procedural rooms, rendered RGB-D sequences and VoteNet-style scan datasets.

    depth3d sim room -o scene.npz --seed 3              a furnished room (loadable with sim:scene.npz)
    depth3d sim render -o DIR --seed 3 --frames 30      colour/depth PNGs along a camera path + ground truth
    depth3d sim scans -o DIR --num 1000 --seed 0 --workers 2     single-view scans (VoteNet SUN RGB-D layout)
    depth3d sim pack DIR -o train.npz --split train --points 4096   one file for fast training
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from depth3d.cli import CLIError
from depth3d.cli._common import add_command, add_command_group, check_output_file, check_output_folder


def register(sub: argparse._SubParsersAction) -> None:
    ss = add_command_group(sub, "sim", "sim_command", help="simulator: rooms, rendered sequences, scan datasets",
                           description="Procedural indoor rooms furnished with the ten SUN RGB-D classes, a "
                           "RealSense D435-like camera, and single-view scan datasets in VoteNet's layout.")

    r = add_command(ss, "room", run_room, "scene file (.npz)", seed=True, help="generate a room and save it (.npz)",
                    description="Generate a furnished room from a seed and save it as .npz "
                    "(render it with the source 'sim:FILE.npz').")
    r.add_argument("--objects", type=int, default=None, help="furniture objects to place (default 4..8)")
    r.add_argument("--clutter", type=int, default=None, help="clutter items (default 3..10)")

    d = add_command(ss, "render", run_render, "output folder", seed=True,
                    help="render an RGB-D sequence along a camera path",
                    description="Render colour (PNG), depth (16-bit PNG, 1 mm units) and ground truth "
                    "(npz: exact depth, instance and class ids, pose) for each frame of a trajectory "
                    "through a room, plus intrinsics.json and boxes.json.")
    src = d.add_mutually_exclusive_group()
    src.add_argument("--scene", help="scene file from 'depth3d sim room' (default: generate from --seed)")
    d.add_argument("--frames", type=int, default=30)
    d.add_argument("--width", type=int, default=640)
    d.add_argument("--height", type=int, default=480)
    d.add_argument("--trajectory", choices=("orbit", "walk"), default="orbit")
    d.add_argument("--noise", choices=("realsense", "none"), default="realsense")

    s = add_command(ss, "scans", run_scans, "output folder", seed=True,
                    help="write single-view scans (VoteNet SUN RGB-D layout)",
                    description="Write NUM single-view scans of random rooms: IDX_pc.npz (pc: N x 6 "
                    "x,y,z,r,g,b, upright depth frame), IDX_bbox.npy (K x 8: centre, half sizes, -yaw, "
                    "class), IDX_votes.npz (point_votes: N x 10), train.txt/val.txt/split.json, meta.json.")
    s.add_argument("--num", type=int, required=True, help="number of scans")
    s.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    s.add_argument("--points", type=int, default=20000, help="points per scan (default 20000)")
    s.add_argument("--min-points", type=int, default=50,
                   help="points an object needs in the scan to get a box (default 50)")
    s.add_argument("--width", type=int, default=640)
    s.add_argument("--height", type=int, default=480)
    s.add_argument("--val-fraction", type=float, default=0.2)
    s.add_argument("--no-noise", action="store_true", help="exact depth (no RealSense noise/dropouts)")
    s.add_argument("--profile", choices=("d435", "sunrgbd"), default="d435",
                   help="d435: random furniture seen by the D435-like camera (default); sunrgbd: rooms of a "
                   "kind (bedroom, office, ...) with unlabelled furniture, doors, windows, SUN RGB-D-like views "
                   "and a RealSense- or Kinect-like camera drawn per scan")
    s.add_argument("--images", action="store_true",
                   help="also write IDX_color.png, IDX_depth.png (16-bit mm) and IDX_calib.json per scan")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    k = add_command(ss, "pack", run_pack, "output .npz", seed=True,
                    help="pack a scan folder's split into one .npz for fast training",
                    description="Sub-sample every scan of a split (train.txt/val.txt) to --points "
                    "points and write them with their boxes into one .npz (float16 points), which `depth3d train det "
                    "--layout packed` reads without per-scan decompression.")
    k.add_argument("scans", help="folder written by `depth3d sim scans`")
    k.add_argument("--split", choices=("train", "val", "all"), default="train")
    k.add_argument("--points", type=int, default=4096, help="points kept per scan (default 4096)")


def _positive(**kw) -> None:
    for k, v in kw.items():
        if v is not None and v <= 0:
            raise CLIError(f"--{k.replace('_', '-')} must be positive, got {v}", code=2)


def run_room(args: argparse.Namespace) -> int:
    from depth3d.sim.scene import generate_room

    _positive(objects=args.objects)
    if args.clutter is not None and args.clutter < 0:
        raise CLIError(f"--clutter must be >= 0, got {args.clutter}", code=2)
    check_output_file(args.output, (".npz",), force=args.force, what="scene file")
    scene = generate_room(args.seed, n_objects=args.objects, n_clutter=args.clutter)
    scene.save(args.output)
    lx, ly, hz = scene.room_size
    print(f"{args.output}: room {lx:.2f} x {ly:.2f} x {hz:.2f} m, {len(scene.meshes)} meshes, "
          f"objects: {', '.join(o.class_name for o in scene.objects) or 'none'}")
    return 0


def run_render(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from depth3d.core.atomic import atomic_write
    from depth3d.io.depth_png import write_color, write_depth_png
    from depth3d.sim.source import open_sim_source

    _positive(frames=args.frames, width=args.width, height=args.height)
    if args.scene and not Path(args.scene).is_file():
        raise FileNotFoundError(f"scene file {args.scene} does not exist")
    rest = args.scene if args.scene else "room"
    out = check_output_folder(args.output, force=args.force)
    out.mkdir(parents=True, exist_ok=True)
    src = open_sim_source(rest, seed=args.seed, frames=args.frames, width=args.width, height=args.height,
                          trajectory=args.trajectory, noise=args.noise)
    with src:
        src.depth_intrinsics.save(out / "intrinsics.json")
        with atomic_write(out / "boxes.json", "w") as f:
            json.dump({"columns": ["cx", "cy", "cz", "l", "w", "h", "yaw", "class_id"],
                       "frame": "world, z up, metres; full sizes; yaw counter-clockwise about +z",
                       "boxes": [[*map(float, o.centre), *map(float, o.size), float(o.heading), o.class_id]
                                 for o in src.scene.objects],
                       "classes": [o.class_name for o in src.scene.objects]}, f, indent=1)
        for frame in tqdm(src, total=args.frames, desc="sim render", unit="frame"):
            i = frame.index
            write_color(out / f"color_{i:06d}.png", frame.color)
            write_depth_png(out / f"depth_{i:06d}.png", frame.depth, frame.depth_scale)
            with atomic_write(out / f"gt_{i:06d}.npz", "wb") as f:
                np.savez_compressed(f, depth=frame.extras["gt_depth"], instance=frame.extras["instance"],
                                    class_id=frame.extras["class_id"],
                                    world_from_camera=frame.extras["world_from_camera"])
    print(f"{out}: {args.frames} frames {args.width}x{args.height}")
    return 0


def run_pack(args: argparse.Namespace) -> int:
    from depth3d.datasets.votenet_detection import pack_scans, split_ids

    _positive(points=args.points)
    check_output_file(args.output, (".npz",), force=args.force, what="packed file")
    src = Path(args.scans)
    if not src.is_dir():
        raise CLIError(f"{src}: not a folder of scans (depth3d sim scans -o FOLDER)")
    ids = split_ids(src, args.split)
    if args.split != "all" and ids is None:
        raise CLIError(f"{src}: no {args.split}.txt; use --split all")
    pack_scans(src, args.output, points_per_scan=args.points, seed=args.seed, ids=ids)
    print(f"{args.output}: {len(ids) if ids is not None else 'all'} scans of {src} ({args.split}), "
          f"{args.points} points each")
    return 0


def run_scans(args: argparse.Namespace) -> int:
    from depth3d.sim.dataset import ScanOptions, write_scans

    _positive(num=args.num, workers=args.workers, points=args.points, width=args.width, height=args.height)
    if not 0 <= args.val_fraction < 1:
        raise CLIError(f"--val-fraction must be in [0, 1), got {args.val_fraction}", code=2)
    check_output_folder(args.output, force=args.force)
    opt = ScanOptions(width=args.width, height=args.height, num_points=args.points, min_points=args.min_points,
                      noise=not args.no_noise, profile=args.profile)
    meta = write_scans(args.output, args.num, seed=args.seed, options=opt, workers=args.workers,
                       val_fraction=args.val_fraction, progress=not args.quiet, images=args.images)
    boxes = sum(s["boxes"] for s in meta["scans"])
    print(f"{args.output}: {args.num} scans, {boxes} boxes "
          f"({', '.join(f'{k} {v}' for k, v in meta['boxes_per_class'].items() if v)})")
    return 0
