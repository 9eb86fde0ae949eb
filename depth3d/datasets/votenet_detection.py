"""Detection datasets in the layouts facebookresearch/votenet uses, producing the reference's training
dictionaries (``sunrgbd/sunrgbd_detection_dataset.py``, ``scannet/scannet_detection_dataset.py``).

Layouts
- **VoteNet SUN RGB-D layout** (VoteNet's preprocessed ``sunrgbd_pc_bbox_votes_50k_v1_*`` folders and the
  toolkit simulator's synthetic scans): ``{idx:06d}_pc.npz`` key ``pc`` (N, 6) x, y, z, r, g, b in the
  upright depth frame (x right, y forward, z up, metres; colours 0..1), ``{idx:06d}_bbox.npy`` (K, 8)
  centre, HALF sizes l, w, h, heading (VoteNet convention), class id; ``{idx:06d}_votes.npz`` key
  ``point_votes`` (N, 10) mask + three offsets to box centres. :class:`SunRGBDVoteNetDataset`.
- **Raw SUN RGB-D frames** (``depth/ID.mat``, ``label/ID.txt``, ``calib/ID.txt``; read by
  :mod:`depth3d.io.sunrgbd`): boxes of the ten classes, votes computed here as the reference's
  ``sunrgbd_data.py`` does (after sub-sampling to 50,000 points). :class:`SunRGBDFrameDataset`.
- **ScanNet VoteNet layout** (``{scan}_vert.npy`` (N, 6), ``{scan}_ins_label.npy``, ``{scan}_sem_label.npy``,
  ``{scan}_bbox.npy`` (K, 7) centre, full size, nyu40 id): :class:`ScanNetVoteNetDataset`.

Every item: ``point_clouds`` (num_points, 3 + 1) float32 (xyz, height above the floor = z - 0.99th
percentile of z), ``center_label`` (64, 3), ``heading_class_label``/``size_class_label``/``sem_cls_label``
(64,) int64, ``heading_residual_label`` (64,), ``size_residual_label`` (64, 3), ``box_label_mask`` (64,),
``vote_label`` (num_points, 9), ``vote_label_mask`` (num_points,) int64, ``scan_idx``, ``max_gt_bboxes``
(64, 8). Augmentation (train): flip x (50 %), rotation about z in [-30, 30] deg, scale 0.85-1.15 (ScanNet:
flips in x and y, rotation +-5 deg, as the reference).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from depth3d.geometry.boxes import points_in_box, rotz
from depth3d.models.votenet.config import DatasetConfig, scannet_config, sunrgbd_config

MAX_NUM_OBJ = 64


def random_sampling(n: int, num_sample: int, rng: np.random.Generator, replace: bool | None = None) -> np.ndarray:
    """Indices of ``num_sample`` of ``n`` points (with replacement only when n < num_sample)."""
    if n == 0:
        raise ValueError("cannot sample points from an empty point cloud")
    if replace is None:
        replace = n < num_sample
    return rng.choice(n, num_sample, replace=replace)


def height_feature(z: np.ndarray) -> np.ndarray:
    """(N,) height above the floor: z - the 0.99th percentile of z (reference ``use_height``)."""
    return z - np.percentile(z, 0.99)


def compute_votes(points: np.ndarray, bboxes: np.ndarray) -> np.ndarray:
    """(N, 10) float32 vote labels (reference ``sunrgbd_data.py``): column 0 = 1 for points inside a box;
    columns 1:10 = up to three offsets (centre - point) for the boxes containing the point, the first
    repeated into unused slots. points (N, >=3) upright frame; bboxes (K, 8) with HALF sizes."""
    n = points.shape[0]
    votes = np.zeros((n, 10), np.float32)
    vidx = np.zeros(n, np.int64)
    for b in np.asarray(bboxes, np.float64).reshape(-1, 8):
        inside = np.where(points_in_box(points[:, :3], b[0:3], 2 * b[3:6], b[6]))[0]
        if inside.size == 0:
            continue
        votes[inside, 0] = 1
        off = (b[None, 0:3] - points[inside, :3]).astype(np.float32)
        slot = vidx[inside]
        for s in range(3):
            sel = slot == s
            votes[inside[sel], 1 + 3 * s:4 + 3 * s] = off[sel]
        first = slot == 0
        votes[inside[first], 4:7] = off[first]
        votes[inside[first], 7:10] = off[first]
        vidx[inside] = np.minimum(2, slot + 1)
    return votes


def sunrgbd_boxes_from_objects(objects, cfg: DatasetConfig | None = None) -> np.ndarray:
    """(K, 8) float32 boxes (centre, half l w h, heading, class id) of the objects whose class is in
    ``cfg`` (objects as :class:`depth3d.io.sunrgbd.SunRGBDObject`, full sizes)."""
    cfg = cfg or sunrgbd_config()
    rows = [[*o.centroid, *(np.asarray(o.size) / 2), o.heading, cfg.type2class[o.classname]]
            for o in objects if o.classname in cfg.type2class]
    return np.asarray(rows, np.float32).reshape(-1, 8)


def make_sample(point_cloud: np.ndarray, bboxes: np.ndarray, point_votes: np.ndarray, cfg: DatasetConfig,
                num_points: int, rng: np.random.Generator, augment: bool = False, use_color: bool = False,
                use_height: bool = True, scan_idx: int = 0) -> dict:
    """Build one training dict from a SUN RGB-D-layout scan (see the module docstring)."""
    if point_cloud.shape[0] == 0:
        raise ValueError(f"scan {scan_idx} has no points")
    pc = point_cloud[:, 0:6].astype(np.float64) if use_color else point_cloud[:, 0:3].astype(np.float64)
    if use_color:
        pc[:, 3:] = pc[:, 3:] - np.array([0.5, 0.5, 0.5])
    bboxes = np.asarray(bboxes, np.float64).reshape(-1, 8).copy()[:MAX_NUM_OBJ]
    votes = np.asarray(point_votes, np.float64).copy()
    if use_height:
        pc = np.concatenate([pc, height_feature(pc[:, 2])[:, None]], 1)
    if augment:
        if rng.random() > 0.5:
            pc[:, 0] *= -1
            bboxes[:, 0] *= -1
            bboxes[:, 6] = np.pi - bboxes[:, 6]
            votes[:, [1, 4, 7]] *= -1
        ang = rng.random() * np.pi / 3 - np.pi / 6
        r = rotz(ang)
        ends = [(pc[:, 0:3] + votes[:, 1 + 3 * s:4 + 3 * s]) @ r.T for s in range(3)]
        pc[:, 0:3] = pc[:, 0:3] @ r.T
        bboxes[:, 0:3] = bboxes[:, 0:3] @ r.T
        bboxes[:, 6] -= ang
        for s in range(3):
            votes[:, 1 + 3 * s:4 + 3 * s] = ends[s] - pc[:, 0:3]
        scale = rng.random() * 0.3 + 0.85
        pc[:, 0:3] *= scale
        bboxes[:, 0:6] *= scale
        votes[:, 1:10] *= scale
        if use_height:
            pc[:, -1] *= scale
    k = bboxes.shape[0]
    centers = np.zeros((MAX_NUM_OBJ, 3))
    hcls = np.zeros(MAX_NUM_OBJ, np.int64)
    hres = np.zeros(MAX_NUM_OBJ)
    scls = np.zeros(MAX_NUM_OBJ, np.int64)
    sres = np.zeros((MAX_NUM_OBJ, 3))
    sem = np.zeros(MAX_NUM_OBJ, np.int64)
    mask = np.zeros(MAX_NUM_OBJ)
    mask[:k] = 1
    max_b = np.zeros((MAX_NUM_OBJ, 8))
    max_b[:k] = bboxes
    for i, b in enumerate(bboxes):
        c = int(b[7])
        centers[i] = b[0:3]
        hcls[i], hres[i] = cfg.angle2class(b[6])
        scls[i], sres[i] = cfg.size2class(b[3:6] * 2, cfg.classes[c])
        sem[i] = c
    choice = random_sampling(pc.shape[0], num_points, rng)
    return {
        "point_clouds": torch.from_numpy(pc[choice].astype(np.float32)),
        "center_label": torch.from_numpy(centers.astype(np.float32)),
        "heading_class_label": torch.from_numpy(hcls),
        "heading_residual_label": torch.from_numpy(hres.astype(np.float32)),
        "size_class_label": torch.from_numpy(scls),
        "size_residual_label": torch.from_numpy(sres.astype(np.float32)),
        "sem_cls_label": torch.from_numpy(sem),
        "box_label_mask": torch.from_numpy(mask.astype(np.float32)),
        "vote_label": torch.from_numpy(votes[choice, 1:].astype(np.float32)),
        "vote_label_mask": torch.from_numpy(votes[choice, 0].astype(np.int64)),
        "scan_idx": torch.tensor(scan_idx),
        "max_gt_bboxes": torch.from_numpy(max_b.astype(np.float32)),
    }


class _Base(torch.utils.data.Dataset):
    def __init__(self, num_points: int, augment: bool, use_color: bool, use_height: bool, seed: int) -> None:
        self.num_points, self.augment, self.use_color, self.use_height = num_points, augment, use_color, use_height
        self.seed = seed
        self.epoch = 0
        self.cfg = sunrgbd_config()

    def _rng(self, idx: int) -> np.random.Generator:
        if self.augment:  # fresh randomness every epoch (and in every worker)
            return np.random.default_rng([self.seed, self.epoch, idx, int(torch.randint(0, 2 ** 31, ()).item())])
        return np.random.default_rng([self.seed, idx])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class SunRGBDVoteNetDataset(_Base):
    """Scans in VoteNet's preprocessed SUN RGB-D layout in ``root`` (also the simulator's output)."""

    def __init__(self, root: str | Path, ids: Sequence[int] | None = None, num_points: int = 20000,
                 augment: bool = False, use_color: bool = False, use_height: bool = True, seed: int = 0) -> None:
        super().__init__(num_points, augment, use_color, use_height, seed)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"scan folder {self.root} does not exist")
        found = sorted(int(p.name[:6]) for p in self.root.glob("*_pc.npz") if p.name[:6].isdigit())
        if ids is not None:
            missing = set(ids) - set(found)
            if missing:
                raise FileNotFoundError(f"{self.root}: no {{idx:06d}}_pc.npz for ids {sorted(missing)[:5]}")
            found = list(ids)
        if not found:
            raise FileNotFoundError(f"{self.root}: no '{{idx:06d}}_pc.npz' scans (VoteNet SUN RGB-D layout)")
        self.ids = found

    def __len__(self) -> int:
        return len(self.ids)

    def load_raw(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pc (N, 6), bboxes (K, 8), votes (N, 10)) of the i-th scan, unprocessed."""
        sid = self.ids[i]
        pc = np.load(self.root / f"{sid:06d}_pc.npz")["pc"]
        bb = np.load(self.root / f"{sid:06d}_bbox.npy")
        vp = self.root / f"{sid:06d}_votes.npz"
        votes = np.load(vp)["point_votes"] if vp.is_file() else compute_votes(pc, bb)
        return pc, bb, votes

    def __getitem__(self, i: int) -> dict:
        pc, bb, votes = self.load_raw(i)
        return make_sample(pc, bb, votes, self.cfg, self.num_points, self._rng(i), self.augment, self.use_color,
                           self.use_height, scan_idx=self.ids[i])


