"""ModelNet40 in the ``modelnet40_normal_resampled`` layout (the PointNet++ / PointConv / SO-Net release):

    ROOT/modelnet40_shape_names.txt       one class name a line (40 lines)
    ROOT/modelnet40_train.txt, _test.txt  one shape id a line, e.g. ``airplane_0001``
    ROOT/<class>/<shape id>.txt           one point a line: ``x,y,z,nx,ny,nz`` (10,000 points)

The class of ``airplane_0001`` is the id without its trailing ``_NNNN``. As in the reference loaders the
first ``num_points`` points are used and xyz are centred and scaled into the unit sphere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from depth3d.datasets.augment import Augment
from depth3d.datasets.shapes import PointCloudClsDataset


def read_modelnet_txt(path: str | Path) -> np.ndarray:
    """(P, 6) float32 from a ``x,y,z,nx,ny,nz`` text file; ValueError naming the file on bad content."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ModelNet40 shape file {path} does not exist")
    try:
        data = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: expected lines 'x,y,z,nx,ny,nz': {exc}") from exc
    if data.shape[1] != 6:
        raise ValueError(f"{path}: expected 6 comma-separated values a line, got {data.shape[1]}")
    return data


def load_modelnet40(root: str | Path, split: str, num_points: int = 1024, use_normals: bool = False,
                    augment: Optional[Augment] = None, seed: int = 0, progress: bool = True
                    ) -> PointCloudClsDataset:
    """Load a split ("train"|"test") of ``modelnet40_normal_resampled`` into memory.

    Returns a dataset of (points (num_points, 3 or 6) float32, label) samples built, as in the reference,
    from the first ``num_points`` points of each file (training samples shuffle their order and augment)."""
    from tqdm import tqdm

    root = Path(root)
    names_file = root / "modelnet40_shape_names.txt"
    list_file = root / f"modelnet40_{split}.txt"
    for f in (names_file, list_file):
        if not f.is_file():
            raise FileNotFoundError(f"{f} does not exist; expected the modelnet40_normal_resampled layout "
                                    "(modelnet40_shape_names.txt, modelnet40_train.txt/_test.txt, <class>/<id>.txt)")
    classes = [ln.strip() for ln in names_file.read_text().splitlines() if ln.strip()]
    cid = {c: i for i, c in enumerate(classes)}
    ids = [ln.strip() for ln in list_file.read_text().splitlines() if ln.strip()]
    pts, labels = [], []
    for sid in tqdm(ids, desc=f"ModelNet40 {split}", disable=not progress, leave=False):
        cname = "_".join(sid.split("_")[:-1])
        if cname not in cid:
            raise ValueError(f"{list_file}: shape {sid!r} has class {cname!r}, not in {names_file.name}")
        data = read_modelnet_txt(root / cname / f"{sid}.txt")
        if len(data) < num_points:
            raise ValueError(f"{root / cname / (sid + '.txt')}: {len(data)} points, fewer than num_points "
                             f"{num_points}")
        data = data[:num_points].copy()
        xyz = data[:, :3] - data[:, :3].mean(0)
        xyz /= max(float(np.linalg.norm(xyz, axis=1).max()), 1e-12)
        data[:, :3] = xyz
        pts.append(data if use_normals else data[:, :3])
        labels.append(cid[cname])
    if not pts:
        raise ValueError(f"{list_file} lists no shapes")
    return PointCloudClsDataset(np.stack(pts), np.asarray(labels), classes, num_points, train=split == "train",
                                augment=augment if split == "train" else None, seed=seed)
