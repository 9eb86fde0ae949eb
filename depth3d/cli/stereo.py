"""``depth3d stereo LEFT RIGHT --calib FILE -o OUT``: disparity, depth, cloud and a colour-mapped picture."""

from __future__ import annotations

import argparse

from depth3d.cli._common import add_force_arg, check_output_folder

OUTPUTS = ("disparity.npy", "depth.npy", "disparity.png", "depth.png", "depth_color.png", "rectified.png", "cloud.ply")


def register(subparsers) -> None:
    p = subparsers.add_parser("stereo", help="depth from a calibrated stereo pair",
                              description="Rectify, match (OpenCV SGBM/BM), convert to depth and a point "
                              "cloud. Writes disparity.npy / disparity.png, depth.npy / depth.png (16-bit, "
                              "millimetres when the calibration is metric), cloud.ply, depth_color.png, "
                              "rectified.png (with horizontal lines).")
    p.add_argument("left", help="left image")
    p.add_argument("right", help="right image")
    p.add_argument("--calib", required=True, help="calibration file from 'depth3d calibrate stereo'")
    p.add_argument("--method", choices=("sgbm", "sgbm3way", "hh", "bm"), default="sgbm")
    p.add_argument("--num-disparities", type=int, default=None, help="multiple of 16 (default: width / 5)")
    p.add_argument("--block-size", type=int, default=None)
    p.add_argument("--subpixel", type=int, default=1, help="gradient sub-pixel refinement iterations (0 = off)")
    p.add_argument("--fill", type=int, default=0, help="edge-aware hole filling radius (0 = off)")
    p.add_argument("--alpha", type=float, default=None, help="rectification alpha override")
    p.add_argument("--max-depth", type=float, default=None, help="mask depths beyond (calibration units)")
    p.add_argument("--rectified", action="store_true", help="inputs are already rectified")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="only cpu (OpenCV matchers)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    add_force_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import cv2
    import numpy as np

    from depth3d.cli import CLIError
    from depth3d.core.cloud import PointCloud
    from depth3d.core.atomic import atomic_path, atomic_write
    from depth3d.io.clouds import write_cloud
    from depth3d.stereo.calibration import load_calibration
    from depth3d.stereo.matching import MatcherConfig
    from depth3d.stereo.pipeline import StereoPipeline, colorize
    from depth3d.stereo.rectify import draw_rectification

    if args.device == "cuda":
        raise CLIError("depth3d stereo runs OpenCV's CPU matchers; --device cuda is not supported", code=2)
    check_output_folder(args.output, force=args.force, patterns=OUTPUTS)
    calib = load_calibration(args.calib)  # checked before any image is read
    imgs = []
    for f in (args.left, args.right):
        from depth3d.io.depth_png import imread

        im = imread(f)
        if im.ndim == 3 and im.shape[2] == 4:
            im = im[..., :3]
        imgs.append(im)
    size = (imgs[0].shape[1], imgs[0].shape[0])
    if tuple(calib.image_size) != size:
        raise ValueError(f"calibration file {args.calib}: image size mismatch: calibrated for "
                         f"{calib.image_size[0]}x{calib.image_size[1]}, {args.left} is {size[0]}x{size[1]}")
    cfg = MatcherConfig(method=args.method, num_disparities=args.num_disparities, block_size=args.block_size,
                        subpixel=args.subpixel, edge_aware=args.fill)
    pipe = StereoPipeline(calib, cfg, alpha=args.alpha, max_depth=args.max_depth, rectify=not args.rectified)
    res = pipe(*imgs)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for name, arr in (("disparity.npy", res.disparity), ("depth.npy", res.depth)):
        with atomic_write(out / name, "wb") as f:
            np.save(f, arr)
    unit_mm = 1000.0
    for name, img in (("disparity.png", np.clip(res.disparity * 16, 0, 65535).astype(np.uint16)),
                      ("depth.png", np.clip(np.rint(res.depth * unit_mm), 0, 65535).astype(np.uint16)),
                      ("depth_color.png", colorize(res.disparity)),
                      ("rectified.png", draw_rectification(res.left_rect, res.right_rect))):
        with atomic_path(out / name) as tmp:
            if not cv2.imwrite(str(tmp), img):
                raise RuntimeError(f"could not write {out / name}")
    write_cloud(out / "cloud.ply", PointCloud(res.points, res.colors))
    valid = float((res.disparity > 0).mean())
    z = res.depth[res.depth > 0]
    print(f"valid {valid:.1%} of pixels; {len(res.points)} points; depth "
          f"{(np.median(z) if len(z) else float('nan')):.3f} median (calibration units)")
    print(f"wrote {out}/{{disparity,depth}}.{{npy,png}}, cloud.ply, depth_color.png, rectified.png")
    return 0
