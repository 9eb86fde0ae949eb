"""3D object detection task (VoteNet): ``depth3d train det`` / ``depth3d eval det``.

Config sections: ``model`` {config: micro|tiny|small|full, plus any :class:`depth3d.models.votenet.VoteNet`
keyword (num_proposal, sampling, width, ...)}, ``data`` {root: DIR, val_root: DIR (default: root),
layout: votenet|sunrgbd-frames|scannet|packed, num_points, augment, use_color}. A VoteNet-layout folder
with ``train.txt``/``val.txt`` (the simulator's ``depth3d sim scans`` writes them) trains on the train ids
and validates on the val ids; without them every scan is used for both.

Validation metrics: the loss terms and mAP/AR at IoU 0.25 and 0.5 with the reference's evaluation settings
(per-class proposals, objectness > 0.05, per-class 3D NMS 0.25, oriented 3D IoU, VOC AP); ``best.pt`` keeps
the best ``val/mAP@0.25``. ``depth3d detect --checkpoint RUN/best.pt`` reads the trainer's checkpoints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from depth3d.models.votenet.config import MODEL_CONFIGS  # no torch

NAME = "det"
HELP = "train a VoteNet 3D detector on scans in VoteNet's layout (simulator, SUN RGB-D, ScanNet)"
EVAL_HELP = "evaluate a VoteNet checkpoint on scans: mAP/AR at IoU 0.25 and 0.5, per-class AP"
LAYOUTS = ("votenet", "sunrgbd-frames", "scannet", "packed")

DEFAULTS = {
    "model": {"config": "small"},
    "data": {"layout": "votenet", "num_points": 8000, "augment": True, "use_color": False},
    "epochs": 180,
    "batch_size": 8,
    "eval_every": 10,
    # the reference: Adam lr 1e-3, no weight decay, lr x0.1 at epochs 80, 120, 160
    "optimizer": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
    "scheduler": {"name": "step", "step_size": 80, "gamma": 0.1},
}


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="DIR", help="training scans (VoteNet layout; see --layout)")
    p.add_argument("--val", metavar="DIR", help="validation scans (default: --data, its val.txt ids if present)")
    p.add_argument("--layout", choices=LAYOUTS, help="dataset layout (default votenet)")
    p.add_argument("--model-config", choices=MODEL_CONFIGS,
                   help="VoteNet size: full (the paper's), small, tiny, micro (default small)")
    p.add_argument("--num-points", type=int, help="points sampled per scan (default 8000)")
    p.add_argument("--no-augment", action="store_true", help="no flip/rotation/scale augmentation")


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="PATH", help="scans to evaluate on: a folder or a `depth3d sim pack` .npz (default: the run's validation scans)")
    p.add_argument("--layout", choices=LAYOUTS)
    p.add_argument("--split", default="val", choices=("train", "val", "all"),
                   help="ids of a folder with train.txt/val.txt (default val)")
    p.add_argument("--num-points", type=int)
    p.add_argument("--dataset", choices=("sunrgbd", "scannet"),
                   help="head sizes of a released facebookresearch/votenet .tar (default: from its tensor shapes)")


def config_from_args(args: argparse.Namespace) -> dict:
    out: dict = {}
    data: dict = {}
    for key, dest in (("root", "data"), ("val_root", "val"), ("layout", "layout"), ("num_points", "num_points")):
        v = getattr(args, dest, None)
        if v is not None:
            data[key] = v
    if getattr(args, "no_augment", False):
        data["augment"] = False
    if data:
        out["data"] = data
    if getattr(args, "model_config", None):
        out["model"] = {"config": args.model_config}
    return out


def load_split(cfg: dict, split: str):
    """The dataset of ``split`` ("train" or "val") described by ``cfg["data"]``."""
    from depth3d.datasets.votenet_detection import build_dataset, split_ids

    d = cfg.get("data", {})
    if not d.get("root"):
        raise ValueError("det task: no training data; pass --data DIR (e.g. the output of `depth3d sim scans`)")
    root = Path(d["root"] if split == "train" else d.get("val_root") or d["root"])
    if not root.exists():
        raise FileNotFoundError(f"--data {root}: does not exist")
    layout = d.get("layout", "votenet")
    if layout == "packed" and root.is_dir():
        layout = "votenet"  # a `depth3d sim scans` folder where the config expects a `sim pack` file: read it
        if split == "train":
            import sys

            print(f"note: {root} is a folder of scans, not a `depth3d sim pack` .npz: reading it in the votenet "
                  f"layout (slower to load; `depth3d sim pack` makes the packed file)", file=sys.stderr)
    elif layout != "packed" and root.is_file() and root.suffix.lower() == ".npz":
        layout = "packed"
    ids = split_ids(root, split) if layout == "votenet" else None
    augment = bool(d.get("augment", True)) and split == "train"
    return build_dataset(str(root), layout, int(d.get("num_points", 8000)), augment, ids=ids)


def make_task():
    """The detection :class:`depth3d.train.Task` (VoteNet loss; validation mAP@0.25/0.5)."""
    import numpy as np
    import torch

    from depth3d.models.votenet import build_votenet
    from depth3d.models.votenet.config import DatasetConfig
    from depth3d.models.votenet.loss import LOSS_KEYS, get_loss
    from depth3d.train.task import SplitTask, StepOutput

    class DetTask(SplitTask):
        name = "det"
        monitor = "val/mAP@0.25"
        monitor_mode = "max"
        plot_metrics = ("mAP@0.25", "mAP@0.5", "obj_acc")
        defaults = DEFAULTS
        val_split = "val"

        def __init__(self) -> None:
            super().__init__()
            self.dataset_cfg = None

        def load_split(self, cfg, split):
            return load_split(cfg, split)

        def note_data(self, data_cfg, train):
            self.dataset_cfg = train.cfg
            data_cfg["dataset_config"] = train.cfg.to_dict()

        def build_model(self, cfg):
            if "dataset_config" not in cfg.get("data", {}):
                self.build_datasets(cfg)
            self.dataset_cfg = DatasetConfig.from_dict(cfg["data"]["dataset_config"])
            m = dict(cfg.get("model", {}))
            size = m.pop("config", "small")
            if size not in MODEL_CONFIGS:
                raise ValueError(f"model.config must be one of {MODEL_CONFIGS}, got {size!r}")
            return build_votenet(self.dataset_cfg, size, **m)

        def step(self, model, batch, device, train):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            end_points = model(batch["point_clouds"])
            end_points.update(batch)
            loss, end_points = get_loss(end_points, self.dataset_cfg)
            n = float(batch["point_clouds"].shape[0])
            metrics = {"loss": (float(loss.detach()) * n, n)}
            metrics.update({k: (float(end_points[k].detach()) * n, n) for k in LOSS_KEYS if k in end_points})
            return StepOutput(loss, metrics)

        def evaluate(self, model, loader, device, dist_info):
            from depth3d.detection.evaluation import detection_metrics, evaluate
            from depth3d.train.distributed import all_gather_object, all_reduce_sums

            sums: dict[str, list[float]] = {}

            def add_losses(end_points, batch):
                end_points.update(batch)
                loss, _ = get_loss(end_points, self.dataset_cfg)
                n = float(batch["point_clouds"].shape[0])
                for k in ("loss", *LOSS_KEYS):
                    v = float(loss) if k == "loss" else float(end_points[k])
                    acc = sums.setdefault(k, [0.0, 0.0])
                    acc[0] += v * n
                    acc[1] += n

            scans = evaluate(model, loader, self.dataset_cfg, device, on_batch=add_losses)
            red = all_reduce_sums({k: (v[0], v[1]) for k, v in sums.items()}, dist_info)
            out = {k: s / max(c, 1e-12) for k, (s, c) in red.items()}
            everything = [s for part in all_gather_object(scans, dist_info) for s in part]
            m = detection_metrics(everything, self.dataset_cfg.class2type)
            out.update({k: v for k, v in m.items() if not k.startswith("AP@")})
            return {k: (float(v) if np.isfinite(v) else 0.0) for k, v in out.items()}

    return DetTask()


def run_eval(args: argparse.Namespace) -> int:
    """``depth3d eval det CHECKPOINT``: mAP/AR at IoU 0.25 and 0.5 and per-class AP on scans."""
    from torch.utils.data import DataLoader

    from depth3d.core.device import resolve_device
    from depth3d.datasets.votenet_detection import build_dataset, split_ids
    from depth3d.detection.evaluation import detection_metrics, evaluate
    from depth3d.models.votenet import load_votenet

    resolve_device(args.device)
    net, dcfg, ck = load_votenet(args.checkpoint, getattr(args, "dataset", None))
    net.to(args.device)
    trained = (ck.get("config") or {}).get("data", {})
    root = Path(args.data or trained.get("val_root") or trained.get("root") or "")
    if not str(root) or not root.exists():
        raise ValueError(f"eval det: no scans to evaluate on ({root!s}); pass --data DIR")
    if args.layout:
        layout = args.layout
    elif root.is_file():
        layout = "packed"  # a `depth3d sim pack` file
    else:  # a folder: the trained layout unless that was a packed file
        layout = trained.get("layout", "votenet") if trained.get("layout") != "packed" else "votenet"
    n = args.num_points or int(ck.get("num_points") or trained.get("num_points", 8000))
    if n < net.min_points:
        raise ValueError(f"eval det: --num-points {n} is fewer than the {net.min_points} points the model of "
                         f"{args.checkpoint} samples; pass at least {net.min_points}")
    ids = split_ids(root, args.split) if layout == "votenet" else None
    ds = build_dataset(str(root), layout, n, False, ids=ids)
    scans = evaluate(net, DataLoader(ds, batch_size=args.batch_size), dcfg, args.device, progress=True)
    res: dict = {"checkpoint": ck["path"], "data": str(root), "layout": layout,
                 "split": args.split if layout == "votenet" else None, "scans": len(ds), "num_points": n}
    for t, m in ((t, detection_metrics(scans, dcfg.class2type, (t,))) for t in (0.25, 0.5)):
        res[f"mAP@{t}"] = m[f"mAP@{t}"]
        res[f"AR@{t}"] = m[f"AR@{t}"]
        # classes without ground truth or predictions have no AP: null in the JSON
        res[f"AP@{t}"] = {k: (None if v != v else v) for k, v in m[f"AP@{t}"].items()}
    text = json.dumps(res, indent=2, default=float)
    if args.output:
        from depth3d.core.atomic import atomic_write

        with atomic_write(args.output, "w") as f:
            f.write(text)
    print(text)
    return 0