class SunRGBDFrameDataset(_Base):
    """Raw SUN RGB-D frames (``root/depth/ID.mat`` ...); boxes of the ten VoteNet classes; votes computed
    on a 50,000-point sub-sample as the reference preprocessing does."""

    def __init__(self, root: str | Path, ids: Sequence[str | int] | None = None, num_points: int = 20000,
                 augment: bool = False, use_color: bool = False, use_height: bool = True, seed: int = 0,
                 subsample: int = 50000) -> None:
        super().__init__(num_points, augment, use_color, use_height, seed)
        self.root = Path(root)
        if not (self.root / "depth").is_dir():
            raise FileNotFoundError(f"{self.root}: expected a SUN RGB-D folder with depth/ID.mat files")
        if ids is None:
            ids = sorted(p.stem for p in (self.root / "depth").glob("*.mat"))
        self.ids = [f"{int(i):06d}" if str(i).isdigit() else str(i) for i in ids]
        self.subsample = subsample
        self._cache: dict = {}

    def __len__(self) -> int:
        return len(self.ids)

    def load_raw(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if i not in self._cache:
            from depth3d.io.sunrgbd import read_frame

            fr = read_frame(self.root, self.ids[i], with_image=False)
            pc = np.concatenate([fr.points, fr.colors], 1).astype(np.float32)
            pc = pc[np.isfinite(pc).all(1)]
            if self.subsample and pc.shape[0] > self.subsample:
                pc = pc[random_sampling(pc.shape[0], self.subsample, np.random.default_rng(0))]
            bb = sunrgbd_boxes_from_objects(fr.objects, self.cfg)
            self._cache[i] = (pc, bb, compute_votes(pc, bb))
        return self._cache[i]

    def __getitem__(self, i: int) -> dict:
        pc, bb, votes = self.load_raw(i)
        return make_sample(pc, bb, votes, self.cfg, self.num_points, self._rng(i), self.augment, self.use_color,
                           self.use_height, scan_idx=i)


class ScanNetVoteNetDataset(_Base):
    """ScanNet v2 scans in VoteNet's ``scannet_train_detection_data`` layout (axis-aligned boxes)."""

    def __init__(self, root: str | Path, scans: Sequence[str] | None = None, num_points: int = 40000,
                 augment: bool = False, use_color: bool = False, use_height: bool = True, seed: int = 0,
                 mean_size_arr: np.ndarray | None = None) -> None:
        super().__init__(num_points, augment, use_color, use_height, seed)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"ScanNet folder {self.root} does not exist")
        self.scans = list(scans) if scans is not None else sorted(
            p.name[:-len("_vert.npy")] for p in self.root.glob("*_vert.npy"))
        if not self.scans:
            raise FileNotFoundError(f"{self.root}: no '<scan>_vert.npy' files (VoteNet ScanNet layout)")
        self.cfg = scannet_config(mean_size_arr)
        from depth3d.models.votenet.config import SCANNET_NYU40IDS

        self.nyu40ids = np.array(SCANNET_NYU40IDS)

    def __len__(self) -> int:
        return len(self.scans)

    def __getitem__(self, i: int) -> dict:
        s = self.root / self.scans[i]
        verts = np.load(f"{s}_vert.npy")
        ins = np.load(f"{s}_ins_label.npy")
        sem = np.load(f"{s}_sem_label.npy")
        boxes = np.load(f"{s}_bbox.npy").reshape(-1, 7)
        keep = np.isin(boxes[:, -1], self.nyu40ids)
        boxes = boxes[keep][:MAX_NUM_OBJ]
        rng = self._rng(i)
        pc = verts[:, 0:6].astype(np.float64) if self.use_color else verts[:, 0:3].astype(np.float64)
        if self.use_color:
            pc[:, 3:] = (pc[:, 3:] - np.array([109.8, 97.2, 83.8])) / 256.0
        if self.use_height:
            pc = np.concatenate([pc, height_feature(pc[:, 2])[:, None]], 1)
        choice = random_sampling(pc.shape[0], self.num_points, rng)
        pc, ins, sem = pc[choice], ins[choice], sem[choice]
        tb = boxes[:, 0:6].astype(np.float64).copy()
        if self.augment:
            for axis in (0, 1):
                if rng.random() > 0.5:
                    pc[:, axis] *= -1
                    tb[:, axis] *= -1
            ang = (rng.random() * np.pi / 18) - np.pi / 36
            r = rotz(ang)
            pc[:, 0:3] = pc[:, 0:3] @ r.T
            # rotate_aligned_boxes: the axis-aligned extent of the rotated box
            c = tb[:, 0:3] @ r.T
            dx, dy = tb[:, 3] / 2, tb[:, 4] / 2
            nx = np.abs(dx * np.cos(ang)) + np.abs(dy * np.sin(ang))
            ny = np.abs(dx * np.sin(ang)) + np.abs(dy * np.cos(ang))
            tb = np.concatenate([c, 2 * nx[:, None], 2 * ny[:, None], tb[:, 5:6]], 1)
        votes = np.zeros((self.num_points, 3))
        vmask = np.zeros(self.num_points, np.int64)
        for inst in np.unique(ins):
            ind = np.where(ins == inst)[0]
            if sem[ind[0]] in self.nyu40ids:
                x = pc[ind, :3]
                votes[ind] = 0.5 * (x.min(0) + x.max(0)) - x
                vmask[ind] = 1
        k = tb.shape[0]
        cls = np.array([int(np.where(self.nyu40ids == c)[0][0]) for c in boxes[:, -1]], np.int64)
        out = {k_: np.zeros(v) for k_, v in (("center_label", (MAX_NUM_OBJ, 3)),
                                             ("heading_residual_label", MAX_NUM_OBJ),
                                             ("size_residual_label", (MAX_NUM_OBJ, 3)),
                                             ("box_label_mask", MAX_NUM_OBJ))}
        out["center_label"][:k] = tb[:, 0:3]
        out["size_residual_label"][:k] = tb[:, 3:6] - self.cfg.mean_size_arr[cls]
        out["box_label_mask"][:k] = 1
        scls = np.zeros(MAX_NUM_OBJ, np.int64)
        scls[:k] = cls
        res = {k_: torch.from_numpy(v.astype(np.float32)) for k_, v in out.items()}
        res.update(point_clouds=torch.from_numpy(pc.astype(np.float32)),
                   heading_class_label=torch.zeros(MAX_NUM_OBJ, dtype=torch.long),
                   size_class_label=torch.from_numpy(scls), sem_cls_label=torch.from_numpy(scls.copy()),
                   vote_label=torch.from_numpy(np.tile(votes, (1, 3)).astype(np.float32)),
                   vote_label_mask=torch.from_numpy(vmask), scan_idx=torch.tensor(i))
        return res


