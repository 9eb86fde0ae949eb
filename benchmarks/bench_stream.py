"""Streaming benchmark: replay a librealsense recording -> align colour to depth -> cloud -> voxel
down-sample, at 848x480 and 1280x720, on the CPU, with the time split per stage.

The recordings are written first with depth3d's Recorder (synthetic ray-cast frames; the colour camera
sits 5 cm beside the depth camera, so alignment really projects every point into the colour image).

Stages per frame:
  replay   Source.read(): librealsense non-real-time playback, decode, copy, pairing into an RGBDFrame
  align    registering colour to the depth points (cloud-with-colour minus cloud-without-colour time)
  cloud    depth -> (N, 3) points
  voxel    voxel down-sampling (mean point and colour per voxel)

Peers, on the same in-memory frames and in interleaved rounds: depth3d.geometry's general functions
(rgbd_to_cloud + voxel_downsample), and Open3D's legacy voxel_down_sample on the same points.

    python benchmarks/bench_stream.py [--frames 60] [--repeats 3] [--voxel 0.02] [--out benchmarks/results/capture.md]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks._util import arg_parser, interleaved, machine, today  # noqa: E402

SIZES = [(848, 480), (1280, 720)]


def make_recording(path: Path, w: int, h: int, frames: int) -> None:
    from dataclasses import replace

    from depth3d.capture.record import Recorder
    from depth3d.sim.sample import synthetic_frames

    base = list(synthetic_frames(8, w, h, color_size=(w, h), baseline=0.05))
    with Recorder(path) as rec:
        for i in range(frames):
            f = base[(i * 3) % len(base)]
            rec.add_frame(replace(f, index=i, timestamp=i / 30.0))


def replay_pass(path: Path, voxel: float, fused: bool = False) -> dict[str, float]:
    """One pass over the file: seconds spent per stage, summed over frames, and the frame count."""
    from depth3d.capture.pipeline import StreamPipeline
    from depth3d.capture.source import open_source

    sp = StreamPipeline(voxel)
    t = {"replay": 0.0, "align+cloud": 0.0, "voxel": 0.0}
    n = 0
    cpu0 = time.process_time()
    t_all = time.perf_counter()
    with open_source(str(path)) as src:
        while True:
            t0 = time.perf_counter()
            frame = src.read()
            t1 = time.perf_counter()
            if frame is None:
                break
            if fused:
                sp.cloud(frame)
                t2 = t3 = time.perf_counter()
            else:
                pts, cols = sp.points(frame)
                t2 = time.perf_counter()
                sp.downsample(pts, cols)
                t3 = time.perf_counter()
            t["replay"] += t1 - t0
            t["align+cloud"] += t2 - t1
            t["voxel"] += t3 - t2
            n += 1
        t["total"] = time.perf_counter() - t_all
        t["cpu"] = time.process_time() - cpu0  # all threads of this process (librealsense's decoder too)
    t["frames"] = n
    t["dropped"] = src.dropped
    return t


def main() -> int:
    ap = arg_parser(__doc__)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--voxel", type=float, default=0.02)
    ap.add_argument("--out", default="benchmarks/results/capture.md")
    ap.add_argument("--recordings", help="folder with bench_WxH.db3 files made earlier (--make-only); "
                    "default: write them into a temporary folder")
    ap.add_argument("--make-only", action="store_true", help="only write the recordings into --recordings")
    ap.add_argument("--note", default="", help="extra text for the machine description")
    ap.add_argument("--append", action="store_true", help="append to --out instead of replacing it")
    args = ap.parse_args()
    import torch

    if args.make_only:
        Path(args.recordings).mkdir(parents=True, exist_ok=True)
        for w, h in SIZES:
            make_recording(Path(args.recordings) / f"bench_{w}x{h}.db3", w, h, args.frames)
        return 0
    try:
        import open3d as o3d
    except ImportError:
        o3d = None

    torch.set_num_threads(2)
    from depth3d import geometry
    from depth3d.capture.pipeline import StreamPipeline
    from depth3d.capture.source import open_source

    geometry._native.load()
    rows = []
    peers = []
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in SIZES:
            if args.recordings:
                path = Path(args.recordings) / f"bench_{w}x{h}.db3"
            else:
                path = Path(tmp) / f"bench_{w}x{h}.db3"
                make_recording(path, w, h, args.frames)
            passes = [replay_pass(path, args.voxel) for _ in range(args.repeats)]
            fused_passes = [replay_pass(path, args.voxel, fused=True) for _ in range(args.repeats)]
            fps_fused = statistics.median(p["frames"] / p["total"] for p in fused_passes)
            cpu_ms = statistics.median(p["cpu"] / p["frames"] * 1000 for p in fused_passes)
            # per-stage medians (ms / frame) over passes
            med = {k: statistics.median(p[k] / p["frames"] * 1000 for p in passes)
                   for k in ("replay", "align+cloud", "voxel", "total")}
            fps = statistics.median(p["frames"] / p["total"] for p in passes)
            # split align from cloud, and compare with peers, on in-memory frames
            with open_source(str(path)) as src:
                frame = src.read()
            sp = StreamPipeline(args.voxel)
            pts, cols = sp.points(frame)
            cl = geometry.rgbd_to_cloud(frame)
            contenders = {
                "cloud": lambda: sp.points(frame, color=False),
                "align+cloud": lambda: sp.points(frame),
                "voxel": lambda: sp.downsample(pts, cols),
                "geometry align+cloud": lambda: geometry.rgbd_to_cloud(frame),
                "geometry voxel": lambda: geometry.voxel_downsample(cl, args.voxel),
                "fused align+cloud+voxel": lambda: sp.cloud(frame),
            }
            if o3d is not None:
                pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts.astype(np.float64)))
                pcd.colors = o3d.utility.Vector3dVector(cols.astype(np.float64))
                contenders["open3d voxel"] = lambda: pcd.voxel_down_sample(args.voxel)
            t = interleaved(contenders, repeats=15, warmup=2)
            ms = {k: v * 1000 for k, v in t.items()}
            rows.append((f"{w}x{h}", passes[0]["frames"], sum(p["dropped"] for p in passes), fps, fps_fused, cpu_ms, med,
                         ms["cloud"], ms["align+cloud"] - ms["cloud"], len(pts)))
            peers.append((f"{w}x{h}", ms))
            print(f"{w}x{h}: {fps:.1f} fps end to end; per frame ms: {med}; in-memory: {ms}", flush=True)
    lines = [
        "## Streaming: replay -> align -> cloud -> voxel (CPU)",
        "",
        f"- machine: {machine()}{args.note}",
        f"- date: {today()}",
        f"- command: `python benchmarks/bench_stream.py --frames {args.frames} --repeats {args.repeats} "
        f"--voxel {args.voxel}`",
        "- input: librealsense .db3 recordings written by depth3d's Recorder (synthetic ray-cast room, uint16 "
        "depth, RGB colour from a second camera 5 cm to the side), played with real time off; "
        f"voxel {args.voxel} m. End-to-end fps = frames / wall time of the whole pass (median of passes). "
        "Goal: >= 60 fps at 848x480. CPU ms/frame = process CPU time (every thread, librealsense's decoding "
        "included) per frame: what one idle core would need, robust to other jobs taking the CPU.",
        "",
        "| size | frames | dropped | fps, fused kernel | CPU ms/frame, fused (all threads) | fps, stage by stage |"
        " replay ms | align+cloud ms | voxel ms | total ms/frame | cloud ms (in memory) | align ms (in memory) | points |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, n, dropped, fps, fps_fused, cpu_ms, med, cloud_ms, align_ms, npts in rows:
        lines.append(f"| {size} | {n} | {dropped} | {fps_fused:.1f} | {cpu_ms:.2f} | {fps:.1f} | {med['replay']:.2f} | "
                     f"{med['align+cloud']:.2f} | "
                     f"{med['voxel']:.2f} | {med['total']:.2f} | {cloud_ms:.2f} | {align_ms:.2f} | {npts} |")
    lines += [
        "",
        "Per-stage peers on the same frame (in memory, interleaved rounds, median ms):",
        "",
        "| size | depth3d align+cloud | geometry.rgbd_to_cloud | ratio | depth3d voxel | geometry.voxel_downsample "
        "| ratio | Open3D voxel_down_sample | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, ms in peers:
        o3d_cells = (f"{ms['open3d voxel']:.2f} | {ms['open3d voxel'] / ms['voxel']:.1f}x |" if "open3d voxel" in ms
                     else "n/a | n/a |")
        lines.append(f"| {size} | {ms['align+cloud']:.2f} | {ms['geometry align+cloud']:.2f} | "
                     f"{ms['geometry align+cloud'] / ms['align+cloud']:.1f}x | {ms['voxel']:.2f} | "
                     f"{ms['geometry voxel']:.2f} | {ms['geometry voxel'] / ms['voxel']:.1f}x | " + o3d_cells)
    lines += ["", "Fused kernel (align + cloud + voxel in one pass over the image), in memory, median ms: "
              + ", ".join(f"{size}: {ms['fused align+cloud+voxel']:.2f}" for size, ms in peers)]
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a" if args.append else "w") as f:
        f.write(("\n" if args.append else "") + text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
