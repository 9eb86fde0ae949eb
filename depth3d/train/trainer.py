"""The generic training loop: one process or many under ``torchrun`` (DistributedDataParallel).

    from depth3d.train import Trainer
    result = Trainer(task, cfg, run_dir, device="cpu").fit()

``cfg`` keys the trainer reads (all optional, defaults in :data:`TRAINER_DEFAULTS`): ``seed``, ``epochs``,
``batch_size`` (GLOBAL batch: each of N processes gets ``batch_size / N``), ``num_workers``, ``drop_last``,
``grad_clip``, ``sync_bn``, ``limit_train_batches``, ``eval_every``, ``checkpoint_every``, ``progress``,
``threads``, ``max_minutes`` (stop after the epoch that would overrun this wall-clock budget),
``optimizer`` and ``scheduler`` (see :class:`depth3d.train.task.Task`).

Run directory (written by rank 0 only): ``config.yaml``, ``metrics.jsonl``, ``metrics.csv``,
``curves.png`` (loss and task metrics per epoch), ``last.pt`` (every epoch), ``best.pt`` (best
``task.monitor``), ``epoch_XXXX.pt`` (every ``checkpoint_every`` epochs when > 0).
"""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from depth3d.train import distributed as D
from depth3d.train.checkpoint import load_checkpoint, save_checkpoint, set_rng_state, unwrap
from depth3d.train.config import merge, save_config
from depth3d.train.logs import MetricsLog, plot_curves
from depth3d.train.task import Task

TRAINER_DEFAULTS: dict = {
    "seed": 0,
    "epochs": 10,
    "batch_size": 32,
    "num_workers": 0,
    "drop_last": True,
    "grad_clip": None,
    "sync_bn": True,
    "limit_train_batches": None,
    "eval_every": 1,
    "checkpoint_every": 0,
    "progress": True,
    "threads": None,
    "max_minutes": None,
    "optimizer": {"name": "adam", "lr": 1e-3, "weight_decay": 1e-4},
    "scheduler": {"name": "step", "step_size": 20, "gamma": 0.7},
}


