"""Single-view scan datasets on disk, in the layout of VoteNet's preprocessed SUN RGB-D data.

VoteNet (facebookresearch/votenet, ``sunrgbd/sunrgbd_data.py``) writes, per scan ``IDX`` (``%06d``):

* ``IDX_pc.npz``: key ``pc``, (N, 6) float32 ``x, y, z, r, g, b``: points in the UPRIGHT depth frame
  (x right, y forward, z up, metres, camera at the origin, gravity along -z), colours in 0..1.
* ``IDX_bbox.npy``: (K, 8) float64 ``cx, cy, cz, l/2, w/2, h/2, angle, class_id`` in the same frame: HALF
  sizes, ``l`` along the object's heading, and ``angle`` as VoteNet stores it: the NEGATED yaw (the
  heading convention of :mod:`depth3d.geometry.boxes`: corners rotated by ``rotz(-angle)``), class ids 0..9 in
  :data:`~depth3d.sim.objects.CLASSES` order.
* ``IDX_votes.npz``: key ``point_votes``, (N, 10) float32: ``[in_box, dx1, dy1, dz1, dx2, dy2, dz2, dx3,
  dy3, dz3]``: for points inside up to three boxes (:func:`depth3d.geometry.boxes.points_in_box`) the offsets
  ``box_centre - point``; a point in one box repeats its vote in all three slots, as VoteNet does.

Plus, for the whole dataset: ``train.txt`` / ``val.txt`` (scan ids, one a line), ``split.json`` and
``meta.json`` (classes, options, camera, sensor model, per-scan room seeds and box counts).

Each scan is a different random room (:func:`~depth3d.sim.scene.generate_room`) seen by the RealSense-like
camera (:mod:`depth3d.sim.realsense_sensor`) from a random viewpoint looking at its furniture
(:func:`~depth3d.sim.trajectory.random_view`). Only boxes of objects actually seen (at least
``min_points`` of the sub-sampled points on the object) are written. Scan ``IDX`` of a dataset with seed
``S`` is a pure function of ``(S, IDX)`` and the options.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depth3d.geometry.boxes import rotz
from depth3d.sim.objects import CLASSES


@dataclass
class ScanOptions:
    """Options of a scan dataset: image size (pixels), points per scan, visibility threshold (points),
    sensor noise on/off, and the ``profile`` of rooms, views and cameras:

    * ``"d435"``: :func:`~depth3d.sim.scene.generate_room`'s random furniture, seen by the D435-like camera
      from :func:`~depth3d.sim.trajectory.random_view` (the data of the first shipped model);
    * ``"sunrgbd"``: rooms of a kind with things that carry no box (:func:`~depth3d.sim.layouts.
      generate_typed_room`), SUN RGB-D-like views (:func:`~depth3d.sim.layouts.sun_view`) and a depth camera
      drawn per scan (:func:`~depth3d.sim.layouts.sensor_profile`: RealSense- or Kinect-like).
    """

    width: int = 640
    height: int = 480
    num_points: int = 20000
    min_points: int = 50
    noise: bool = True
    profile: str = "d435"

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"ScanOptions: profile must be one of {PROFILES}, got {self.profile!r}")
        if self.width <= 0 or self.height <= 0 or self.num_points <= 0 or self.min_points < 0:
            raise ValueError(f"ScanOptions: width, height, num_points must be positive and min_points >= 0, "
                             f"got {self}")


def compute_votes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """VoteNet's ``point_votes`` (N, 10) float32 for points (N, >=3) and VoteNet bbox rows (K, 8) (half
    sizes); :func:`depth3d.datasets.votenet_detection.compute_votes`, which the training loader also uses."""
    from depth3d.datasets.votenet_detection import compute_votes as _votes

    return _votes(points, np.asarray(boxes, np.float64).reshape(-1, 8))


def scan_room_seed(seed: int, idx: int) -> int:
    """Room seed of scan ``idx`` in a dataset with seed ``seed``."""
    return int(seed) * 1_000_003 + int(idx)


#: kinds of scan dataset (see :class:`ScanOptions`)
PROFILES = ("d435", "sunrgbd")

#: views drawn per scan before giving up on a room whose views all lack valid depth
MAX_VIEW_ATTEMPTS = 20


def make_scan(seed: int, idx: int, options: ScanOptions | None = None, nthreads: int = 0) -> dict[str, Any]:
    """Build one single-view scan (nothing written).

    Returns a dict: ``pc`` (N, 6) float32 upright frame + colours 0..1, ``bbox`` (K, 8) float64 VoteNet rows,
    ``votes`` (N, 10) float32, ``instance`` (N,) int32 mesh index of each point, ``room_seed``,
    ``world_from_camera`` (4, 4), ``upright_from_world`` (4, 4), ``class_names`` (K,), ``depth`` (H, W)
    uint16 mm and ``color`` (H, W, 3) uint8 (the sensor images), ``intrinsics``, ``room_type`` and ``sensor``
    (the kind of room and of depth camera; ``"mixed"``/``"realsense"`` for the d435 profile).
    """
    from depth3d.sim.realsense_sensor import RealSenseModel, d435_intrinsics
    from depth3d.sim.render import SceneRenderer, _rotate
    from depth3d.sim.scene import generate_room
    from depth3d.sim.trajectory import random_view

    opt = options or ScanOptions()
    room_seed = scan_room_seed(seed, idx)
    rng = np.random.default_rng([int(seed), int(idx), 0xDA7A])
    room_type, sensor = "mixed", "realsense"
    if opt.profile == "sunrgbd":
        from depth3d.sim.layouts import generate_typed_room, sensor_profile, sun_view

        scene, room_type = generate_typed_room(room_seed)
        sensor, model, intr = sensor_profile(rng, opt.width, opt.height)
        if not opt.noise:
            model = RealSenseModel.ideal()
        view = sun_view
    else:
        scene = generate_room(room_seed)
        intr = d435_intrinsics(opt.width, opt.height)
        model = RealSenseModel() if opt.noise else RealSenseModel.ideal()
        view = random_view
    renderer = SceneRenderer(scene, nthreads=nthreads)
    # a random view can face a wall closer than the sensor's minimum range (no valid depth at all): draw
    # another view (deterministically, from the same stream) until at least 10% of the pixels are valid
    for _attempt in range(MAX_VIEW_ATTEMPTS):
        pose = view(scene, rng)
        r = renderer.render(intr, pose)
        raw, color = model.apply(r, intr, rng)
        valid = raw > 0
        if np.count_nonzero(valid) >= 0.1 * valid.size:
            break
    z = raw[valid].astype(np.float32) * np.float32(model.depth_unit)
    rays = r.rays[valid]
    cam = rays * (z / rays[:, 2])[:, None]
    world = _rotate(cam.astype(np.float64), pose.R) + pose.t
    # upright frame: origin at the camera, z up, y = camera forward projected on the floor plane
    fwd = pose.R[:, 2]
    theta = np.pi / 2 - np.arctan2(fwd[1], fwd[0])
    Ru = rotz(theta)
    up_pts = _rotate(world - pose.t, Ru)
    cols = color[valid].astype(np.float32) / 255.0
    inst = r.instance[valid]
    n = len(up_pts)
    if n == 0:
        raise RuntimeError(f"scan {idx}: the camera saw no valid depth")
    choice = rng.choice(n, opt.num_points, replace=n < opt.num_points)
    pc = np.concatenate([up_pts[choice], cols[choice]], axis=1).astype(np.float32)
    inst = inst[choice].astype(np.int32)
    rows, names = [], []
    for o in scene.objects:
        if np.count_nonzero(inst == o.instance) < max(opt.min_points, 1):
            continue
        c = Ru @ (o.centre - pose.t)
        yaw = o.heading + theta
        angle = -float(np.arctan2(np.sin(yaw), np.cos(yaw)))
        rows.append([*c, *(o.size / 2), angle, o.class_id])
        names.append(o.class_name)
    bbox = np.asarray(rows, dtype=np.float64).reshape(-1, 8)
    votes = compute_votes(pc, bbox)
    upright = np.eye(4)
    upright[:3, :3] = Ru
    upright[:3, 3] = -Ru @ pose.t
    return {"pc": pc, "bbox": bbox, "votes": votes, "instance": inst, "room_seed": room_seed,
            "world_from_camera": pose.matrix.copy(), "upright_from_world": upright, "class_names": names,
            "depth": raw, "color": color, "intrinsics": intr, "room_type": room_type, "sensor": sensor}


def write_scan(out_dir: str | Path, seed: int, idx: int, options: ScanOptions | None = None,
               nthreads: int = 0, images: bool = False) -> dict[str, Any]:
    """Make scan ``idx`` and write its three VoteNet files atomically; returns a summary dict
    (``idx``, ``room_seed``, ``points``, ``boxes``, ``classes``, ``world_from_camera``).

    With ``images``, also ``IDX_color.png`` (RGB), ``IDX_depth.png`` (16-bit, mm) and ``IDX_calib.json``
    (``K`` 3x3, ``upright_from_camera`` 3x3: camera frame x right, y down, z forward -> upright frame;
    the camera sits at the upright origin).
    """
    from depth3d.core.atomic import atomic_write

    out = Path(out_dir)
    s = make_scan(seed, idx, options, nthreads=nthreads)
    with atomic_write(out / f"{idx:06d}_pc.npz", "wb") as f:
        np.savez_compressed(f, pc=s["pc"])
    with atomic_write(out / f"{idx:06d}_bbox.npy", "wb") as f:
        np.save(f, s["bbox"])
    with atomic_write(out / f"{idx:06d}_votes.npz", "wb") as f:
        np.savez_compressed(f, point_votes=s["votes"])
    if images:
        from depth3d.io.depth_png import write_color, write_depth_png

        write_color(out / f"{idx:06d}_color.png", s["color"])
        write_depth_png(out / f"{idx:06d}_depth.png", s["depth"], 0.001)
        up_cam = s["upright_from_world"][:3, :3] @ s["world_from_camera"][:3, :3]
        with atomic_write(out / f"{idx:06d}_calib.json", "w") as f:
            json.dump({"K": s["intrinsics"].K.tolist(), "width": s["intrinsics"].width,
                       "height": s["intrinsics"].height, "upright_from_camera": up_cam.tolist(),
                       "depth_scale": 0.001}, f)
    return {"idx": idx, "room_seed": s["room_seed"], "points": int(len(s["pc"])), "boxes": int(len(s["bbox"])),
            "classes": s["class_names"], "world_from_camera": s["world_from_camera"].tolist(),
            "room_type": s["room_type"], "sensor": s["sensor"], "fx": float(s["intrinsics"].fx)}


def _worker(job: tuple) -> dict[str, Any]:
    out_dir, seed, idx, options, nthreads, images = job
    return write_scan(out_dir, seed, idx, options, nthreads=nthreads, images=images)


def write_scans(out_dir: str | Path, num: int, seed: int = 0, options: ScanOptions | None = None,
                workers: int = 1, val_fraction: float = 0.2, progress: bool = True,
                images: bool = False) -> dict[str, Any]:
    """Write ``num`` scans (ids 0..num-1) to ``out_dir`` in parallel with a tqdm progress bar, then the split
    files and ``meta.json``. Returns the meta dict.

    Args:
        out_dir: output folder (created).
        num: number of scans.
        seed: dataset seed.
        options: :class:`ScanOptions`.
        workers: processes (1 = in this process).
        val_fraction: fraction of scans in the validation split (chosen by a seeded permutation).
        progress: show the progress bar.
        images: also write each scan's colour/depth images and calibration (see :func:`write_scan`).
    """
    import multiprocessing as mp
    import sys

    from tqdm import tqdm

    from depth3d.core.atomic import atomic_write
    from depth3d.sim.realsense_sensor import RealSenseModel, d435_intrinsics

    if num <= 0:
        raise ValueError(f"write_scans: num must be positive, got {num}")
    if workers <= 0:
        raise ValueError(f"write_scans: workers must be positive, got {workers}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"write_scans: val_fraction must be in [0, 1), got {val_fraction}")
    opt = options or ScanOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    workers = min(workers, num)
    nthreads = 1 if workers > 1 else 0
    jobs = [(str(out), int(seed), i, opt, nthreads, images) for i in range(num)]
    results: list[dict] = []
    bar = tqdm(total=num, desc="sim scans", unit="scan", disable=not progress)
    try:
        if workers == 1:
            for j in jobs:
                results.append(_worker(j))
                bar.update(1)
        else:
            # fork is cheap; fall back to spawn if this process already started Open3D/Embree threads
            method = "spawn" if "open3d" in sys.modules else "fork"
            with mp.get_context(method).Pool(workers) as pool:
                for res in pool.imap_unordered(_worker, jobs, chunksize=1):
                    results.append(res)
                    bar.update(1)
    finally:
        bar.close()
    results.sort(key=lambda d: d["idx"])
    perm = np.random.default_rng([int(seed), 0x5B1]).permutation(num)
    n_val = int(round(num * val_fraction))
    val = sorted(int(i) for i in perm[:n_val])
    train = sorted(int(i) for i in perm[n_val:])
    for name, ids in (("train.txt", train), ("val.txt", val)):
        with atomic_write(out / name, "w") as f:
            f.write("".join(f"{i:06d}\n" for i in ids))
    with atomic_write(out / "split.json", "w") as f:
        json.dump({"train": train, "val": val}, f)
    counts = np.zeros(len(CLASSES), dtype=int)
    for r in results:
        for c in r["classes"]:
            counts[CLASSES.index(c)] += 1
    meta = {
        "format": "votenet-sunrgbd (pc, bbox, votes)", "generator": "depth3d.sim.dataset", "num": num,
        "seed": int(seed), "classes": list(CLASSES), "options": opt.__dict__,
        "intrinsics": (d435_intrinsics(opt.width, opt.height).to_dict() if opt.profile == "d435"
                       else "drawn per scan (each scan's fx below; fy = fx, principal point at the image centre)"),
        "sensor": ((RealSenseModel() if opt.noise else RealSenseModel.ideal()).to_dict() if opt.profile == "d435"
                   else "drawn per scan (depth3d.sim.layouts.sensor_profile; each scan's sensor and fx below)"),
        "frame": "upright depth frame: x right, y forward, z up, metres, camera at the origin",
        "bbox_columns": ["cx", "cy", "cz", "half_l", "half_w", "half_h", "angle(-yaw)", "class_id"],
        "boxes_per_class": dict(zip(CLASSES, counts.tolist())),
        "scans": results,
    }
    with atomic_write(out / "meta.json", "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def load_scan(out_dir: str | Path, idx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read scan ``idx``: ``(pc (N, 6), bbox (K, 8), point_votes (N, 10))`` with clear errors."""
    out = Path(out_dir)
    paths = [out / f"{idx:06d}_pc.npz", out / f"{idx:06d}_bbox.npy", out / f"{idx:06d}_votes.npz"]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"scan file {p} does not exist")
    with np.load(paths[0]) as z:
        pc = z["pc"]
    bbox = np.load(paths[1])
    with np.load(paths[2]) as z:
        votes = z["point_votes"]
    return pc, bbox, votes


