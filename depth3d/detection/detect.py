"""Detection on scans and RGB-D frames: input loading, pre-processing (the reference demo's), the model,
post-processing and writing boxes.

Frames: VoteNet works in the upright depth frame (x right, y forward, z up, metres, camera at the origin).
Clouds in the camera frame of this toolkit (x right, y down, z forward; e.g. from ``depth3d convert`` or a
camera stream) are turned upright with :func:`camera_to_upright` given the camera's downward pitch and
height above the floor.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from depth3d.detection.decode import (DEMO_CONFIG, PostConfig, demo_config, detections_to_dicts,
                                      parse_predictions)
from depth3d.models.votenet import VoteNet, fold_batchnorm, load_votenet
from depth3d.models.votenet.config import DatasetConfig

CAM_TO_DEPTH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def upright_rotation_for(points: np.ndarray, tilt_deg: float | str = 0.0) -> np.ndarray:
    """(3, 3) rotation R taking camera-frame points (x right, y down, z forward) to the upright depth frame
    (x right, y forward, z up): ``p_up = R @ p_cam``. ``tilt_deg``: the camera's downward pitch in degrees,
    or ``"auto"``: pitch and roll from the floor plane in ``points`` ((N, 3) metres, camera frame; see
    :func:`depth3d.geometry.floor.level_camera`), a level camera with a warning when no floor is found."""
    lev = levelling_for(points, tilt_deg)
    if lev.message:
        warnings.warn(lev.message, stacklevel=2)
    return lev.rotation


def levelling_for(points: np.ndarray, tilt_deg: float | str = 0.0):
    """:class:`depth3d.geometry.floor.Levelling` of camera-frame points (N, 3) (finite rows used) for a
    pitch in degrees or ``"auto"`` (floor plane; a level camera, said in its message, when there is none)."""
    from depth3d.geometry.floor import level_camera

    pts = np.asarray(points, np.float64).reshape(-1, 3)
    return level_camera(pts[np.isfinite(pts).all(1)], tilt_deg)


def camera_to_upright(points: np.ndarray, tilt_deg: float | str = 0.0, camera_height: float = 0.0,
                      levelling: list | None = None) -> np.ndarray:
    """Camera frame (x right, y down, z forward) points (N, 3) -> upright depth frame (x right, y forward,
    z up): the camera is pitched down by ``tilt_deg`` degrees (or ``"auto"``: levelled on the floor plane,
    see :func:`upright_rotation_for`) and ``camera_height`` metres above the floor (the floor ends at z = 0
    when the height is given; 0 keeps the camera at the origin as VoteNet does). ``levelling``: a list
    that gets the :class:`depth3d.geometry.floor.Levelling` used appended."""
    pts = np.asarray(points, np.float64)[:, :3]
    lev = levelling_for(pts, tilt_deg)
    if lev.message:
        warnings.warn(lev.message, stacklevel=2)
    if levelling is not None:
        levelling.append(lev)
    out = pts @ lev.rotation.T
    out[:, 2] += camera_height
    return out.astype(np.float32)


def load_scan(spec: str) -> tuple[np.ndarray, str]:
    """(points (N, 3+) float32, frame "upright"|"camera") of a scan file: VoteNet ``*_pc.npz`` (key ``pc``,
    upright), a depth3d cloud ``.npz``/``.ply``/``.pcd`` (reported as "camera": the toolkit's clouds are
    camera-frame unless told otherwise), a SUN RGB-D ``.mat`` (``instance``, upright) or ``sunrgbd:ROOT:ID``."""
    if spec.startswith("sunrgbd:"):
        _, root, fid = spec.split(":", 2)
        from depth3d.io.sunrgbd import read_frame

        fr = read_frame(root, fid, with_image=False)
        return np.concatenate([fr.points, fr.colors], 1), "upright"
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"scan {path} does not exist")
    suf = path.suffix.lower()
    if suf == ".mat":
        from depth3d.io.sunrgbd import read_instance_mat

        return read_instance_mat(path), "upright"
    from depth3d.io.clouds import read_cloud

    cloud = read_cloud(path)  # checks the file (a damaged archive is an error naming it)
    if suf == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "pc" in z:
                return np.asarray(z["pc"], np.float32), "upright"
    return np.asarray(cloud.points, np.float32), "camera"


@dataclass
class DetectResult:
    """Boxes (JSON-ready dicts, see :func:`depth3d.detection.decode.detections_to_dicts`) and a message
    when the scan could not be processed (empty, all NaN, too few points)."""

    boxes: list = field(default_factory=list)
    message: str | None = None
    num_points: int = 0
    points: np.ndarray | None = None  # the valid upright points used (N, 3)


class Detector:
    """A VoteNet checkpoint ready to run on upright point clouds."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu", num_points: int | None = None,
                 post: PostConfig = DEMO_CONFIG, seed: int = 0, fold_bn: bool = True,
                 dataset: str | None = None) -> None:
        """``checkpoint``: any file :func:`depth3d.models.votenet.load_votenet` reads (``dataset``: head sizes
        of a released facebookresearch/votenet .tar, "sunrgbd" or "scannet"; default from its shapes).
        ``fold_bn``: run a copy with the batch norms folded into the convolutions (same boxes up to float
        rounding, ~15% faster on CPU; see :func:`depth3d.models.votenet.fold_batchnorm`)."""
        net, cfg, ckpt = load_votenet(checkpoint, dataset)
        net = net.to(device).eval()
        self.net: VoteNet = fold_batchnorm(net) if fold_bn else net
        self.cfg: DatasetConfig = cfg
        self.device = device
        self.num_points = int(num_points or ckpt.get("num_points") or 20000)
        self.post = post
        self.seed = seed

    @torch.no_grad()
    def detect(self, points: np.ndarray) -> DetectResult:
        """points: (N, >=3) float, upright depth frame metres. Non-finite rows are dropped; an empty scan
        or one with fewer points than the model samples gives an empty result with a message."""
        pts = np.asarray(points, np.float32)
        if pts.ndim != 2 or pts.shape[1] < 3:
            raise ValueError(f"points must be (N, 3) or (N, >3), got {pts.shape}")
        pts = pts[:, :3]
        finite = np.isfinite(pts).all(1)
        n_bad = int((~finite).sum())
        pts = pts[finite]
        n = pts.shape[0]
        if n == 0:
            why = "the scan has no points" if n_bad == 0 else f"all {n_bad} points are NaN/inf"
            return DetectResult(message=f"nothing to detect: {why}")
        if n < self.net.min_points:
            return DetectResult(message=f"nothing to detect: the scan has {n} valid points, the model samples "
                                        f"{self.net.min_points}", num_points=n, points=pts)
        rng = np.random.default_rng(self.seed)
        choice = rng.choice(n, self.num_points, replace=n < self.num_points)
        sel = pts[choice].astype(np.float64)
        height = sel[:, 2] - np.percentile(sel[:, 2], 0.99)
        feats = np.concatenate([sel, height[:, None]], 1)[:, : 3 + self.net.input_feature_dim]
        pc = torch.from_numpy(feats.astype(np.float32))[None].to(self.device)
        end_points = self.net(pc)
        _, dec = parse_predictions(end_points, self.cfg, self.post, point_clouds=pc)
        boxes = detections_to_dicts(dec, self.cfg, 0, self.post)
        msg = f"dropped {n_bad} NaN/inf points" if n_bad else None
        return DetectResult(boxes=boxes, message=msg, num_points=n, points=pts)


