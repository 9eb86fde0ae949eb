"""``depth3d demo``: the main job on the bundled sample, no camera needed.

Replays the bundled recording ``data/sample.db3`` (a librealsense ``.db3`` of a simulated RealSense walking
through a furnished room), turns every Nth frame into a coloured point cloud, levels it on the floor plane,
runs the shipped VoteNet (``data/votenet_synthetic.pt``) and writes, in ``-o/--output``:

* ``boxes.json``: per processed frame, the oriented 3D boxes (class, score, centre, size, heading, corners;
  upright frame: x right, y forward, z up, metres, camera at the origin);
* ``frame_NNNNNN_cloud.ply`` / ``frame_NNNNNN_boxes.ply``: the upright coloured cloud and the box line sets of
  the frame with the most detections;
* ``demo_view.png``: that frame's cloud and boxes (with class names) rendered off-screen (``--view`` opens a window instead).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from depth3d.cli import CLIError
from depth3d.cli._common import positive_int

REPO_DATA = Path(__file__).resolve().parents[2] / "data"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="replay the bundled recording, detect 3D objects, save or show the result",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument("--data", default=str(REPO_DATA), help="folder with the bundled samples (default: data/)")
    p.add_argument("--source", help="replay this recording/source instead of DATA/sample.db3")
    p.add_argument("--checkpoint", help="VoteNet checkpoint (default DATA/votenet_synthetic.pt)")
    p.add_argument("--every", type=positive_int, default=5, help="detect on every Nth frame (default 5)")
    p.add_argument("--threshold", type=float, default=0.5, help="objectness threshold (default 0.5)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default cpu")
    p.add_argument("--view", action="store_true", help="open the Open3D window instead of rendering a PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from depth3d.capture.source import open_source
    from depth3d.core.device import resolve_device
    from depth3d.cli.detect import DEFAULT_TILT
    from depth3d.core.cloud import PointCloud
    from depth3d.detection.detect import FrameDetector
    from depth3d.geometry import rgbd_to_cloud
    from depth3d.io.clouds import write_cloud
    from depth3d.viz.boxes import boxes_to_labels, boxes_to_lineset, write_boxes_ply
    from depth3d.viz.viewer import show

    if args.every < 1:
        raise CLIError("--every must be >= 1", 2)
    data = Path(args.data)
    source = args.source or str(data / "sample.db3")
    ckpt = Path(args.checkpoint) if args.checkpoint else data / "votenet_synthetic.pt"
    if not args.source and not Path(source).is_file():
        raise CLIError(f"bundled recording {source} not found; pass --data DIR (a checkout's data/ folder)")
    if not ckpt.is_file():
        raise CLIError(f"checkpoint {ckpt} not found; pass --checkpoint FILE (train one with `depth3d train det`)")
    device = resolve_device(args.device)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    det = FrameDetector(str(ckpt), device, args.threshold, tilt=DEFAULT_TILT, keep_records=True)
    best = None  # (number of boxes, index, upright cloud, boxes)
    times: list[float] = []
    with open_source(source) as src:
        print(f"replaying {source}: {src.info.get('frames', '?')} frames, detecting on every {args.every}th "
              f"with {ckpt.name}", flush=True)
        for i, frame in enumerate(src):
            if i % args.every:
                continue
            t0 = time.perf_counter()
            cloud = rgbd_to_cloud(frame).to_numpy()  # coloured, for the saved cloud and the picture
            res = det.process(i, frame, points=cloud.points)
            times.append(time.perf_counter() - t0)
            idx = det.records[-1]["index"]
            print(f"frame {idx:3d}: {len(cloud.points)} points, {len(res.boxes)} boxes ({det.summary()}) "
                  f"in {1e3 * times[-1]:.0f} ms", flush=True)
            if best is None or len(res.boxes) > best[0]:
                up = (np.asarray(cloud.points, np.float64) @ det.rotation.T).astype(np.float32)
                best = (len(res.boxes), idx, PointCloud(up, cloud.colors), res.boxes)
        damaged = int(getattr(src, "damaged", 0) or 0)
    if best is None:
        raise CLIError(f"{source}: no frames")
    det.write(out / "boxes.json", source=source, checkpoint=str(ckpt))
    _, idx, up_cloud, boxes = best
    write_cloud(out / f"frame_{idx:06d}_cloud.ply", up_cloud)
    write_boxes_ply(out / f"frame_{idx:06d}_boxes.ply", boxes)
    print(f"{len(det.records)} frames in {sum(times):.2f} s (median {1e3 * float(np.median(times)):.0f} ms a frame: "
          f"cloud, levelling, detection)")
    print(f"wrote {out / 'boxes.json'}, {out / f'frame_{idx:06d}_cloud.ply'}, {out / f'frame_{idx:06d}_boxes.ply'}")
    geoms = [up_cloud, boxes_to_lineset(boxes), boxes_to_labels(boxes)]  # boxes with their class names
    view = dict(front=[0.0, -1.0, 0.9], up=[0.0, 0.0, 1.0], zoom=0.55)
    if args.view:
        show(geoms, title=f"depth3d demo: frame {idx}", **view)
    else:
        show(geoms, screenshot=out / "demo_view.png", **view)
        print(f"wrote {out / 'demo_view.png'} (frame {idx}, rendered off-screen)")
    if damaged:  # the intact frames were processed; the loss is still an error
        print(f"depth3d demo: error: {source}: {damaged} damaged frame(s) skipped", file=sys.stderr)
        return 1
    return 0
