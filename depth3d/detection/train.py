"""VoteNet training helpers (datasets, model sizes, one step, evaluation) and a stand-alone training loop.

Users train with ``depth3d train det`` (:mod:`depth3d.train.tasks.det`: config files, progress, metrics
and plot, checkpoints/resume, torchrun), which builds on these functions. The loop in :func:`main` is kept
because the runs recorded in ``benchmarks/results/detection.md`` (SUN RGB-D overfit) used it::

    python -m depth3d.detection.train --data DIR_TRAIN --val DIR_VAL -o runs/det --minutes 30 \
        --config small --num-points 8000 --batch-size 8 --threads 2

Data: folders in VoteNet's SUN RGB-D layout (the simulator's synthetic
scans, VoteNet's preprocessed SUN RGB-D) or a raw SUN RGB-D folder (``--layout sunrgbd-frames``).
Optimiser as the reference: Adam, lr 1e-3, weight decay 0; here with a cosine schedule over the time or
epoch budget. Metrics (loss terms, mAP@0.25/0.5) go to ``metrics.jsonl``; ``last.pt``/``best.pt`` are
:func:`depth3d.models.votenet.save_checkpoint` files.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from depth3d.detection.decode import EVAL_CONFIG, parse_groundtruths, parse_predictions
from depth3d.detection.evaluation import APCalculator
from depth3d.models.votenet import VoteNet, build_votenet, save_checkpoint, micro_config, small_config, sunrgbd_config, tiny_config
from depth3d.models.votenet.loss import get_loss

LOSS_KEYS = ("loss", "vote_loss", "objectness_loss", "box_loss", "sem_cls_loss", "center_loss",
             "heading_cls_loss", "heading_reg_loss", "size_cls_loss", "size_reg_loss", "obj_acc", "pos_ratio")


def build_dataset(path: str, layout: str, num_points: int, augment: bool, ids=None):
    """A detection dataset: ``layout`` ``votenet`` (SUN RGB-D layout folder), ``sunrgbd-frames`` (raw frames)
    or ``scannet`` (VoteNet's ScanNet layout)."""
    from depth3d.datasets.votenet_detection import (ScanNetVoteNetDataset, SunRGBDFrameDataset,
                                                    SunRGBDVoteNetDataset)

    if layout == "votenet":
        return SunRGBDVoteNetDataset(path, ids=ids, num_points=num_points, augment=augment)
    if layout == "sunrgbd-frames":
        return SunRGBDFrameDataset(path, ids=ids, num_points=num_points, augment=augment)
    if layout == "packed":
        from depth3d.datasets.votenet_detection import PackedVoteNetDataset

        return PackedVoteNetDataset(path, num_points=num_points, augment=augment)
    if layout == "scannet":
        return ScanNetVoteNetDataset(path, scans=ids, num_points=num_points, augment=augment)
    raise ValueError(f"unknown dataset layout {layout!r} (votenet, sunrgbd-frames, scannet)")


def build_model(config: str, cfg=None, **overrides) -> VoteNet:
    """``config`` ``full`` (the paper's), ``small``, ``tiny`` or ``micro`` (CPU) VoteNet with a height feature."""
    cfg = cfg or sunrgbd_config()
    kw = dict(input_feature_dim=1, num_proposal=256, sampling="vote_fps")
    if config == "small":
        kw.update(small_config())
    elif config == "tiny":
        kw.update(tiny_config())
    elif config == "micro":
        kw.update(micro_config())
    elif config != "full":
        raise ValueError(f"model config must be 'full' or 'small', got {config!r}")
    kw.update(overrides)
    return build_votenet(cfg, **kw)


def train_step(net: VoteNet, batch: dict, cfg, optimizer: torch.optim.Optimizer, device: str) -> dict:
    """One optimisation step; returns the loss terms as floats."""
    net.train()
    batch = {k: v.to(device) for k, v in batch.items()}
    end_points = net(batch["point_clouds"])
    end_points.update(batch)
    loss, end_points = get_loss(end_points, cfg)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {k: float(end_points[k].detach()) for k in LOSS_KEYS}


@torch.no_grad()
def evaluate(net: VoteNet, loader, cfg, device: str = "cpu", thresholds=(0.25, 0.5), post=EVAL_CONFIG) -> dict:
    """mAP (and per-class AP, AR) at each IoU threshold over ``loader`` (reference evaluation)."""
    net.eval()
    calcs = {t: APCalculator(t, cfg.class2type) for t in thresholds}
    for batch in loader:
        pcs = batch["point_clouds"].to(device)
        end_points = net(pcs)
        preds, _ = parse_predictions(end_points, cfg, post, point_clouds=pcs)
        gts = parse_groundtruths(batch, cfg)
        for c in calcs.values():
            c.step(preds, gts)
    out = {}
    for t, c in calcs.items():
        for k, v in c.compute_metrics().items():
            out[f"{k}@{t}"] = v
    return out


def set_bn_momentum(net: torch.nn.Module, momentum: float) -> None:
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m depth3d.detection.train", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="training data folder")
    p.add_argument("--val", help="validation data folder (default: the training folder)")
    p.add_argument("--layout", default="votenet", choices=("votenet", "sunrgbd-frames", "scannet", "packed"))
    p.add_argument("-o", "--output", required=True, help="run folder")
    p.add_argument("--config", default="small", choices=("micro", "tiny", "small", "full"))
    p.add_argument("--num-points", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--minutes", type=float, default=None, help="wall-clock training budget")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--eval-every", type=int, default=5, help="epochs between evaluations")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", help="start from the weights of this checkpoint (e.g. RUN/last.pt)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    cfg = sunrgbd_config()
    train_ds = build_dataset(args.data, args.layout, args.num_points, not args.no_augment)
    val_ds = build_dataset(args.val or args.data, args.layout, args.num_points, False)
    cfg = train_ds.cfg
    net = build_model(args.config, cfg).to(args.device)
    if args.resume:
        from depth3d.models.votenet import load_checkpoint

        net = load_checkpoint(args.resume)[0].to(args.device)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    tl = torch.utils.data.DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, drop_last=True,
                                     num_workers=args.workers)
    vl = torch.utils.data.DataLoader(val_ds, batch_size=args.batch_size, num_workers=args.workers)
    budget = args.minutes * 60 if args.minutes else None
    t0 = time.time()
    best = -1.0
    total_steps = args.epochs * len(tl)
    step = 0
    from tqdm import tqdm

    log = open(out / "metrics.jsonl", "a")
    for epoch in range(args.epochs):
        train_ds.set_epoch(epoch)
        set_bn_momentum(net, max(0.01, 0.5 * 0.5 ** (epoch // 20)) if budget is None else 0.1)
        agg: dict = {}
        for batch in tqdm(tl, desc=f"epoch {epoch}", leave=False):
            frac = (time.time() - t0) / budget if budget else step / max(1, total_steps)
            for g in opt.param_groups:
                g["lr"] = args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
            terms = train_step(net, batch, cfg, opt, args.device)
            for k, v in terms.items():
                agg.setdefault(k, []).append(v)
            step += 1
            if budget and time.time() - t0 > budget:
                break
        rec = {"epoch": epoch, "step": step, "time_s": round(time.time() - t0, 1),
               "lr": opt.param_groups[0]["lr"], **{k: float(np.mean(v)) for k, v in agg.items()}}
        done = bool(budget and time.time() - t0 > budget) or epoch == args.epochs - 1
        if (epoch + 1) % args.eval_every == 0 or done:
            m = evaluate(net, vl, cfg, args.device)
            rec.update({k: v for k, v in m.items() if k.startswith(("mAP", "AR"))})
            extra = {"epoch": epoch, "metrics": rec, "num_points": args.num_points, "command": " ".join(["python -m depth3d.detection.train",
                                                                           *(argv or __import__('sys').argv[1:])])}
            save_checkpoint(out / "last.pt", net, cfg, extra)
            if rec["mAP@0.25"] > best:
                best = rec["mAP@0.25"]
                save_checkpoint(out / "best.pt", net, cfg, extra, half=True)
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if done:
            break
    log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