def camera_points(frame) -> np.ndarray:
    """(N, 3) float32 points of the valid depth pixels of an RGB-D ``frame``: metres, camera frame (x right,
    y down, z forward)."""
    from depth3d.geometry import depth_to_points

    pts = np.asarray(depth_to_points(frame.depth_m(), frame.depth_intrinsics)).reshape(-1, 3)
    return pts[np.isfinite(pts).all(1) & (pts[:, 2] > 0)]


class FrameDetector:
    """VoteNet on every ``every``-th frame of a stream, each frame levelled with ``tilt`` (degrees or "auto",
    see :func:`upright_rotation_for`); keeps the latest boxes and rotation and a record per processed frame
    (``depth3d stream --detect``, ``depth3d demo``).

    ``warn_no_floor``: warn when ``tilt="auto"`` finds no floor (a live stream passes False: it would warn on
    every frame that looks at a wall)."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu", threshold: float = 0.5, every: int = 1,
                 tilt: float | str = "auto", warn_no_floor: bool = True, nms: str = "agnostic") -> None:
        """``nms``: "agnostic" (default, the reference demo's) or "class" (see
        :func:`depth3d.detection.decode.demo_config`)."""
        post = demo_config(threshold, nms)
        self.det = Detector(checkpoint, device, post=post)
        self.every, self.tilt, self.warn_no_floor = every, tilt, warn_no_floor
        self.boxes: list[dict] = []
        self.rotation: np.ndarray | None = None  # camera -> upright of the last processed frame
        self.records: list[dict] = []
        self.seconds: list[float] = []

    def process(self, i: int, frame, points: np.ndarray | None = None) -> DetectResult | None:
        """Detect on frame ``i`` when it is due (else None). ``points``: the frame's camera-frame points (N, 3)
        when the caller already has them (default: :func:`camera_points`)."""
        import time

        if i % self.every:
            return None
        t0 = time.perf_counter()
        pts = camera_points(frame) if points is None else np.asarray(points, np.float64).reshape(-1, 3)
        with warnings.catch_warnings():
            if not self.warn_no_floor:
                warnings.simplefilter("ignore")
            lev = levelling_for(pts, self.tilt)
            if lev.message:
                warnings.warn(lev.message, stacklevel=2)
            self.rotation = lev.rotation
        res = self.det.detect(pts @ self.rotation.T)
        self.boxes = res.boxes
        self.seconds.append(time.perf_counter() - t0)
        self.records.append({"index": int(frame.index if frame.index is not None else i),
                             "timestamp": float(frame.timestamp), "boxes": res.boxes,
                             "camera_to_upright": self.rotation.tolist(), "message": res.message,
                             "levelling": lev.to_dict()})
        return res

    def summary(self) -> str:
        """The latest boxes as "class score, ..." (or "no boxes")."""
        return ", ".join(f"{b['class']} {b['score']:.2f}" for b in self.boxes) or "no boxes"

    def write(self, path: str | Path, **extra) -> None:
        """All records as JSON ``{"frame": "upright", **extra, "frames": [...]}``, atomically."""
        import json

        from depth3d.core.atomic import atomic_write

        with atomic_write(path, "w") as f:
            json.dump({"frame": "upright", **extra, "frames": self.records}, f, indent=1)


def frames_to_clouds(spec: str, every: int = 1, max_frames: int | None = None, tilt_deg: float | str = 0.0,
                     camera_height: float = 0.0, levelling: list | None = None):
    """Yield (frame index, timestamp, upright points (N, 3)) from a recording or live source opened with
    :func:`depth3d.capture.source.open_source` (every ``every``-th frame). ``levelling``: a list that gets
    each yielded frame's :class:`depth3d.geometry.floor.Levelling` appended."""
    from depth3d.capture.source import open_source

    with open_source(spec) as src:
        k = 0
        for i, frame in enumerate(src):
            if i % every:
                continue
            yield (frame.index if frame.index is not None else i), frame.timestamp, \
                camera_to_upright(camera_points(frame), tilt_deg, camera_height, levelling)
            k += 1
            if max_frames and k >= max_frames:
                break


def warn_message(msg: str | None) -> None:
    if msg:
        warnings.warn(msg, stacklevel=2)