def split_ids(root: str | Path, split: str) -> list[int] | None:
    """Scan ids listed in ``root/<split>.txt`` (None when the file does not exist or ``split`` is "all")."""
    f = Path(root) / f"{split}.txt"
    if split == "all" or not f.is_file():
        return None
    return [int(line) for line in f.read_text().split() if line.strip()]


def pack_scans(src: str | Path, out: str | Path, points_per_scan: int = 5000, seed: int = 0,
               ids: Sequence[int] | None = None) -> None:
    """Pack a VoteNet-layout folder (or the scans ``ids`` of it) into one ``.npz`` (``pc`` (S, P, 3) float16
    sub-sampled points, ``bbox`` (S, 64, 8) float32, ``nbox`` (S,)): a training set that loads in one read
    (no per-scan decompression during training) and moves between machines as one file."""
    ds = SunRGBDVoteNetDataset(src, ids=ids)
    rng = np.random.default_rng(seed)
    pcs = np.zeros((len(ds), points_per_scan, 3), np.float16)
    bbs = np.zeros((len(ds), MAX_NUM_OBJ, 8), np.float32)
    nb = np.zeros(len(ds), np.int64)
    for i in range(len(ds)):
        pc, bb, _ = ds.load_raw(i)
        pcs[i] = pc[random_sampling(pc.shape[0], points_per_scan, rng), :3]
        nb[i] = min(len(bb), MAX_NUM_OBJ)
        bbs[i, :nb[i]] = bb[:MAX_NUM_OBJ]
    from depth3d.core.atomic import atomic_write

    with atomic_write(out) as f:
        np.savez(f, pc=pcs, bbox=bbs, nbox=nb)


