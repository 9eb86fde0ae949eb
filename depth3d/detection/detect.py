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


def load_scan(spec: str, colors: bool = False):
    """A scan file's points and frame: ``(points (N, 3+) float32, frame)``, or with ``colors=True``
    ``(points (N, 3) float32, colours (N, 3) float32 0..1 or None, frame)``.

    ``frame``: "upright" (x right, y forward, z up) for the formats that are upright by definition: VoteNet
    ``*_pc.npz`` (key ``pc``), ScanNet ``*_vert.npy``, a SUN RGB-D ``.mat`` (``instance``) or
    ``sunrgbd:ROOT:ID``; "unknown" for other clouds (``.ply``/``.pcd``/depth3d ``.npz``/meshes), whose frame
    :func:`depth3d.geometry.floor.guess_frame` tells from the data."""
    pts, rgb, frame = _load_scan(spec)
    if not colors:
        return pts, frame
    xyz = np.ascontiguousarray(pts[:, :3], np.float32)
    if rgb is None and pts.shape[1] >= 6:  # x, y, z, r, g, b arrays (SUN RGB-D, VoteNet)
        rgb = np.asarray(pts[:, 3:6], np.float32)
        finite = np.isfinite(rgb)
        if finite.any() and float(rgb[finite].max()) > 1.0:  # 0..255
            rgb = rgb / 255.0
        rgb = np.clip(np.nan_to_num(rgb), 0.0, 1.0)
    return xyz, rgb, frame


def _load_scan(spec: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    if spec.startswith("sunrgbd:"):
        _, root, fid = spec.split(":", 2)
        from depth3d.io.sunrgbd import read_frame

        fr = read_frame(root, fid, with_image=False)
        return np.concatenate([fr.points, fr.colors], 1), None, "upright"
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"scan {path} does not exist")
    suf = path.suffix.lower()
    if suf == ".mat":
        from depth3d.io.sunrgbd import read_instance_mat

        return read_instance_mat(path), None, "upright"
    from depth3d.io.clouds import read_cloud

    cloud = read_cloud(path)  # checks the file (a damaged archive is an error naming it)
    if suf == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "pc" in z:
                return np.asarray(z["pc"], np.float32), None, "upright"
    rgb = None if cloud.colors is None else np.asarray(cloud.colors, np.float32)
    return (np.asarray(cloud.points, np.float32), rgb,
            "upright" if path.name.lower().endswith("_vert.npy") else "unknown")


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


class BoxesLog:
    """Per-frame detection records streamed to a boxes JSON file as they come, so a long run keeps none in
    memory: ``{"frame": "upright", **extra, "frames": [record, ...]}``. The file is written under a temporary
    name beside ``path`` and renamed over it by :meth:`close` (atomic: a reader never sees half a file)."""

    def __init__(self, path: str | Path, **extra) -> None:
        """``path``: the JSON file (its folder must exist); ``extra``: JSON-ready fields of the header."""
        import json

        from depth3d.core.atomic import atomic_write

        self.path = Path(path)
        self.count = 0
        self._cm = atomic_write(self.path, "w")
        self._f = self._cm.__enter__()
        head = json.dumps({"frame": "upright", **extra})
        self._f.write(head[:-1] + (", " if len(head) > 2 else "") + '"frames": [')

    def add(self, record: dict) -> None:
        """Append one frame's record (JSON-ready dict)."""
        import json

        self._f.write(("," if self.count else "") + "\n" + json.dumps(record))
        self.count += 1

    def close(self) -> None:
        """Finish the JSON and move it into place (once; later calls do nothing)."""
        if self._f is None:
            return
        self._f.write("\n]}\n")
        f, self._f = self._f, None
        f.flush()
        self._cm.__exit__(None, None, None)


