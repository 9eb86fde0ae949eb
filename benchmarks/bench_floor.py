"""Floor levelling speed: ``level_camera(points, "auto")`` of this checkout against the same function at an
earlier git revision, interleaved in one process on the same simulated frames (so machine load hits both
alike), with a check that both give the same floor.

    python benchmarks/bench_floor.py [--rev 38abd90] [--seeds 3-5] [--frames 4] [--repeats 3]

Prints a Markdown table and writes it to benchmarks/results/floor_speed.md.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _util import add_image_size, arg_parser, machine, today  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "floor_speed.md"


def _module_at(rev: str):
    """depth3d/geometry/floor.py as it was at git revision ``rev``, imported under another name."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:depth3d/geometry/floor.py"], check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="floor-rev-")) / "floor_rev.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("floor_rev", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["floor_rev"] = mod
    spec.loader.exec_module(mod)
    return mod


def _frames(seeds: list[int], frames: int, width: int, height: int) -> list[np.ndarray]:
    from depth3d.capture.source import open_source
    from depth3d.geometry import depth_to_points

    out = []
    for seed in seeds:
        spec = f"sim:room?seed={seed}&frames={frames}&width={width}&height={height}&trajectory=walk"
        with open_source(spec) as src:
            for f in src:
                p = np.asarray(depth_to_points(f.depth_m(), f.depth_intrinsics)).reshape(-1, 3)
                out.append(p[np.isfinite(p).all(1) & (p[:, 2] > 0)])
    return out


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--rev", default="38abd90", help="git revision to compare with (default: before the speed-up)")
    ap.add_argument("--seeds", default="3-5")
    ap.add_argument("--frames", type=int, default=4)
    add_image_size(ap, 320, 240)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("-o", "--output", default=str(OUT))
    args = ap.parse_args()
    from depth3d.geometry import floor as now

    a, _, b = args.seeds.partition("-")
    frames = _frames(list(range(int(a), int(b or a) + 1)), args.frames, args.width, args.height)
    mods = {f"at {args.rev}": _module_at(args.rev), "this checkout": now}
    times = {k: [] for k in mods}
    answers = {k: [] for k in mods}
    for rep in range(args.repeats):
        for p in frames:
            for k, mod in mods.items():
                t = time.perf_counter()
                lev = mod.level_camera(p, "auto")
                times[k].append(time.perf_counter() - t)
                if rep == 0:
                    answers[k].append(None if lev.floor is None else (lev.floor.normal.tolist(), lev.floor.offset))
    same = sum(x == y for x, y in zip(*answers.values()))
    load = open("/proc/loadavg").read().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    lines = ["## Floor levelling speed (`level_camera(points, 'auto')`)", "",
             f"- date: {today()}; machine: {machine()}; load average {' '.join(load)}",
             f"- command: `python benchmarks/bench_floor.py --rev {args.rev} --seeds {args.seeds} --frames "
             f"{args.frames} --width {args.width} --height {args.height} --repeats {args.repeats}`",
             f"- {len(frames)} simulated walk frames ({args.width}x{args.height}, median "
             f"{int(np.median([len(p) for p in frames]))} points), both versions interleaved in one process",
             "", "| version | median ms/frame | 90th pct | same floor as the other |", "|---|---|---|---|"]
    for k in mods:
        t = np.asarray(times[k]) * 1e3
        lines.append(f"| {k} | {np.median(t):.1f} | {np.percentile(t, 90):.1f} | {same}/{len(frames)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
