"""``depth3d calibrate stereo``: stereo calibration from left/right board images (or a live pair)."""

from __future__ import annotations

import argparse

from depth3d.cli._common import add_force_arg, check_output_file, refuse_existing


def register(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="calibrate cameras (stereo pairs) from board images",
                              description="Calibrate a stereo pair: board corners (sub-pixel), per-camera "
                              "intrinsics, stereo extrinsics with fixed intrinsics, rectification. Writes an "
                              "OpenCV FileStorage YAML plus a JSON twin.")
    p.add_argument("what", choices=("stereo",), help="what to calibrate")
    p.add_argument("--left", help="left images: glob pattern in quotes, e.g. 'DIR/left*.jpg'")
    p.add_argument("--right", help="right images: glob pattern (paired with --left in sorted order)")
    p.add_argument("--live", metavar="SPEC", help="capture pairs from a stereo source instead, e.g. "
                   "'stereo:uvc?left=0&right=1' (every frame showing the board in both views is kept, until --frames pairs)")
    p.add_argument("--frames", type=int, default=20, help="pairs to collect with --live (default 20)")
    p.add_argument("--board", choices=("chessboard", "charuco"), default="chessboard")
    p.add_argument("--cols", type=int, default=7, help="chessboard: inner corners per row; charuco: squares")
    p.add_argument("--rows", type=int, default=7, help="chessboard: inner corners per column; charuco: squares")
    p.add_argument("--square", type=float, default=1.0,
                   help="square size in the unit you want depth in (metres); default 1 = square units")
    p.add_argument("--marker", type=float, default=None, help="charuco marker size (default 0.75 * square)")
    p.add_argument("--dictionary", default="DICT_4X4_50", help="charuco ArUco dictionary")
    p.add_argument("--alpha", type=float, default=0.0,
                   help="rectification: 0 = crop to valid pixels (default), 1 = keep all pixels")
    p.add_argument("--max-view-rms", type=float, default=None,
                   help="drop views whose per-camera RMS exceeds this many pixels and recalibrate")
    p.add_argument("--lines", metavar="PNG", help="also write a rectified pair with horizontal lines")
    p.add_argument("-o", "--output", required=True, help="calibration file (.yaml; a .json twin is written too)")
    add_force_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from depth3d.cli import CLIError
    from depth3d.stereo.calibration import Board, calibrate_stereo, read_image_pairs

    out = check_output_file(args.output, (".yaml", ".yml", ".json"), force=args.force, what="calibration file")
    if out.suffix.lower() != ".json":  # the JSON twin is replaced too: refuse an unrelated file of that name
        refuse_existing([out.with_suffix(".json")], args.force)
    if args.lines:
        check_output_file(args.lines, (".png", ".jpg"), force=args.force, what="--lines picture")
    if args.frames < 1:
        raise CLIError("--frames must be >= 1", code=2)
    board = Board(args.board, args.cols, args.rows, args.square, args.marker, args.dictionary)
    if args.live:
        L, R, names = _collect_live(args.live, board, args.frames)
    else:
        if not args.left or not args.right:
            raise CLIError("give --left and --right image patterns, or --live SPEC", code=2)
        L, R, names = read_image_pairs(args.left, args.right)
    calib = calibrate_stereo(L, R, board, names=names, alpha=args.alpha, max_view_rms=args.max_view_rms,
                             progress=True)
    files = calib.save(args.output)
    print(f"pairs used: {len(calib.views)}; dropped: {', '.join(calib.dropped) or 'none'}")
    for name, (a, b) in zip(calib.views, calib.per_view_rms):
        print(f"  {name}: RMS left {a:.3f} px, right {b:.3f} px")
    print(f"RMS left {calib.rms_left:.3f} px, right {calib.rms_right:.3f} px, stereo {calib.rms:.3f} px")
    print(f"baseline {calib.baseline:.4f} (board units: square = {args.square}), "
          f"rectified focal {calib.focal:.2f} px")
    if args.lines:
        import cv2

        from depth3d.core.atomic import atomic_path
        from depth3d.geometry.board import find_corners
        from depth3d.stereo.rectify import Rectifier, draw_rectification

        rect = Rectifier(calib)
        i = int(np.argmin(calib.per_view_rms.max(axis=1)))
        k = names.index(calib.views[i])
        fl, fr = find_corners(L[k], board), find_corners(R[k], board)
        pts = (rect.rectify_points(fl[0], "left"), rect.rectify_points(fr[0], "right"))
        pic = draw_rectification(*rect(L[k], R[k]), points=pts)
        with atomic_path(args.lines) as tmp:
            cv2.imwrite(str(tmp), pic)
        files.append(args.lines)
    print("wrote " + ", ".join(map(str, files)))
    return 0


def _collect_live(spec: str, board, frames: int):
    """Grab raw pairs from a stereo source until ``frames`` pairs show the board in both images."""
    from tqdm import tqdm

    from depth3d.capture.source import open_source
    from depth3d.geometry.board import find_corners

    L, R, names = [], [], []
    spec = spec if spec.startswith("stereo:") else f"stereo:{spec}"
    with open_source(spec, raw=True) as src, tqdm(total=frames, desc="pairs") as bar:
        for i, (left, right, _t) in enumerate(src.pairs()):
            if find_corners(left, board) is not None and find_corners(right, board) is not None:
                L.append(left)
                R.append(right)
                names.append(f"live{i:05d}")
                bar.update(1)
            if len(L) >= frames:
                break
    return L, R, names
