"""Floor-plane levelling accuracy against the simulator's exact camera poses.

    python benchmarks/acc_floor.py [--seeds 3-12] [--frames 8] [--width 320 --height 240]

For every frame of ``sim:room?seed=S&trajectory=walk`` (RealSense-like depth noise and dropouts) the
floor plane found by :func:`depth3d.geometry.floor.estimate_floor` is compared with the true world up
direction in the camera frame (from ``extras["world_from_camera"]``): the tilt error in degrees and the
camera-height error in metres. Writes benchmarks/results/floor.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import add_image_size, arg_parser, machine, today  # noqa: E402

from depth3d.capture.source import open_source  # noqa: E402
from depth3d.geometry import depth_to_points  # noqa: E402
from depth3d.geometry.floor import estimate_floor  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "floor.md"


def _seeds(text: str) -> list[int]:
    a, _, b = text.partition("-")
    return list(range(int(a), int(b or a) + 1))


def _png_points(path: Path, per_metre: float, f: float = 525.0, cx: float = 319.5, cy: float = 239.5):
    import cv2

    d = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float64) / per_metre
    v, u = np.indices(d.shape)
    m = d > 0
    z = d[m]
    return np.c_[(u[m] - cx) * z / f, (v[m] - cy) * z / f, z]


def _ang(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def real_frames(root: Path = Path(__file__).resolve().parents[2] / "shared" / "data") -> list[str]:
    """Real frames: D435 office wall (no floor in view), TUM, ICL-NUIM, SUN RGB-D (Rtilt as truth)."""
    if not root.is_dir():
        return ["(real frames skipped: no shared data folder)", ""]
    from depth3d.detection.detect import camera_points
    from depth3d.io.sunrgbd import read_frame

    rows = []  # (name, cloud, true up in the camera frame or None, expectation)
    bag = root / "real" / "realsense-d435" / "single_depth_color_640x480.bag"
    with open_source(str(bag)) as src:
        for f in src:
            rows.append((f"D435 office wall #{f.index}", camera_points(f), None,
                         "no floor, or a horizontal surface within 10 deg of level"))
    fr = root / "real" / "rgbd-frames"
    rows.append(("TUM desk (floor at the bottom)", _png_points(fr / "TUM_depth.png", 5000.0), None, "floor"))
    for i in range(5):
        rows.append((f"ICL-NUIM living room {i:05d}", _png_points(fr / "icl-nuim-living-room" / "depth" /
                                                                 f"{i:05d}.png", 1000.0), None, "floor"))
    m = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # camera (x, y, z) -> SUN depth frame (x, z, -y)
    for fid in ("000001", "000002"):
        s = read_frame(root / "sunrgbd", fid, with_image=False)  # upright points; camera = M^T Rtilt^T p
        rows.append((f"SUN RGB-D {fid}", s.camera_points(), m.T @ s.Rtilt.T @ np.array([0.0, 0.0, 1.0]), "Rtilt"))
    out = ["### Real frames", "", "| frame | expected | found | floor normal vs camera up | vs truth | "
           "camera height |", "|---|---|---|---|---|---|"]
    for name, pts, up, expect in rows:
        fl = estimate_floor(pts)
        truth = f"Rtilt tilt {_ang(up, [0, -1, 0]):.1f} deg" if up is not None else expect
        if fl is None:
            out.append(f"| {name} | {truth} | no floor | - | - | - |")
            continue
        err = f"{_ang(fl.normal, up):.2f} deg" if up is not None else "-"
        out.append(f"| {name} | {truth} | floor ({100 * fl.fraction:.0f}% of points) | "
                   f"{_ang(fl.normal, [0, -1, 0]):.1f} deg | {err} | {fl.camera_height:.2f} m |")
    out.append("")
    return out


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--seeds", default="3-12", help="room seeds, e.g. 3-12")
    ap.add_argument("--frames", type=int, default=8, help="frames of each walk")
    add_image_size(ap, 320, 240)
    ap.add_argument("-o", "--output", default=str(OUT))
    args = ap.parse_args()
    errs, herrs, floor_frac, times, misses = [], [], [], [], 0
    for seed in _seeds(args.seeds):
        spec = f"sim:room?seed={seed}&frames={args.frames}&width={args.width}&height={args.height}&trajectory=walk"
        with open_source(spec) as src:
            for f in src:
                pts = np.asarray(depth_to_points(f.depth_m(), f.depth_intrinsics)).reshape(-1, 3)
                pts = pts[np.isfinite(pts).all(1) & (pts[:, 2] > 0)]
                T = f.extras["world_from_camera"]
                up_true = T[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # world +z in the camera frame
                t = time.perf_counter()
                fl = estimate_floor(pts)
                times.append(time.perf_counter() - t)
                # share of the valid points that lie on the true floor (world z < 2 cm)
                world_z = pts @ T[2, :3] + T[2, 3]
                floor_frac.append(float(np.mean(world_z < 0.02)))
                if fl is None:
                    misses += 1
                    errs.append(np.inf)
                    herrs.append(np.inf)
                    continue
                errs.append(float(np.degrees(np.arccos(np.clip(fl.normal @ up_true, -1, 1)))))
                herrs.append(abs(fl.camera_height - T[2, 3]))
    e, h, ff = np.array(errs), np.array(herrs), np.array(floor_frac)
    ok = np.isfinite(e)
    bad = np.flatnonzero(~ok | (e > 3))
    lines = ["## Floor-plane levelling (`--tilt auto`) against exact poses", "",
             f"- date: {today()}; machine: {machine()}",
             f"- command: `python benchmarks/acc_floor.py --seeds {args.seeds} --frames {args.frames} "
             f"--width {args.width} --height {args.height}`",
             f"- {len(e)} frames of simulated walks through rooms (seeds {args.seeds}), RealSense-like depth noise; "
             "error = angle between the estimated floor normal and the true world up in the camera frame", "",
             "| frames | no floor found | median tilt error | 90th pct | max | frames > 3 deg | "
             "median height error | median time |",
             "|---|---|---|---|---|---|---|---|",
             f"| {len(e)} | {misses} | {np.median(e[ok]):.2f} deg | {np.percentile(e[ok], 90):.2f} deg | "
             f"{e[ok].max():.1f} deg | {int((e[ok] > 3).sum())} | {np.median(h[ok]) * 100:.1f} cm | "
             f"{np.median(times) * 1e3:.0f} ms |", ""]
    if len(bad):
        lines.append("Frames off by more than 3 degrees (or without a floor) and the share of their points on the "
                     "true floor: " + ", ".join(f"{e[i]:.1f} deg at {100 * ff[i]:.1f}%" for i in bad)
                     + f"; median share over all frames {100 * np.median(ff):.0f}%.")
        lines.append("")
    lines += real_frames()
    text = "\n".join(lines)
    print(text)
    Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
