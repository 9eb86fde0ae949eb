"""``depth3d demo``: the main job on the bundled sample, no camera needed.

Today: the bundled RGB-D frame (``data/sample_rgbd``) -> coloured point cloud -> voxel down-sampling ->
PLY file and a rendered view (a window with ``--view``, else a PNG rendered through Xvfb).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from depth3d.cli import CLIError

REPO_DATA = Path(__file__).resolve().parents[2] / "data"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on the bundled sample (no camera needed)",
                       description=__doc__)
    p.add_argument("-o", "--output", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument("--data", default=str(REPO_DATA), help="folder with the bundled samples (default: data/)")
    p.add_argument("--voxel", type=float, default=0.02, help="voxel size in metres (default 0.02)")
    p.add_argument("--view", action="store_true", help="open the Open3D window instead of rendering a PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from depth3d.cli._common import load_rgbd
    from depth3d.geometry import rgbd_to_cloud, voxel_downsample
    from depth3d.io.clouds import write_cloud
    from depth3d.viz.viewer import show

    data = Path(args.data)
    sample = data / "sample_rgbd"
    if not (sample / "depth.png").is_file():
        raise CLIError(f"bundled sample {sample}/depth.png not found; pass --data DIR (a checkout's data/ folder)")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    from depth3d.geometry import _native

    _native.load()  # import torch and the compiled kernels before timing
    t0 = time.perf_counter()
    frame = load_rgbd(sample / "depth.png", sample / "intrinsics.json", sample / "color.jpg")
    t1 = time.perf_counter()
    cloud = rgbd_to_cloud(frame)
    t2 = time.perf_counter()
    down = voxel_downsample(cloud, args.voxel)
    t3 = time.perf_counter()
    write_cloud(out / "sample_cloud.ply", down)
    print(f"RGB-D frame {frame.depth.shape[1]}x{frame.depth.shape[0]} ({sample}) read in {1e3 * (t1 - t0):.1f} ms")
    print(f"coloured cloud: {len(cloud)} points in {1e3 * (t2 - t1):.1f} ms; voxel {args.voxel} m -> "
          f"{len(down)} points in {1e3 * (t3 - t2):.1f} ms")
    print(f"wrote {out / 'sample_cloud.ply'}")
    if args.view:
        show([down], title="depth3d demo")
    else:
        show([down], screenshot=out / "sample_view.png")
        print(f"wrote {out / 'sample_view.png'} (rendered off-screen)")
    return 0