class ShardSampler(Sampler[int]):
    """Evaluation sampler: rank r of N takes indices r, r+N, ... (no padding, no duplicates), so metrics
    summed over ranks count every sample exactly once."""

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Train ``task`` with config ``cfg`` into ``run_dir`` on ``device`` ("cpu" or "cuda").

    resume: None/False (start fresh; refuses a run_dir that already has last.pt unless ``overwrite``),
    True (continue from ``run_dir/last.pt``) or a checkpoint path."""

    def __init__(self, task: Task, cfg: dict, run_dir: str | Path, device: str = "cpu",
                 resume: bool | str | Path | None = None, overwrite: bool = False) -> None:
        self.task = task
        self.cfg = merge(merge(TRAINER_DEFAULTS, task.default_config()), cfg)
        self.run_dir = Path(run_dir)
        self.device_name = device
        self.resume = resume
        self.overwrite = overwrite

    # -- helpers -----------------------------------------------------------------------------------
    def _loader(self, ds: Dataset, sampler: Sampler, batch: int, drop_last: bool) -> DataLoader:
        nw = int(self.cfg["num_workers"])
        return DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=nw, drop_last=drop_last,
                          collate_fn=self.task.collate_fn(), persistent_workers=nw > 0,
                          pin_memory=self.info.device.type == "cuda")

    def _resume_path(self) -> Optional[Path]:
        if self.resume in (None, False):
            return None
        if self.resume is True:
            p = self.run_dir / "last.pt"
            if not p.is_file():
                raise FileNotFoundError(f"--resume: {p} does not exist (nothing to resume in {self.run_dir})")
            return p
        return Path(self.resume)

    # -- main loop ---------------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train for ``cfg["epochs"]`` epochs; returns {"epoch", "best", "metrics" (last epoch record),
        "run_dir"}."""
        cfg = self.cfg
        if cfg.get("threads"):
            torch.set_num_threads(int(cfg["threads"]))
        self.info = info = D.init(self.device_name)
        try:
            return self._fit(cfg, info)
        finally:
            D.shutdown(info)

    def _fit(self, cfg: dict, info: D.DistInfo) -> dict:
        resume_path = self._resume_path()
        if resume_path is None and not self.overwrite and (self.run_dir / "last.pt").exists():
            raise ValueError(f"{self.run_dir} already holds a run (last.pt); pass --resume to continue it or "
                             "choose another output folder")
        ckpt = load_checkpoint(resume_path) if resume_path else None
        if ckpt is not None:
            if ckpt.get("task") != self.task.name:
                raise ValueError(f"{resume_path} is a {ckpt.get('task')!r} checkpoint, not {self.task.name!r}")
            # the model/data sections of a resumed run come from its checkpoint
            cfg = self.cfg = merge(ckpt["config"], {k: v for k, v in cfg.items()
                                                    if k in ("epochs", "progress", "num_workers", "threads", "max_minutes")})
        world = info.world_size
        gbatch = int(cfg["batch_size"])
        if gbatch % world:
            raise ValueError(f"batch_size {gbatch} (global) must be divisible by the number of processes {world}")
        batch = gbatch // world
        seed = int(cfg["seed"])

        seed_everything(seed)  # identical model initialisation on every rank
        model = self.task.build_model(cfg).to(info.device)
        if info.distributed and cfg.get("sync_bn", True):
            model = D.convert_sync_batchnorm(model, info.device).to(info.device)
        train_ds, val_ds = self.task.build_datasets(cfg)
        if len(train_ds) < gbatch and cfg.get("drop_last", True):
            raise ValueError(f"training set has {len(train_ds)} samples, fewer than one batch ({gbatch})")
        optimizer = self.task.build_optimizer(model, cfg)
        scheduler = self.task.build_scheduler(optimizer, cfg)
        start_epoch, best = 0, None
        if ckpt is not None:
            unwrap(model).load_state_dict(ckpt["model"])
            if ckpt.get("optimizer") is not None:
                optimizer.load_state_dict(ckpt["optimizer"])
            if scheduler is not None and ckpt.get("scheduler") is not None:
                scheduler.load_state_dict(ckpt["scheduler"])
            start_epoch, best = int(ckpt["epoch"]), ckpt.get("best")
        if info.distributed:
            model = nn.parallel.DistributedDataParallel(
                model, device_ids=[info.device.index] if info.device.type == "cuda" else None,
                find_unused_parameters=bool(cfg.get("find_unused_parameters", False)))
        seed_everything(seed + 1000 * info.rank + start_epoch)
        if ckpt is not None and world == ckpt.get("extra", {}).get("world_size", 1) and info.is_main:
            set_rng_state(ckpt["rng"])

        train_sampler = DistributedSampler(train_ds, num_replicas=world, rank=info.rank, shuffle=True,
                                           seed=seed, drop_last=True)
        train_loader = self._loader(train_ds, train_sampler, batch, bool(cfg.get("drop_last", True)))
        val_loader = (self._loader(val_ds, ShardSampler(len(val_ds), info.rank, world), batch, False)
                      if val_ds is not None and len(val_ds) else None)

        log = None
        if info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / "config.yaml")
            log = MetricsLog(self.run_dir, resume_epoch=start_epoch if ckpt is not None else 0)
        monitor, mode = self.task.monitor, self.task.monitor_mode
        record: dict = {}
        limit = cfg.get("limit_train_batches")
        t_start = time.perf_counter()
        max_s = float(cfg["max_minutes"]) * 60 if cfg.get("max_minutes") else None
        last_epoch = start_epoch
        for epoch in range(start_epoch, int(cfg["epochs"])):
            t0 = time.perf_counter()
            train_sampler.set_epoch(epoch)
            for ds in (train_ds, val_ds):
                if ds is not None and hasattr(ds, "set_epoch"):
                    ds.set_epoch(epoch)
            model.train()
            sums: dict[str, list[float]] = {}
            n_batches = len(train_loader) if not limit else min(len(train_loader), int(limit))
            bar = _progress(n_batches, f"epoch {epoch + 1}/{cfg['epochs']}",
                            enabled=info.is_main and bool(cfg.get("progress", True)))
            for i, b in enumerate(train_loader):
                if limit and i >= int(limit):
                    break
                out = self.task.step(model, b, info.device, train=True)
                if not torch.isfinite(out.loss):
                    raise RuntimeError(f"loss became {out.loss.item()} at epoch {epoch + 1}, batch {i}; lower "
                                       "the learning rate or check the data")
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                if cfg.get("grad_clip"):
                    nn.utils.clip_grad_norm_(model.parameters(), float(cfg["grad_clip"]))
                optimizer.step()
                for k, (s, c) in out.metrics.items():
                    acc = sums.setdefault(k, [0.0, 0.0])
                    acc[0] += float(s)
                    acc[1] += float(c)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{v[0] / max(v[1], 1e-12):.4f}" for k, v in sums.items()})
            if bar is not None:
                bar.close()
            lr = optimizer.param_groups[0]["lr"]
            if scheduler is not None:
                scheduler.step()
            red = D.all_reduce_sums({k: (v[0], v[1]) for k, v in sums.items()}, info)
            record = {"epoch": epoch + 1, "lr": lr}
            record.update({f"train/{k}": s / max(c, 1e-12) for k, (s, c) in red.items()})
            eval_every = max(1, int(cfg.get("eval_every", 1)))
            if val_loader is not None and ((epoch + 1) % eval_every == 0 or epoch + 1 == int(cfg["epochs"])):
                vm = self.task.evaluate(model, val_loader, info.device, info)
                record.update({f"val/{k}": v for k, v in vm.items()})
            record["time_s"] = time.perf_counter() - t0
            record["world_size"] = world
            value = record.get(monitor)
            improved = value is not None and (best is None or (value > best if mode == "max" else value < best))
            if improved:
                best = value
            if info.is_main:
                assert log is not None
                log.append(record)
                plot_curves(log.records, self.run_dir / "curves.png", self.task.plot_metrics,
                            title=f"{self.task.name}: {cfg.get('model', {}).get('name', '')}")
                kw = dict(model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch + 1, config=cfg,
                          task=self.task.name, best=best, metrics=record, extra={"world_size": world})
                save_checkpoint(self.run_dir / "last.pt", **kw)
                if improved:
                    save_checkpoint(self.run_dir / "best.pt", **kw)
                every = int(cfg.get("checkpoint_every") or 0)
                if every and (epoch + 1) % every == 0:
                    save_checkpoint(self.run_dir / f"epoch_{epoch + 1:04d}.pt", **kw)
                print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()),
                      file=sys.stderr, flush=True)
            last_epoch = epoch + 1
            D.barrier(info)
            if max_s is not None:
                # same decision on every rank: rank 0's clock
                elapsed = time.perf_counter() - t_start
                flag = torch.tensor([float(elapsed + record["time_s"] > max_s)], device=info.device)
                if info.distributed:
                    torch.distributed.broadcast(flag, 0)
                if flag.item() > 0 and epoch + 1 < int(cfg["epochs"]):
                    if info.is_main:
                        print(f"stopping after epoch {epoch + 1}: max_minutes {cfg['max_minutes']} reached",
                              file=sys.stderr, flush=True)
                    break
        self.model = unwrap(model)
        return {"epoch": last_epoch, "best": best, "metrics": record, "run_dir": str(self.run_dir)}


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True)
