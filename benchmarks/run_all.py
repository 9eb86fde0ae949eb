"""Run every benchmark with its default arguments (``make bench``) and keep each one's raw output.

    python benchmarks/run_all.py [--device cpu|cuda] [--only NAME ...]

Each script prints its tables (and the peer it is compared with in the same run); the output goes to
``benchmarks/results/raw/NAME.txt`` with the date, the machine and the exact command. Some scripts also
rewrite their own file in ``benchmarks/results/`` by default (depth_to_cloud, roundtrip, floor, capture, sim,
tof_sl, calibration sections); notes written by hand below their tables must then be carried over before
``benchmarks/assemble.py`` rebuilds BENCHMARKS.md. Scripts whose peer is not installed
(torch-cluster: ``pip install --no-build-isolation torch-cluster``, about 11 minutes to build) say so and
measure what they can.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
#: (name, arguments); ``{device}`` is replaced by --device
SCRIPTS = [
    ("bench_depth_to_cloud", []),
    ("acc_sunrgbd_roundtrip", []),
    ("acc_floor", []),
    ("bench_ops", ["--device", "{device}"]),
    ("bench_stream", []),
    ("bench_sim", []),
    ("bench_stereo", []),
    ("acc_calibration", []),
    ("bench_tof", []),
    ("bench_sl", []),
    ("bench_models", ["--device", "{device}"]),
    ("bench_detect", ["--device", "{device}"]),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these scripts (names without .py)")
    args = ap.parse_args()
    names = [n for n, _ in SCRIPTS]
    for n in args.only or []:
        if n not in names:
            ap.error(f"unknown benchmark {n!r}; expected one of {names}")
    out_dir = ROOT / "results" / "raw"
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name, extra in SCRIPTS:
        if args.only and name not in args.only:
            continue
        cmd = [sys.executable, str(ROOT / f"{name}.py"), *(a.format(device=args.device) for a in extra)]
        head = (f"# {name}\n# date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}\n"
                f"# machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
                f"load {os.getloadavg()[0]:.1f}\n# command: python benchmarks/{name}.py {' '.join(cmd[2:])}\n")
        print(head, end="", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT.parent, capture_output=True, text=True)
        text = head + proc.stdout + (f"\n# stderr:\n{proc.stderr[-4000:]}" if proc.returncode else "")
        text += f"\n# exit {proc.returncode}, {time.perf_counter() - t0:.0f} s\n"
        (out_dir / f"{name}.txt").write_text(text)
        print(proc.stdout[-3000:], flush=True)
        if proc.returncode:
            failed.append(name)
            print(f"{name}: exit {proc.returncode}\n{proc.stderr[-2000:]}", file=sys.stderr, flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