class FrameDetector:
    """VoteNet on every ``every``-th frame of a stream, each frame levelled with ``tilt`` (degrees or "auto",
    see :func:`upright_rotation_for`); keeps the latest boxes and rotation (``depth3d stream --detect``,
    ``depth3d demo``).

    The record of each processed frame (index, timestamp, boxes, rotation, levelling) is kept in
    ``records`` only with ``keep_records=True`` (a short replay that writes them at the end), and streamed
    to ``log`` (:class:`BoxesLog`) when given; otherwise only ``last_record`` is kept, so memory stays flat
    over any number of frames. ``warn_no_floor``: warn when ``tilt="auto"`` finds no floor (a live stream
    passes False: it would warn on every frame that looks at a wall)."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu", threshold: float = 0.5, every: int = 1,
                 tilt: float | str = "auto", warn_no_floor: bool = True, nms: str = "agnostic",
                 keep_records: bool = False, log: BoxesLog | None = None) -> None:
        """``nms``: "agnostic" (default, the reference demo's) or "class" (see
        :func:`depth3d.detection.decode.demo_config`)."""
        from collections import deque

        post = demo_config(threshold, nms)
        self.det = Detector(checkpoint, device, post=post)
        self.checkpoint = str(checkpoint)
        self.every, self.tilt, self.warn_no_floor = every, tilt, warn_no_floor
        self.boxes: list[dict] = []
        self.rotation: np.ndarray | None = None  # camera -> upright of the last processed frame
        self.points: np.ndarray | None = None  # the camera-frame points (N, 3) the latest boxes came from
        self.keep_records, self.log = keep_records, log
        self.records: list[dict] = []
        self.last_record: dict | None = None
        self.processed = 0
        self.seconds: deque[float] = deque(maxlen=1000)  # the latest detection times

    def process(self, i: int, frame, points: np.ndarray | None = None) -> DetectResult | None:
        """Detect on frame ``i`` when it is due (else None). ``points``: the camera-frame points (N, 3) to
        detect on, e.g. the depth-limited, voxel down-sampled cloud a viewer shows (default: every valid depth
        pixel, :func:`camera_points`)."""
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
        self.boxes, self.points = res.boxes, pts
        self.seconds.append(time.perf_counter() - t0)
        self.processed += 1
        self.last_record = {"index": int(frame.index if frame.index is not None else i),
                            "timestamp": float(frame.timestamp), "boxes": res.boxes,
                            "camera_to_upright": self.rotation.tolist(), "message": res.message,
                            "num_points": int(len(pts)), "levelling": lev.to_dict()}
        if self.keep_records:
            self.records.append(self.last_record)
        if self.log is not None:
            self.log.add(self.last_record)
        return res

    def summary(self) -> str:
        """The latest boxes as "class score, ..." (or "no boxes")."""
        return ", ".join(f"{b['class']} {b['score']:.2f}" for b in self.boxes) or "no boxes"

    def write(self, path: str | Path, **extra) -> None:
        """The kept records (``keep_records=True``) as JSON ``{"frame": "upright", **extra, "frames": [...]}``,
        atomically."""
        if not self.keep_records:
            raise RuntimeError("FrameDetector.write needs keep_records=True (or stream them with log=BoxesLog)")
        log = BoxesLog(path, **extra)
        for r in self.records:
            log.add(r)
        log.close()


def frames_to_clouds(spec: str, every: int = 1, max_frames: int | None = None, tilt_deg: float | str = 0.0,
                     camera_height: float = 0.0, levelling: list | None = None, stats: dict | None = None):
    """Yield (frame index, timestamp, upright points (N, 3)) from a recording or live source opened with
    :func:`depth3d.capture.source.open_source` (every ``every``-th frame). ``levelling``: a list that gets
    each yielded frame's :class:`depth3d.geometry.floor.Levelling` appended. ``stats``: a dict that gets
    ``damaged`` (frames of a recording skipped as damaged) and ``dropped`` when the source closes."""
    from depth3d.capture.source import open_source

    with open_source(spec) as src:
        try:
            k = 0
            for i, frame in enumerate(src):
                if i % every:
                    continue
                yield (frame.index if frame.index is not None else i), frame.timestamp, \
                    camera_to_upright(camera_points(frame), tilt_deg, camera_height, levelling)
                k += 1
                if max_frames and k >= max_frames:
                    break
        finally:
            if stats is not None:
                stats["damaged"] = int(getattr(src, "damaged", 0) or 0)
                stats["dropped"] = int(getattr(src, "dropped", 0) or 0)


def warn_message(msg: str | None) -> None:
    if msg:
        warnings.warn(msg, stacklevel=2)
