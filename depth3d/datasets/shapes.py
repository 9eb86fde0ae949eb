"""A synthetic shape-classification set from the simulator's object classes (:mod:`depth3d.sim.objects`).

Each sample is a random object of one class, turned by a random yaw, seen as either
* a *mesh sample*: points uniformly on the surface (area-weighted), or
* a *virtual scan*: the points a depth camera sees from one random viewpoint (ray cast with
  :func:`depth3d.sim.render.raycast`; only the visible side, with range-dependent depth noise),
plus Gaussian jitter. Clouds are in the object's world frame (z up, metres), centred on their bounding-box
centre and divided by ``scale_m`` (default 1.5 m, so every class fits in the unit sphere while keeping
metric size, a real cue for a depth sensor). Stored as ``train.npz``/``test.npz`` with ``points
(M, P, 3) float32``, ``labels (M,) int64``, ``source (M,) int8`` (0 mesh, 1 scan), ``classes``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from depth3d.datasets.augment import Augment


def _look_at(eye: np.ndarray, target: np.ndarray):
    """Pose world_from_camera for a camera at ``eye`` looking at ``target`` (x right, y down, z forward)."""
    from depth3d.core.pose import Pose

    f = target - eye
    f = f / np.linalg.norm(f)
    x = np.cross(f, [0.0, 0.0, 1.0])
    x = x / np.linalg.norm(x)
    y = np.cross(f, x)
    return Pose.from_Rt(np.stack([x, y, f], 1), eye)


def _resample(points: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    idx = rng.permutation(len(points))[:n] if len(points) >= n else rng.choice(len(points), n, replace=True)
    return points[idx]


def make_sample(class_name: str, rng: np.random.Generator, num_points: int = 2048, scan: bool = False,
                noise_m: float = 0.004, scale_m: float = 1.5, image_size: tuple[int, int] = (200, 150)
                ) -> np.ndarray:
    """One cloud (num_points, 3) float32 of a random ``class_name`` object (see module docstring).

    noise_m: std of the Gaussian jitter in metres (scans add depth noise 0.0015 m * z^2 along the ray)."""
    import trimesh

    from depth3d.core.intrinsics import Intrinsics
    from depth3d.sim.objects import make_object
    from depth3d.sim.render import raycast

    mesh, _ = make_object(class_name, rng)
    yaw = rng.uniform(0, 2 * np.pi)
    mesh = mesh.copy()
    mesh.apply_transform(trimesh.transformations.rotation_matrix(yaw, [0, 0, 1]))
    if scan:
        w, h = image_size
        fx = (w / 2) / np.tan(np.radians(30))
        intr = Intrinsics(w, h, fx, fx, (w - 1) / 2, (h - 1) / 2)
        center = np.array([0.0, 0.0, mesh.bounds[1, 2] / 2])
        pts = np.zeros((0, 3))
        for _ in range(5):  # retry from another viewpoint if the view caught too little
            az, el = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(10, 45))
            dist = rng.uniform(2.2, 3.2)
            eye = center + dist * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
            pose = _look_at(eye, center)
            r = raycast([mesh], intr, pose)
            hit = r.instance >= 0
            if hit.sum() >= 64:
                z = r.depth[hit][:, None]
                cam = r.points[hit] + r.rays[hit] * (0.0015 * z * z * rng.standard_normal((len(z), 1)) / r.rays[hit][:, 2:3])
                pts = pose.transform_points(cam.astype(np.float64))
                break
        if len(pts) < 64:
            raise RuntimeError(f"virtual scan of a {class_name} saw fewer than 64 points from 5 viewpoints")
        pts = _resample(pts, num_points, rng)
    else:
        pts, _ = trimesh.sample.sample_surface(mesh, num_points, seed=int(rng.integers(2**31)))
    pts = np.asarray(pts, dtype=np.float64) + noise_m * rng.standard_normal((num_points, 3))
    pts -= (pts.min(0) + pts.max(0)) / 2
    return (pts / scale_m).astype(np.float32)


def generate_shapes(out_dir: str | Path, train_per_class: int = 80, test_per_class: int = 20,
                    num_points: int = 2048, scan_fraction: float = 0.5, seed: int = 0,
                    classes: Optional[Sequence[str]] = None, noise_m: float = 0.004, scale_m: float = 1.5,
                    progress: bool = True) -> Path:
    """Write ``train.npz``, ``test.npz`` and ``meta.json`` into ``out_dir``; returns ``out_dir``.

    Train and test objects come from independent random streams (different seeds), so the test set is
    held out (new object instances, poses and viewpoints)."""
    from tqdm import tqdm

    from depth3d.core.atomic import atomic_write
    from depth3d.sim.objects import CLASSES

    classes = list(classes or CLASSES)
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise ValueError(f"generate_shapes: unknown classes {unknown}; expected a subset of {CLASSES}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for split, per_class, sseed in (("train", train_per_class, seed), ("test", test_per_class, seed + 7919)):
        rng = np.random.default_rng(sseed)
        pts, labels, source = [], [], []
        jobs = [(ci, c) for ci, c in enumerate(classes) for _ in range(per_class)]
        for ci, c in tqdm(jobs, desc=f"shapes {split}", disable=not progress, leave=False):
            scan = bool(rng.uniform() < scan_fraction)
            pts.append(make_sample(c, rng, num_points, scan=scan, noise_m=noise_m, scale_m=scale_m))
            labels.append(ci)
            source.append(int(scan))
        with atomic_write(out / f"{split}.npz", "wb") as f:
            np.savez_compressed(f, points=np.stack(pts), labels=np.asarray(labels, np.int64),
                                source=np.asarray(source, np.int8), classes=np.asarray(classes))
    meta = {"classes": classes, "train_per_class": train_per_class, "test_per_class": test_per_class,
            "num_points": num_points, "scan_fraction": scan_fraction, "seed": seed, "noise_m": noise_m,
            "scale_m": scale_m}
    with atomic_write(out / "meta.json", "w") as f:
        json.dump(meta, f, indent=2)
    return out


class PointCloudClsDataset:
    """Classification samples from in-memory arrays: ``points (M, P, 3 + C)``, ``labels (M,)``.

    ``__getitem__(i)`` -> (points (num_points, 3 + C) float32 tensor, label int64 tensor). Training sets
    (``train=True``) take a random subset of ``num_points`` of the P stored points and augment, seeded by
    (seed, epoch, i) so results do not depend on worker or process counts; test sets take the first
    ``num_points`` points unchanged."""

    def __init__(self, points: np.ndarray, labels: np.ndarray, classes: Sequence[str], num_points: int,
                 train: bool, augment: Optional[Augment] = None, seed: int = 0) -> None:
        if points.ndim != 3 or points.shape[2] < 3:
            raise ValueError(f"points must be (M, P, 3 + C), got {points.shape}")
        if len(points) != len(labels):
            raise ValueError(f"{len(points)} clouds but {len(labels)} labels")
        if num_points > points.shape[1]:
            raise ValueError(f"num_points {num_points} exceeds the {points.shape[1]} stored points per cloud")
        self.points, self.labels = points, np.asarray(labels, np.int64)
        self.classes = list(classes)
        self.num_points, self.train, self.augment, self.seed = num_points, train, augment, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, i: int):
        import torch

        p = self.points[i]
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, int(i)])
            p = p[rng.permutation(len(p))[: self.num_points]]
            if self.augment is not None:
                p = self.augment(p, rng)
        else:
            p = p[: self.num_points]
        return torch.from_numpy(np.ascontiguousarray(p, dtype=np.float32)), torch.tensor(self.labels[i])


def load_shapes(root: str | Path, split: str, num_points: int = 1024, augment: Optional[Augment] = None,
                seed: int = 0) -> PointCloudClsDataset:
    """The ``split`` ("train"|"test") of a set written by :func:`generate_shapes`."""
    path = Path(root) / f"{split}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (generate it with depth3d.datasets.shapes."
                                "generate_shapes or `--data synthetic`)")
    z = np.load(path)
    return PointCloudClsDataset(z["points"], z["labels"], [str(c) for c in z["classes"]], num_points,
                                train=split == "train", augment=augment if split == "train" else None, seed=seed)