class PackedVoteNetDataset(_Base):
    """Scans packed by :func:`pack_scans` (votes recomputed on load)."""

    def __init__(self, path: str | Path, num_points: int = 4096, augment: bool = False, seed: int = 0) -> None:
        super().__init__(num_points, augment, False, True, seed)
        z = np.load(path)
        self.pc, self.bbox, self.nbox = z["pc"], z["bbox"], z["nbox"]
        self._votes: dict = {}

    def __len__(self) -> int:
        return len(self.pc)

    def __getitem__(self, i: int) -> dict:
        pc = self.pc[i].astype(np.float32)
        bb = self.bbox[i, :self.nbox[i]]
        if i not in self._votes:
            self._votes[i] = compute_votes(pc, bb)
        return make_sample(pc, bb, self._votes[i], self.cfg, self.num_points, self._rng(i), self.augment,
                           scan_idx=i)


LAYOUTS = ("votenet", "sunrgbd-frames", "scannet", "packed")


def build_dataset(path: str, layout: str, num_points: int, augment: bool, ids=None):
    """A detection dataset: ``layout`` ``votenet`` (SUN RGB-D layout folder), ``sunrgbd-frames`` (raw frames),
    ``scannet`` (VoteNet's ScanNet layout) or ``packed`` (a ``depth3d sim pack`` .npz); ``ids``: scan ids
    (votenet, sunrgbd-frames) or scan names (scannet), default all."""
    if layout == "votenet":
        return SunRGBDVoteNetDataset(path, ids=ids, num_points=num_points, augment=augment)
    if layout == "sunrgbd-frames":
        return SunRGBDFrameDataset(path, ids=ids, num_points=num_points, augment=augment)
    if layout == "packed":
        return PackedVoteNetDataset(path, num_points=num_points, augment=augment)
    if layout == "scannet":
        return ScanNetVoteNetDataset(path, scans=ids, num_points=num_points, augment=augment)
    raise ValueError(f"unknown dataset layout {layout!r} (one of {', '.join(LAYOUTS)})")
