"""SIGKILL a recorder at random moments; how many of the frames it had written does the file give back?

Each trial forks a child that records pre-rendered simulator frames with
:class:`depth3d.capture.record.Recorder` as fast as it can and reports on a pipe after every
``add_frame`` that returned; the parent kills it with SIGKILL after a random delay. Afterwards a separate
process plays every file (``RecordingSource``: check, salvage, repair) and reports per file the frames
played, whether they are the exact prefix 0..k-1, damaged/cut counts and whether the SQLite structure had
to be salvaged. Reported: the distribution of ``written - recovered`` (frames whose add_frame had returned
but which the file does not give back: librealsense writes on its own thread, so the last few frames may
still be queued when the process dies) and the number of unreadable files.

    python benchmarks/kill_record.py --trials 200 --width 160 --height 120 --out /tmp/kills
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import add_image_size, arg_parser  # noqa: E402


def _render(n: int, width: int, height: int):
    from depth3d.capture.source import open_source

    with open_source(f"sim:room?seed=5&frames={n}&width={width}&height={height}") as src:
        return [f for f in src]


def _child(frames, path: Path, w: int, total: int) -> None:  # pragma: no cover - runs in the fork
    import dataclasses

    from depth3d.capture.record import Recorder

    rec = Recorder(path, fps=30)
    for i in range(total):
        f = frames[i % len(frames)]
        rec.add_frame(dataclasses.replace(f, index=i, timestamp=i / 30.0))
        os.write(w, b"%d\n" % (i + 1))
    rec.close()
    os._exit(0)


def kill_trials(args) -> list[dict]:
    frames = _render(20, args.width, args.height)
    rng = random.Random(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for t in range(args.trials):
        path = out / f"k{t:04d}.db3"
        for p in (path, path.with_name(f".{path.name}.recording")):
            p.unlink(missing_ok=True)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover
            os.close(r)
            try:
                _child(frames, path, w, args.max_frames)
            finally:
                os._exit(1)
        os.close(w)
        delay = rng.uniform(args.min_delay, args.max_delay)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.close(r)
        written = int(data.split()[-1]) if data.split() else 0
        rows.append({"file": str(path), "written": written, "delay_s": round(delay, 3)})
        if (t + 1) % 20 == 0:
            print(f"{t + 1} kills", file=sys.stderr, flush=True)
    return rows


def check(files: list[str]) -> None:
    """Play each file; print one JSON line per file."""
    from depth3d.capture.playback import RecordingSource

    for f in files:
        try:
            with RecordingSource(f) as src:
                idx = [fr.index for fr in src]
                probe = src._probe
                print(json.dumps({"file": f, "played": len(idx), "prefix": idx == list(range(len(idx))),
                                  "damaged": src.damaged, "cut": probe.get("cut_frames", 0),
                                  "repaired": bool(probe.get("repaired"))}), flush=True)
        except Exception as exc:  # noqa: BLE001 - reported
            print(json.dumps({"file": f, "error": str(exc)[:200]}), flush=True)


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--trials", type=int, default=200)
    add_image_size(ap, 160, 120)
    ap.add_argument("--max-frames", type=int, default=100000)
    ap.add_argument("--min-delay", type=float, default=0.3, help="seconds after the fork (recorder set-up included)")
    ap.add_argument("--max-delay", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/depth3d-kill-record")
    ap.add_argument("--check", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.check:
        check(args.check)
        return
    t0 = time.time()
    rows = kill_trials(args)
    env = dict(os.environ)
    env.setdefault("DEPTH3D_CACHE", str(Path(args.out) / "cache"))
    res = subprocess.run([sys.executable, __file__, "--check", *[r["file"] for r in rows]], capture_output=True,
                         text=True, env=env)
    checked = {d["file"]: d for d in map(json.loads, res.stdout.splitlines())}
    lost = collections.Counter()
    unreadable = not_prefix = damaged = cut = before_first = 0
    for r in rows:
        c = checked.get(r["file"], {"error": "no result"})
        r.update(c)
        if "error" in c:
            if r["written"] == 0:
                before_first += 1  # killed before the first frame was written: nothing to recover
            else:
                unreadable += 1
                print("unreadable:", r, file=sys.stderr)
            continue
        lost[r["written"] - c["played"]] += 1
        not_prefix += not c["prefix"]
        damaged += c["damaged"]
        cut += c["cut"]
    Path(args.out, "kills.json").write_text(json.dumps(rows, indent=1))
    summary = {"trials": len(rows), "killed_before_first_frame": before_first, "unreadable": unreadable,
               "not_a_prefix": not_prefix, "damaged_frames": damaged, "cut_frames": cut,
               "salvaged_files": sum(1 for f in Path(args.out, "cache", "checked").glob("*.json")
                                     if json.loads(f.read_text()).get("salvaged")),
               "written_minus_recovered": dict(sorted(lost.items())),
               "written_frames_median": sorted(r["written"] for r in rows)[len(rows) // 2],
               "frame": f"{args.width}x{args.height}", "seconds": round(time.time() - t0, 1)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
