"""Depth image -> point cloud: depth3d vs Open3D's tensor API vs plain numpy, same run, same frames.

    python benchmarks/bench_depth_to_cloud.py [--repeats 50] [-o benchmarks/results/depth_to_cloud.md]

Each contender gets a uint16 millimetre depth image of a synthetic scene (a slanted floor, boxes and 8%
holes), drops invalid pixels and returns (N, 3) float32 points in metres. Timings are medians of interleaved
rounds (load from other processes hits all contenders alike).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import interleaved, machine, today  # noqa: E402

from depth3d.core import Intrinsics  # noqa: E402
from depth3d.geometry import depth_to_points  # noqa: E402

SIZES = [(640, 480), (848, 480), (1280, 720)]


def scene_depth(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = 1.0 + 3.0 * (1 - v / h) + 0.3 * np.sin(u / 40.0)
    for _ in range(6):
        x0, y0 = rng.integers(0, w - w // 5), rng.integers(0, h - h // 5)
        depth[y0:y0 + h // 6, x0:x0 + w // 6] = rng.uniform(0.5, 2.0)
    mm = np.rint(depth * 1000).astype(np.uint16)
    mm[rng.random((h, w)) < 0.08] = 0
    return mm


def numpy_plain(depth: np.ndarray, intr: Intrinsics) -> np.ndarray:
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w]
    z = depth.astype(np.float32) * np.float32(0.001)
    valid = z > 0
    zv = z[valid]
    x = (u[valid] - intr.cx) / intr.fx * zv
    y = (v[valid] - intr.cy) / intr.fy * zv
    return np.stack([x, y, zv], axis=1).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("-o", "--output", default=str(Path(__file__).parent / "results" / "depth_to_cloud.md"))
    args = ap.parse_args()
    import open3d as o3d
    import torch

    rows = []
    for w, h in SIZES:
        intr = Intrinsics(w, h, 0.9 * w, 0.9 * w, (w - 1) / 2, (h - 1) / 2)
        depth = scene_depth(w, h)
        o3d_img = o3d.t.geometry.Image(o3d.core.Tensor(depth))
        o3d_K = o3d.core.Tensor(intr.K)
        depth_t = torch.from_numpy(depth)
        ours = depth_to_points(depth, intr, 0.001)
        ref = o3d.t.geometry.PointCloud.create_from_depth_image(o3d_img, o3d_K, depth_scale=1000.0,
                                                                  depth_max=100.0).point.positions.numpy()
        assert ours.shape == ref.shape and np.abs(np.sort(ours, 0) - np.sort(ref, 0)).max() < 1e-5
        t = interleaved({
            "depth3d": lambda: depth_to_points(depth, intr, 0.001),
            "depth3d_torch": lambda: depth_to_points(depth_t, intr, 0.001),
            "open3d_tensor": lambda: o3d.t.geometry.PointCloud.create_from_depth_image(
                o3d_img, o3d_K, depth_scale=1000.0, depth_max=100.0),
            "numpy": lambda: numpy_plain(depth, intr),
        }, repeats=args.repeats)
        rows.append((w, h, len(ours), t))
        print(f"{w}x{h}: " + ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in t.items())
              + f"; Open3D/depth3d = {t['open3d_tensor'] / t['depth3d']:.2f}x")
    lines = [
        "## Depth -> point cloud (CPU)", "",
        f"- machine: {machine()}", f"- date: {today()}",
        f"- command: `python benchmarks/bench_depth_to_cloud.py --repeats {args.repeats}`",
        "- uint16 mm depth of a synthetic scene with 8% holes -> (N, 3) float32 metres of the valid pixels; "
        "medians of interleaved rounds. open3d_tensor = `o3d.t.geometry.PointCloud.create_from_depth_image` "
        "(Open3D 0.20, CPU); numpy = a plain vectorised numpy version; depth3d = the fused C++ kernel "
        "(numpy in/out); depth3d_torch = the torch path (CPU tensor in/out).", "",
        "| size | points | depth3d ms | depth3d torch ms | Open3D tensor ms | numpy ms | Open3D / depth3d | "
        "numpy / depth3d |", "|---|---|---|---|---|---|---|---|"]
    for w, h, n, t in rows:
        lines.append(f"| {w}x{h} | {n} | {1e3 * t['depth3d']:.2f} | {1e3 * t['depth3d_torch']:.2f} | "
                     f"{1e3 * t['open3d_tensor']:.2f} | {1e3 * t['numpy']:.2f} | "
                     f"{t['open3d_tensor'] / t['depth3d']:.2f}x | {t['numpy'] / t['depth3d']:.2f}x |")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
