"""Point-cloud classification task: ``depth3d train cls`` / ``depth3d eval cls``.

Config sections: ``model`` {name: pointnet2_ssg|pointnet2_msg|pointconv|sonet, dropout, ...model kwargs},
``data`` {root: DIR|synthetic, format: auto|shapes|modelnet40, num_points, use_normals, augment (bool or
dict, see :class:`depth3d.datasets.augment.Augment`), synthetic: {train_per_class, test_per_class,
num_points, scan_fraction, seed}}, ``label_smoothing``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from depth3d.models.registry import CLASSIFIERS  # no torch

NAME = "cls"
HELP = "train a point-cloud classifier (PointNet++ SSG/MSG, PointConv, SO-Net)"
EVAL_HELP = "evaluate a point-cloud classifier checkpoint: accuracy, per-class accuracy"
MODELS = CLASSIFIERS

DEFAULTS = {
    "model": {"name": "pointnet2_ssg"},
    "data": {"root": "synthetic", "format": "auto", "num_points": 1024, "use_normals": False,
             "augment": {"rotate": True, "scale_low": 0.8, "scale_high": 1.25, "shift": 0.1,
                         "jitter_sigma": 0.01, "jitter_clip": 0.05, "dropout_ratio": 0.875},
             "synthetic": {"train_per_class": 80, "test_per_class": 20, "num_points": 1024,
                           "scan_fraction": 0.5, "seed": 0}},
    "epochs": 30,
    "batch_size": 16,
    "label_smoothing": 0.0,
    "optimizer": {"name": "adam", "lr": 1e-3, "weight_decay": 1e-4},
    "scheduler": {"name": "step", "step_size": 20, "gamma": 0.7},
}


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=MODELS, help="network (default pointnet2_ssg)")
    p.add_argument("--data", metavar="DIR|synthetic",
                   help="a modelnet40_normal_resampled folder, a folder with train.npz/test.npz from "
                   "depth3d.datasets.shapes, or 'synthetic' (generated into RUN_DIR/data once)")
    p.add_argument("--num-points", type=int, help="points per cloud (default 1024)")
    p.add_argument("--normals", action="store_true", default=None, help="use normals (ModelNet40 only)")
    p.add_argument("--no-augment", action="store_true", help="no training augmentation")


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="DIR|synthetic", help="dataset (default: the one the model trained on)")
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.add_argument("--num-points", type=int)


def config_from_args(args: argparse.Namespace) -> dict:
    out: dict = {}
    if getattr(args, "model", None):
        out["model"] = {"name": args.model}
    data: dict = {}
    if getattr(args, "data", None):
        data["root"] = args.data
    if getattr(args, "num_points", None):
        data["num_points"] = args.num_points
    if getattr(args, "normals", None):
        data["use_normals"] = True
    if getattr(args, "no_augment", False):
        data["augment"] = False
    if data:
        out["data"] = data
    if getattr(args, "output", None):
        out["run_dir"] = str(args.output)
    return out


def _detect_format(root: Path) -> str:
    if (root / "modelnet40_shape_names.txt").is_file():
        return "modelnet40"
    if (root / "train.npz").is_file():
        return "shapes"
    raise FileNotFoundError(f"{root}: neither a modelnet40_normal_resampled folder (modelnet40_shape_names.txt) "
                            "nor a synthetic shapes folder (train.npz/test.npz)")


def resolve_data_root(cfg: dict) -> tuple[Path, str]:
    """(data folder, format); ``root: synthetic`` generates the set into ``run_dir/data`` (or reuses it)."""
    d = cfg["data"]
    root = d.get("root", "synthetic")
    if root == "synthetic":
        base = Path(cfg.get("synthetic_dir") or Path(cfg.get("run_dir", ".")) / "data")
        if not (base / "test.npz").is_file():
            import os

            from depth3d.datasets.shapes import generate_shapes

            s = d.get("synthetic", {})
            if int(os.environ.get("RANK", "0")) == 0:
                generate_shapes(base, s.get("train_per_class", 80), s.get("test_per_class", 20),
                                s.get("num_points", 1024), s.get("scan_fraction", 0.5), s.get("seed", 0),
                                progress=bool(cfg.get("progress", True)))
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                import torch.distributed as dist

                if dist.is_initialized():
                    dist.barrier()
        return base, "shapes"
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--data {root}: folder does not exist")
    fmt = d.get("format", "auto")
    return root, _detect_format(root) if fmt == "auto" else fmt


def load_split(cfg: dict, split: str):
    """The dataset of ``split`` ("train"|"test") described by ``cfg["data"]``."""
    from depth3d.datasets.augment import Augment

    d = cfg["data"]
    root, fmt = resolve_data_root(cfg)
    aug = Augment.from_config(d.get("augment")) if split == "train" else None
    n = int(d.get("num_points", 1024))
    seed = int(cfg.get("seed", 0))
    if fmt == "modelnet40":
        from depth3d.datasets.modelnet import load_modelnet40

        return load_modelnet40(root, split, n, bool(d.get("use_normals", False)), aug, seed,
                               progress=bool(cfg.get("progress", True)))
    if fmt == "shapes":
        from depth3d.datasets.shapes import load_shapes

        return load_shapes(root, split, n, aug, seed)
    raise ValueError(f"data.format must be auto, shapes or modelnet40, got {fmt!r}")


def make_task():
    """The classification :class:`depth3d.train.Task` (cross-entropy; metrics loss and acc)."""
    import torch.nn.functional as F

    from depth3d.train.task import ClassificationTask, SplitTask

    class ClsTask(ClassificationTask, SplitTask):
        name = "cls"
        defaults = DEFAULTS
        val_split = "test"

        def __init__(self) -> None:
            super().__init__()
            self.label_smoothing = 0.0

        def load_split(self, cfg, split):
            return load_split(cfg, split)

        def note_data(self, data_cfg, train):
            data_cfg["classes"] = list(train.classes)

        def build_model(self, cfg):
            from depth3d.models.registry import build_classifier

            if "classes" not in cfg.get("data", {}):
                self.build_datasets(cfg)
            self.label_smoothing = float(cfg.get("label_smoothing", 0.0))
            m = dict(cfg["model"])
            name = m.pop("name")
            in_ch = 3 if cfg["data"].get("use_normals") else 0
            return build_classifier(name, len(cfg["data"]["classes"]), in_channels=in_ch, **m)

        def step(self, model, batch, device, train):
            pts, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
            logits = model(pts)
            loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing if train else 0.0)
            return self.output(loss, logits, y)

    return ClsTask()


def predict(model, dataset, device, batch_size: int = 16, progress: bool = True):
    """(predictions (M,), labels (M,)) numpy int64 for every sample of ``dataset``."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    model.eval()
    preds, labels = [], []
    with torch.no_grad():
        for pts, y in tqdm(DataLoader(dataset, batch_size=batch_size), desc="eval", disable=not progress,
                           leave=False):
            preds.append(model(pts.to(device)).argmax(1).cpu().numpy())
            labels.append(y.numpy())
    return np.concatenate(preds), np.concatenate(labels)


