"""Detection time per scan: VoteNet full configuration (the paper's: SA 2048/1024/512/256, 256 proposals),
20,000 input points, batch 1, pre-processing + network + post-processing (NMS, empty-box removal), with
our compiled ops (``--ops depth3d``) and with the plain-PyTorch ops (``--ops reference``: the reference
back end of :mod:`depth3d.ops`, ``DEPTH3D_OPS_BACKEND=reference``), each in its own child process (the
back end is chosen once per process).

    python benchmarks/bench_detect.py --device cpu --ops depth3d reference --repeats 5 --threads 2

``--path`` picks how the network runs: ``fast`` (default; as ``depth3d.detection.Detector`` runs it:
``fold_batchnorm(net)``, batch norms folded and the channels-last inference path), ``folded`` (batch norms
folded, plain layout: ``fold_batchnorm(net, fast=False)``), ``plain`` (the eval-mode network as trained).
Several paths are timed in interleaved rounds in one process (rotating order, the same cloud and weights),
so that load from other processes hits them alike: on a shared machine compare paths that way, e.g.

    python benchmarks/bench_detect.py --ops depth3d --path folded fast --repeats 15 --threads 1

Input: a simulated single-view scan (``depth3d.sim.dataset.make_scan``) when Open3D is available, else a
room-like random cloud; the weights are random (timing does not depend on them). Prints a table with
medians (and the load average before/after), the reference/depth3d factor per path and the ratio of
each path to the first; ``--json`` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from depth3d.detection.decode import DEMO_CONFIG, parse_predictions  # noqa: E402
from depth3d.models.votenet import VoteNet, fold_batchnorm, sunrgbd_config  # noqa: E402

BACKEND_ENV = {"depth3d": "compiled", "reference": "reference"}
PATHS = ("fast", "folded", "plain")


def make_cloud(n: int) -> np.ndarray:
    """(n, 3) float32 upright points of a simulated single-view scan (the simulator's RealSense-like camera
    at 640x480; uniform random points when Open3D's ray casting is unavailable)."""
    try:
        from depth3d.sim.dataset import ScanOptions, make_scan

        pts = make_scan(7, 0, ScanOptions(width=640, height=480, num_points=n))["pc"][:, :3]
    except ImportError:
        rng = np.random.default_rng(0)
        pts = rng.uniform([-3, 0.5, -1.3], [3, 6, 1.5], (n, 3))
    return np.asarray(pts, np.float32)


def detect_once(net: VoteNet, pts: np.ndarray, device: str) -> float:
    cfg = sunrgbd_config()
    t0 = time.perf_counter()
    h = pts[:, 2] - np.percentile(pts[:, 2], 0.99)
    pc = torch.from_numpy(np.concatenate([pts, h[:, None]], 1).astype(np.float32))[None].to(device)
    with torch.no_grad():
        ep = net(pc)
    parse_predictions(ep, cfg, DEMO_CONFIG, point_clouds=pc)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--ops", nargs="+", choices=("depth3d", "reference"), default=["depth3d", "reference"])
    ap.add_argument("--path", nargs="+", choices=PATHS, default=["fast"],
                    help="network path(s), timed interleaved: fast (as Detector runs it), folded, plain")
    ap.add_argument("--points", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args()
    paths = list(dict.fromkeys(args.path))
    res = {}
    if len(args.ops) > 1:  # one child process per back end
        import subprocess
        import tempfile

        for name in args.ops:
            with tempfile.TemporaryDirectory() as tmp:
                argv = [sys.executable, __file__, "--device", args.device, "--ops", name, "--path", *paths,
                        "--points", str(args.points), "--repeats", str(args.repeats), "--threads",
                        str(args.threads), "--json", str(Path(tmp) / "r.json")]
                env = dict(os.environ, DEPTH3D_OPS_BACKEND=BACKEND_ENV[name])
                if subprocess.run(argv, env=env).returncode == 0:
                    res[name] = json.loads((Path(tmp) / "r.json").read_text())[name]
    else:
        from depth3d import ops

        name = args.ops[0]
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        pts = make_cloud(args.points)
        net = VoteNet.from_dataset_config(sunrgbd_config(), input_feature_dim=1, num_proposal=256,
                                          sampling="vote_fps").eval().to(args.device)
        nets = {"fast": lambda: fold_batchnorm(net), "folded": lambda: fold_batchnorm(net, fast=False),
                "plain": lambda: net}
        nets = {p: nets[p]() for p in paths}
        if ops.backend_name() != BACKEND_ENV[name]:
            print(f"ops {name}: unavailable (depth3d.ops runs its {ops.backend_name()} back end here)")
            return 1
        for p in paths:
            detect_once(nets[p], pts, args.device)  # warm-up (and build)
        times = {p: [] for p in paths}
        load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        for r in range(args.repeats):
            for p in paths[r % len(paths):] + paths[:r % len(paths)]:
                times[p].append(detect_once(nets[p], pts, args.device))
        load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        res[name] = {}
        for p in paths:
            t = times[p]
            res[name][p] = {"median_s": statistics.median(t), "min_s": min(t), "times_s": t}
            print(f"{name:10s} {p:7s} median {statistics.median(t) * 1000:8.1f} ms  min {min(t) * 1000:8.1f} ms  "
                  f"({args.repeats} runs, {args.points} points, {args.device}, {args.threads} threads, "
                  f"load average {load0:.1f} -> {load1:.1f})")
        res[name]["load_average"] = [load0, load1]
        for p in paths[1:]:
            f = res[name][paths[0]]["median_s"] / res[name][p]["median_s"]
            pair = statistics.median(a / b for a, b in zip(times[paths[0]], times[p]))
            res[name][f"speedup_{p}_over_{paths[0]}"] = f
            print(f"{name:10s} {paths[0]} / {p}: {f:.2f}x (median of per-round ratios {pair:.2f}x)")
    if "depth3d" in res and "reference" in res:
        for p in paths:
            f = res["reference"][p]["median_s"] / res["depth3d"][p]["median_s"]
            res[f"factor_reference_over_depth3d_{p}"] = f
            print(f"{p}: plain-PyTorch ops / depth3d ops: {f:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": args.device, "points": args.points,
                                               "threads": args.threads, "torch": torch.__version__,
                                               "paths": paths, **res}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
