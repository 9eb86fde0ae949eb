"""``depth3d tof``: decode raw AMCW ToF frame folders to depth, or simulate raw frames.

    depth3d tof decode RAW_DIR -o OUT [--min-amplitude 20] [--no-flying-filter]
    depth3d tof simulate -o RAW_DIR [--frames 3] [--noise low] [--scene demo|room] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from depth3d.cli import CLIError
from depth3d.cli._common import add_command, add_command_group, add_device_arg, check_output_folder
from depth3d.core.device import resolve_device


def register(subparsers) -> None:
    sub = add_command_group(subparsers, "tof", "tof_command",
                            help="time-of-flight: decode raw correlation frames, simulate a ToF camera",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = add_command(sub, "decode", _decode, "output folder: depth_NNNNNN.png (16-bit mm), confidence_NNNNNN.png "
                    "(8-bit), amplitude_NNNNNN.npy, intrinsics.json",
                    help="raw frame folder (meta.json + NNNNNN_f<F>_s<S>.png) -> depth PNGs")
    d.add_argument("folder", help="raw frame folder (layout: depth3d.tof.raw)")
    d.add_argument("--min-amplitude", type=float, default=20.0, help="low-amplitude filter (counts)")
    d.add_argument("--no-flying-filter", action="store_true", help="keep flying pixels")
    add_device_arg(d)
    s = add_command(sub, "simulate", _simulate, "raw folder to write",
                    help="render raw frames of the virtual ToF camera into a raw folder")
    s.add_argument("--frames", type=int, default=3)
    s.add_argument("--noise", choices=("none", "low", "medium", "high"), default="low")
    s.add_argument("--scene", choices=("demo", "room"), default="demo")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--width", type=int, default=640)
    s.add_argument("--height", type=int, default=480)
    s.add_argument("--multipath", type=float, default=0.0, help="diffuse multipath strength (0 = none)")


def _decode(args) -> int:
    import cv2
    import numpy as np
    from tqdm import tqdm

    from depth3d.core.atomic import atomic_write
    from depth3d.io.depth_png import write_depth_png
    from depth3d.tof.decode import decode_tof
    from depth3d.tof.raw import ToFRawFolder

    resolve_device(args.device)  # decoding is vectorised numpy; --device only checks the request
    check_output_folder(args.output, force=args.force, patterns=("depth_*.png", "confidence_*.png",
                                                                  "amplitude_*.npy", "intrinsics.json"))
    folder = ToFRawFolder(args.folder)
    folder.check()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    folder.intrinsics.save(out / "intrinsics.json")
    for index in tqdm(folder.indices, desc="tof decode", unit="frame", disable=len(folder) < 2):
        raw = folder.read(index)
        res = decode_tof(raw, folder.frequencies_hz, folder.intrinsics, phase_offsets=folder.phase_offsets,
                         min_amplitude=args.min_amplitude, flying_filter=not args.no_flying_filter)
        write_depth_png(out / f"depth_{index:06d}.png", res.depth, 0.001)
        ok, buf = cv2.imencode(".png", np.clip(res.confidence * 255, 0, 255).astype(np.uint8))
        with atomic_write(out / f"confidence_{index:06d}.png") as f:
            f.write(buf.tobytes())
        with atomic_write(out / f"amplitude_{index:06d}.npy") as f:
            np.save(f, res.amplitude)
        print(f"frame {index}: {int(res.valid.sum())} valid pixels, {int(res.flying.sum())} flying removed, "
              f"unambiguous range {res.unambiguous_range:.2f} m")
    print(f"wrote {len(folder)} depth images to {out}")
    return 0


def _simulate(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from depth3d.core.pose import Pose
    from depth3d.io.depth_png import write_depth_png
    from depth3d.sim.render import SceneRenderer
    from depth3d.sim.scene import demo_scene
    from depth3d.sim.tof_sensor import ToFSensor, tof_intrinsics
    from depth3d.tof.raw import write_tof_frame, write_tof_meta

    if args.frames <= 0:
        raise CLIError("--frames must be positive", code=2)
    check_output_folder(args.output, force=args.force)
    sensor = ToFSensor.with_noise(args.noise, intrinsics=tof_intrinsics(args.width, args.height),
                                  multipath=args.multipath)
    if args.scene == "demo":
        renderer = SceneRenderer(demo_scene(args.seed))
        poses = [Pose.identity()] * args.frames
    else:
        from depth3d.sim.scene import generate_room
        from depth3d.sim.trajectory import make_trajectory

        scene = generate_room(args.seed)
        renderer = SceneRenderer(scene)
        poses = make_trajectory(scene, "orbit", args.frames)
    out = Path(args.output)
    for i, pose in enumerate(tqdm(poses, desc="tof simulate", unit="frame")):
        r = sensor.render(renderer, pose, np.random.default_rng([args.seed, i]))
        write_tof_frame(out, i, r["frames"])
        write_depth_png(out / "gt" / f"depth_{i:06d}.png", r["gt_depth"], 0.001)
    write_tof_meta(out, sensor.frequencies_hz, sensor.steps, sensor.intrinsics, frame_count=len(poses))
    print(f"wrote {len(poses)} raw frames ({len(sensor.frequencies_hz)} frequencies x {sensor.steps} steps) "
          f"to {out} (ground-truth depth in {out / 'gt'})")
    return 0