def run_eval(args: argparse.Namespace) -> int:
    """``depth3d eval cls CHECKPOINT``: overall and per-class (mean) accuracy, confusion matrix."""
    import numpy as np
    import torch

    from depth3d.core.device import resolve_device
    from depth3d.train.checkpoint import load_checkpoint
    from depth3d.train.config import merge

    resolve_device(args.device)
    ck_path = Path(args.checkpoint)
    if ck_path.is_dir():
        ck_path = ck_path / "best.pt" if (ck_path / "best.pt").is_file() else ck_path / "last.pt"
    ck = load_checkpoint(ck_path)
    if ck.get("task") != "cls":
        raise ValueError(f"{ck_path} is a {ck.get('task')!r} checkpoint, not a classification one")
    cfg = merge(ck["config"], config_from_args(args))
    task = make_task()
    model = task.build_model(cfg)
    model.load_state_dict(ck["model"])
    model.to(args.device)
    ds = load_split(cfg, args.split)
    trained_classes = ck["config"]["data"]["classes"]
    if list(ds.classes) != list(trained_classes):
        raise ValueError(f"dataset classes {ds.classes} differ from the checkpoint's {trained_classes}")
    pred, y = predict(model, ds, torch.device(args.device), args.batch_size)
    k = len(trained_classes)
    conf = np.zeros((k, k), np.int64)
    np.add.at(conf, (y, pred), 1)
    per_class = conf.diagonal() / np.maximum(conf.sum(1), 1)
    res = {"checkpoint": str(ck_path), "split": args.split, "samples": int(len(y)),
           "accuracy": float((pred == y).mean()), "mean_class_accuracy": float(per_class[conf.sum(1) > 0].mean()),
           "per_class": {c: float(a) for c, a in zip(trained_classes, per_class)}, "confusion": conf.tolist(),
           "epoch": ck["epoch"], "model": cfg["model"]["name"]}
    text = json.dumps(res, indent=2)
    if args.output:
        from depth3d.core.atomic import atomic_write

        with atomic_write(args.output, "w") as f:
            f.write(text)
    print(text)
    return 0
