"""Stereo benchmark: pipeline speed next to OpenCV SGBM alone, and depth accuracy on simulated pairs.

    python benchmarks/bench_stereo.py [--repeat 30] [--output benchmarks/results/stereo.md]

Speed: 640x480 grey pair from the virtual D435-like sensor, 128 disparities, SGBM (MODE_SGBM, block 5).
"SGBM alone" = ``cv2.StereoSGBM.compute`` on the already rectified pair with the same parameters.
"pipeline" = rectify both images (fixed-point maps) + the same SGBM + fixed-point -> float disparity +
depth (f*B/d, masked) + coloured point cloud of the valid pixels. Medians of ``--repeat`` runs,
interleaved (A, B, A, B ...) so that load from other processes hits both alike.

Accuracy: error per ground-truth depth bin on the box scene (``test_scene``), pixels a matcher can be
asked to match (surface seen by both cameras, outside SGBM's left band of num_disparities columns).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timing(pair, calib, repeat: int, subpixel_variants=(0, 1)) -> list[tuple[str, float]]:
    import cv2

    from depth3d.stereo.matching import MatcherConfig
    from depth3d.stereo.pipeline import StereoPipeline

    left, right = pair.left, pair.right
    pipes = {f"pipeline (subpixel={s})": StereoPipeline(calib, MatcherConfig(num_disparities=128, subpixel=s))
             for s in subpixel_variants}
    m = list(pipes.values())[0].matcher
    m.compute_fixed(left, right)  # build
    sgbm = m._left
    lr, rr = list(pipes.values())[0].rectifier(left, right)
    times: dict[str, list[float]] = {"OpenCV SGBM alone": []}
    times.update({k: [] for k in pipes})
    stages = {"rectify (2 remaps)": [], "disparity float + depth": [], "cloud": []}
    for _ in range(3):
        sgbm.compute(lr, rr)
        for p in pipes.values():
            p(left, right)
    for _ in range(repeat):
        t = time.perf_counter()
        sgbm.compute(lr, rr)
        times["OpenCV SGBM alone"].append(time.perf_counter() - t)
        for k, p in pipes.items():
            t = time.perf_counter()
            res = p(left, right)
            times[k].append(time.perf_counter() - t)
        p0 = list(pipes.values())[0]
        t = time.perf_counter()
        a, b = p0.rectifier(left, right)
        t1 = time.perf_counter()
        d16 = sgbm.compute(a, b)
        t2 = time.perf_counter()
        from depth3d.stereo.depth import depth_from_calibration
        from depth3d.stereo.matching import from_fixed_point

        z = depth_from_calibration(from_fixed_point(d16), p0.calib)
        t3 = time.perf_counter()
        p0.cloud_maker(z, a)
        t4 = time.perf_counter()
        stages["rectify (2 remaps)"].append(t1 - t)
        stages["disparity float + depth"].append(t3 - t2)
        stages["cloud"].append(t4 - t3)
    out = [(k, float(np.median(v))) for k, v in times.items()]
    out += [("  stage: " + k, float(np.median(v))) for k, v in stages.items()]
    return out


def accuracy(hfov: float, seed: int = 0):
    from depth3d.sim.stereo_sensor import StereoSensor, test_scene
    from depth3d.stereo.evaluate import error_table, matchable_mask
    from depth3d.stereo.matching import MatcherConfig
    from depth3d.stereo.pipeline import StereoPipeline

    sensor = StereoSensor(hfov_deg=hfov, seed=seed)
    pair = sensor.render(test_scene(seed))
    mask = matchable_mask(pair.disparity, 128)
    tables = {}
    for sub in (0, 2):
        pipe = StereoPipeline(sensor.calibration(), MatcherConfig(num_disparities=128, subpixel=sub), rectify=False)
        res = pipe(pair.left, pair.right, cloud=False)
        valid = float(((res.depth > 0) & mask).sum() / mask.sum())
        tables[sub] = (error_table(res.depth, pair.depth, mask), valid)
    return sensor, pair, tables


def main() -> int:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--output", default=None, help="write the markdown report here")
    ap.add_argument("--speed-only", metavar="NPZ", default=None,
                    help="time only, on a saved pair (np.savez with left, right, hfov); no rendering/Open3D")
    ap.add_argument("--save-pair", metavar="NPZ", default=None, help="save the 58-deg pair for --speed-only")
    args = ap.parse_args()
    if args.speed_only:
        from depth3d.sim.stereo_sensor import StereoSensor

        d = np.load(args.speed_only)

        class _P:
            left, right = d["left"], d["right"]

        sensor = StereoSensor(hfov_deg=float(d["hfov"]))
        rows = timing(_P, sensor.calibration(), args.repeat)
        print(f"OpenCV {cv2.__version__}, threads {cv2.getNumThreads()}, {platform.processor()}")
        print("| step | median ms | fps | x SGBM alone |")
        for k, v in rows:
            print(f"| {k} | {v * 1e3:.1f} | {1 / v:.1f} | {v / rows[0][1]:.2f} |")
        return 0
    lines = [f"# Stereo depth (issue #6)", "",
             f"Date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC. Machine: {platform.machine()}, "
             f"{platform.processor() or 'cpu'}, OpenCV {cv2.__version__}, cv2 threads {cv2.getNumThreads()}. "
             f"Load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores when the run started; timings are "
             "medians of interleaved runs.", "", f"Command: `python benchmarks/bench_stereo.py --repeat {args.repeat}"
             + (f" --output {args.output}`" if args.output else "`"), ""]
    results = {}
    for hfov in (58.0, 87.0):
        print(f"rendering + matching the simulated scene at HFOV {hfov} deg ...", flush=True)
        results[hfov] = accuracy(hfov)
    sensor, pair, _ = results[58.0]
    if args.save_pair:
        np.savez_compressed(args.save_pair, left=pair.left, right=pair.right, hfov=58.0)
    print("timing ...", flush=True)
    rows = timing(pair, sensor.calibration(), args.repeat)
    base = rows[0][1]
    lines += ["## Speed: 640x480, 128 disparities, SGBM block 5", "",
              "| step | median ms | fps | x SGBM alone |", "|---|---:|---:|---:|"]
    for k, v in rows:
        lines.append(f"| {k} | {v * 1e3:.1f} | {1 / v:.1f} | {v / base:.2f} |")
    lines += ["", "The pipeline rows include rectification of both raw images, the matcher, the fixed-point "
              "conversion, depth and a coloured cloud of every valid pixel. `subpixel=1` adds one "
              "gradient (Lucas-Kanade) refinement step, used for the accuracy numbers below.", ""]
    lines += ["## Accuracy on simulated active-stereo pairs (exact ground truth)", "",
              "Scene: `depth3d.sim.stereo_sensor.test_scene(0)` (5 boxes at 0.6-2.4 m, floor, wall at 3.2 m), "
              "IR dot projector, 640x480, baseline 50 mm, 2x2 supersampled, noise sigma 1 grey level. "
              "Scored pixels: surface visible to both cameras and outside SGBM's left band "
              "(x >= 127). Error = |Z - Z_gt| per ground-truth depth bin.", ""]
    for hfov, (sensor, pair, tables) in results.items():
        for sub, (table, valid) in tables.items():
            lines += [f"### HFOV {hfov:.0f} deg (fx = {sensor.intrinsics.fx:.1f} px), subpixel refinement "
                      f"{sub} iterations: valid {valid:.1%} of scored pixels", "",
                      "| depth bin (m) | pixels | valid | median abs err (mm) | median rel err | p90 rel err |",
                      "|---|---:|---:|---:|---:|---:|"]
            for r in table:
                lines.append(f"| {r['bin']} | {r['pixels']} | {r['valid']:.1%} | {r['median_abs_m'] * 1e3:.1f} | "
                             f"{r['median_rel']:.2%} | {r['p90_rel']:.2%} |")
            lines.append("")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        from depth3d.core.atomic import atomic_write

        with atomic_write(args.output, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
