"""VoteNet checkpoints on real scans and on held-out simulated scans, side by side.

    python benchmarks/acc_detection_real.py --model NAME=CHECKPOINT [--model ...] \
        [--sim NAME=PACKED.npz ...] [--seeds 5] [--shots DIR]

For every checkpoint:

* AP@0.25 / AP@0.5 per class on the two real SUN RGB-D frames of ``../shared/data/sunrgbd`` (boxes of the
  ten VoteNet classes: bed, night stand, dresser in 000001; bed, night stand in 000002), with the reference's
  evaluation settings (the ones of ``depth3d eval det``). The frames hold about 280k points and the network
  sees a random subset of them, so the figures are given for point draw 0 (what ``eval det`` reports) and
  as the mean over ``--seeds`` draws;
* mAP on held-out simulated scans (``--sim``, ``depth3d sim pack`` files never used in training or selection);
* the boxes ``depth3d detect`` finds on the real D435 recording (frames 169, 170), the real TUM desk frame
  and the SUN RGB-D frames (class, score, centre distance), and, with ``--shots``, a rendered picture of
  each (Open3D under a virtual display).

Real frames are only measured here: nothing is trained, tuned or chosen on them.
Writes benchmarks/results/detection_real.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import git_rev, machine, today  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "detection_real.md"
SHARED = ROOT.parent / "shared" / "data"
SUN_CLASSES = ("bed", "night_stand", "dresser")


def _metrics(model: tuple, ds) -> dict:
    """mAP and per-class AP at IoU 0.25 and 0.5 of ``model`` (``load_votenet``'s tuple) on dataset ``ds``."""
    from torch.utils.data import DataLoader

    from depth3d.detection.evaluation import detection_metrics, evaluate

    net, dcfg, _ = model
    scans = evaluate(net, DataLoader(ds, batch_size=4), dcfg, "cpu", progress=False)
    out = {}
    for t in (0.25, 0.5):
        m = detection_metrics(scans, dcfg.class2type, (t,))
        out[f"mAP@{t}"] = m[f"mAP@{t}"]
        out[f"AP@{t}"] = {k: v for k, v in m[f"AP@{t}"].items() if v == v}
    return out


def _num_points(model: tuple) -> int:
    return int(model[2].get("num_points") or 4096)


def _sun(model: tuple, seeds: int) -> list[dict]:
    from depth3d.datasets.votenet_detection import SunRGBDFrameDataset

    n = _num_points(model)
    return [_metrics(model, SunRGBDFrameDataset(SHARED / "sunrgbd", num_points=n, seed=s)) for s in range(seeds)]


def _sim(model: tuple, path: str) -> dict:
    from depth3d.datasets.votenet_detection import PackedVoteNetDataset

    return _metrics(model, PackedVoteNetDataset(path, num_points=_num_points(model)))


def _tum_folder(tmp: Path) -> Path:
    from depth3d.capture.tum import tum_folder_of_pair

    src = SHARED / "real" / "rgbd-frames"
    return tum_folder_of_pair(src / "TUM_color.png", src / "TUM_depth.png", tmp / "tum")


def _run_detect(spec: str, out: Path, ckpt: str, *extra: str) -> list[dict]:
    """``depth3d detect SPEC -o OUT --checkpoint CKPT EXTRA...``; the frames of every boxes JSON it wrote (a
    scan's file is one frame, a recording's holds ``frames``)."""
    import os

    p = subprocess.run([sys.executable, "-m", "depth3d", "detect", spec, "-o", str(out), "--checkpoint", ckpt,
                        *extra], capture_output=True, text=True, cwd=ROOT, timeout=900,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    if p.returncode != 0:
        raise SystemExit(f"detect {spec} failed: {p.stderr.strip()}")
    frames = []
    for js in sorted(out.glob("*_boxes.json")):
        rec = json.loads(js.read_text())
        frames += rec.get("frames", [rec])
    return frames


def _detect(ckpt: str, inputs: dict[str, str], tmp: Path, shots: Path | None, tag: str) -> dict[str, list]:
    """``depth3d detect`` on each input; {name: [frame boxes, ...]} with (class, score, distance) rows."""
    found = {}
    for name, spec in inputs.items():
        extra = ["--screenshot", str(shots / f"{tag}_{name}.png")] if shots is not None else []
        found[name] = [[(b["class"], b["score"], float(np.linalg.norm(b["center"]))) for b in fr.get("boxes", [])]
                       for fr in _run_detect(spec, tmp / f"{tag}_{name}", ckpt, *extra)]
    return found


def _duplicates(ckpt: str, tmp: Path, nms: str, tag: str) -> tuple[int, int, int]:
    """``detect data/sample.db3`` (every frame) with ``--nms``: (boxes overlapping another box of the same
    frame at oriented 3D IoU > 0.25, boxes, frames)."""
    from depth3d.geometry.boxes import box3d_iou

    frames = _run_detect(str(ROOT / "data" / "sample.db3"), tmp / f"dup_{tag}_{nms}", ckpt, "--nms", nms)
    dup = total = 0
    for fr in frames:
        c = [np.asarray(b["corners"]) for b in fr.get("boxes", [])]
        total += len(c)
        dup += sum(any(box3d_iou(c[i], c[j])[0] > 0.25 for j in range(len(c)) if j != i) for i in range(len(c)))
    return dup, total, len(frames)


def _fmt_ap(d: dict, cls: str) -> str:
    v = d.get(cls)
    return "-" if v is None else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", required=True, help="NAME=CHECKPOINT")
    ap.add_argument("--sim", action="append", default=[], help="NAME=PACKED.npz held-out simulated scans")
    ap.add_argument("--seeds", type=int, default=5, help="point draws on the real SUN RGB-D frames")
    ap.add_argument("--shots", help="folder for rendered pictures of the real-frame detections")
    ap.add_argument("--note", default="", help="a line to add under the table (load, what the models are)")
    args = ap.parse_args()
    if not (SHARED / "sunrgbd").is_dir():
        raise SystemExit(f"{SHARED / 'sunrgbd'} absent: the real frames are needed")
    models = dict(m.split("=", 1) for m in args.model)
    sims = dict(s.split("=", 1) for s in args.sim)
    shots = Path(args.shots) if args.shots else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    lines = ["## Detection on real scans (the shipped model and its predecessor)", "",
             f"- date: {today()}; machine: {machine()}; commit {git_rev()}",
             f"- command: `python benchmarks/acc_detection_real.py {' '.join('--model ' + m for m in args.model)} "
             f"{' '.join('--sim ' + s for s in args.sim)} --seeds {args.seeds}`",
             "- real SUN RGB-D frames 000001 and 000002 (`../shared/data/sunrgbd`; 5 labelled boxes of the ten "
             "classes); reference evaluation settings (as `depth3d eval det`); the network sees a random subset "
             f"of each frame's points: draw 0 (what `eval det` prints) and the mean of {args.seeds} draws", ""]
    if args.note:
        lines += [args.note, ""]
    lines += ["| model | points | mAP@0.25 (draw 0) | mAP@0.25 (mean of draws) | mAP@0.5 (draw 0) | mAP@0.5 (mean) | "
              + " | ".join(f"AP@0.25 {c} (mean)" for c in SUN_CLASSES) + " |",
              "|---|---|---|---|---|---|" + "---|" * len(SUN_CLASSES)]
    sim_rows = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        inputs = {"d435": str(SHARED / "real" / "realsense-d435" / "single_depth_color_640x480.bag"),
                  "tum": str(_tum_folder(tmp)),
                  "sun1": f"sunrgbd:{SHARED / 'sunrgbd'}:000001", "sun2": f"sunrgbd:{SHARED / 'sunrgbd'}:000002"}
        det_rows, dup_rows = [], []
        from depth3d.models.votenet import load_votenet

        for name, ck in models.items():
            model = load_votenet(ck)
            for nms in ("class", "agnostic"):
                d, n, f = _duplicates(ck, tmp, nms, name)
                dup_rows.append(f"| {name} | {nms} | {n} | {d} | {d / max(f, 1):.2f} |")
            runs = _sun(model, args.seeds)
            m25 = [r["mAP@0.25"] for r in runs]
            m50 = [r["mAP@0.5"] for r in runs]
            per = {c: np.mean([r["AP@0.25"].get(c, 0.0) for r in runs]) for c in SUN_CLASSES}
            lines.append(f"| {name} | {_num_points(model)} | {m25[0]:.3f} | {np.mean(m25):.3f} (min {min(m25):.3f}, "
                         f"max {max(m25):.3f}) | {m50[0]:.3f} | {np.mean(m50):.3f} | "
                         + " | ".join(f"{per[c]:.2f}" for c in SUN_CLASSES) + " |")
            for sname, path in sims.items():
                r = _sim(model, path)
                sim_rows.append((name, sname, r))
            for inp, frames in _detect(ck, inputs, tmp, shots, name).items():
                for k, boxes in enumerate(frames):
                    desc = ", ".join(f"{c} {s:.2f} at {d:.1f} m" for c, s, d in sorted(boxes, key=lambda b: -b[1]))
                    det_rows.append(f"| {name} | {inp}{'' if len(frames) == 1 else f' #{k}'} | {len(boxes)} | "
                                    f"{desc or 'none'} |")
    if sim_rows:
        lines += ["", "Held-out simulated scans (never used in training or checkpoint choice):", "",
                  "| model | scans | mAP@0.25 | mAP@0.5 |", "|---|---|---|---|"]
        lines += [f"| {m} | {s} | {r['mAP@0.25']:.3f} | {r['mAP@0.5']:.3f} |" for m, s, r in sim_rows]
    lines += ["", "Duplicates on the bundled recording (`detect data/sample.db3`, all frames): boxes overlapping "
              "another box of the same frame at oriented 3D IoU > 0.25:", "",
              "| model | NMS | boxes | overlapping | a frame |", "|---|---|---|---|---|"] + dup_rows
    lines += ["", "Boxes `depth3d detect` finds (defaults: objectness 0.5, class-agnostic NMS, `--tilt auto`); "
              "distance from the camera to the box centre:", "",
              "| model | input | boxes | class score at distance |", "|---|---|---|---|"] + det_rows
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
