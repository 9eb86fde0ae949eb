"""The generic training loop: one process or many under ``torchrun`` (DistributedDataParallel).

    from depth3d.train import Trainer
    result = Trainer(task, cfg, run_dir, device="cpu").fit()

``cfg`` keys the trainer reads (all optional, defaults in :data:`TRAINER_DEFAULTS`): ``seed``, ``epochs``,
``batch_size`` (GLOBAL batch: each of N processes gets ``batch_size / N``), ``num_workers``, ``drop_last``,
``grad_clip``, ``sync_bn``, ``limit_train_batches``, ``eval_every``, ``checkpoint_every``, ``progress``,
``threads``, ``max_minutes`` (wall-clock budget of this invocation, checked after every training step and
after each epoch), ``init`` (a training checkpoint of the same task whose model weights start a fresh run:
fine-tuning; optimizer, schedule and epochs start anew), ``optimizer`` and ``scheduler`` (see
:class:`depth3d.train.task.Task`).

Run directory (written by rank 0 only, atomically): ``config.yaml``, ``metrics.jsonl``, ``metrics.csv``,
``curves.png`` (loss and task metrics per epoch), ``last.pt`` (every epoch, and wherever a run stops),
``best.pt`` (best ``task.monitor``), ``epoch_XXXX.pt`` (every ``checkpoint_every`` epochs when > 0).

Stopping early: when ``max_minutes`` runs out, or on SIGINT (Ctrl-C) or SIGTERM, the run finishes the current
training step, saves ``last.pt`` holding its position (finished epochs and the steps done in the current
epoch, with optimizer, scheduler, RNG states, partial epoch metrics and the metrics history) and returns with
``result["stopped"]`` set; ``resume=True`` continues from that very step. Under torchrun every rank takes part
in the decision (a small all-reduce after each step), so all ranks stop after the same step. A second signal
more than :data:`REPEAT_GRACE_S` seconds after the first aborts at once without saving. :func:`exit_code`
maps a result to the process exit status (0, or 128 + signal number: 130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import math
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, Sampler

from depth3d.train import distributed as D
from depth3d.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state, unwrap
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
    "init": None,
    "optimizer": {"name": "adam", "lr": 1e-3, "weight_decay": 1e-4},
    "scheduler": {"name": "step", "step_size": 20, "gamma": 0.7},
}

#: stop requests, strongest last (ranks agree on the largest code any of them raised)
STOP_BUDGET, STOP_SIGTERM, STOP_SIGINT = 1, 2, 3
_STOP_NAMES = {STOP_BUDGET: "max_minutes", STOP_SIGTERM: "SIGTERM", STOP_SIGINT: "SIGINT"}
_STOP_SIGNALS = {signal.SIGINT: STOP_SIGINT, signal.SIGTERM: STOP_SIGTERM}
#: seconds after a first SIGINT/SIGTERM during which repeats are taken as the same request (torchrun forwards
#: the terminal's Ctrl-C to workers that already got it); a later one aborts without saving
REPEAT_GRACE_S = 2.0


def exit_code(result: dict) -> int:
    """Process exit status for a :meth:`Trainer.fit` result: 0 when it finished or stopped on its time
    budget, 130 after SIGINT, 143 after SIGTERM (128 + signal number)."""
    reason = (result.get("stopped") or {}).get("reason")
    if reason == "SIGINT":
        return 128 + int(signal.SIGINT)
    if reason == "SIGTERM":
        return 128 + int(signal.SIGTERM)
    return 0


class ShardSampler(Sampler[int]):
    """Evaluation sampler: rank r of N takes indices r, r+N, ... (no padding, no duplicates), so metrics
    summed over ranks count every sample exactly once."""

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class EpochSampler(Sampler[int]):
    """Training sampler that can start an epoch part-way through, whatever the number of processes.

    Each epoch uses the permutation ``torch.randperm(length)`` seeded by ``seed + epoch`` (as
    ``DistributedSampler``), cut to whole global batches (``drop_last``) or to a multiple of ``world_size``.
    Global batch k is positions ``[k * global_batch, (k + 1) * global_batch)`` of it and rank r takes every
    ``world_size``-th index from r, so a step count means the same samples for 1 or N processes and
    :meth:`set_epoch` (``skip_steps``) resumes after that many global batches."""

    def __init__(self, length: int, rank: int, world_size: int, global_batch: int, seed: int,
                 drop_last: bool = True) -> None:
        self.length, self.rank, self.world = int(length), int(rank), int(world_size)
        self.gbatch, self.seed, self.drop_last = int(global_batch), int(seed), bool(drop_last)
        self.total = (self.length // self.gbatch * self.gbatch if self.drop_last
                      else self.length // self.world * self.world)
        self.epoch, self.skip = 0, 0

    def steps_per_epoch(self) -> int:
        """Global batches in a whole epoch."""
        return self.total // self.gbatch if self.drop_last else math.ceil(self.total / self.gbatch)

    def set_epoch(self, epoch: int, skip_steps: int = 0) -> None:
        """Select ``epoch``'s permutation and start after ``skip_steps`` global batches of it."""
        self.epoch = int(epoch)
        self.skip = min(int(skip_steps) * self.gbatch, self.total)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        perm = torch.randperm(self.length, generator=g)[self.skip:self.total]
        return iter(perm[self.rank::self.world].tolist())

    def __len__(self) -> int:
        return (self.total - self.skip) // self.world


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the training process (which stops cleanly and shuts them down)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _StopRequests:
    """SIGINT/SIGTERM handlers that ask the training loop to stop (and save) after the current step."""

    def __init__(self) -> None:
        self.code = 0
        self.first_at: float | None = None
        self.announce = True
        self._previous: dict = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for sig in _STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)
        self._previous = {}

    def _handle(self, signum: int, frame) -> None:
        now = time.monotonic()
        name = signal.Signals(signum).name
        if self.first_at is not None and now - self.first_at > REPEAT_GRACE_S:
            if self.announce:
                os.write(2, f"{name} received again: aborting without saving a checkpoint\n".encode())
            raise KeyboardInterrupt(f"{name} received again: aborting without saving a checkpoint")
        if self.first_at is None:
            self.first_at = now
            if self.announce:  # os.write: safe inside a signal handler, unlike print
                os.write(2, f"{name} received: stopping after the current training step (or evaluation) and "
                            f"saving a checkpoint (send it again to abort without saving)\n".encode())
        self.code = max(self.code, _STOP_SIGNALS[signal.Signals(signum)])


class Trainer:
    """Train ``task`` with config ``cfg`` into ``run_dir`` on ``device`` ("cpu" or "cuda").

    resume: None/False (start fresh; refuses a run_dir that already has last.pt unless ``overwrite``),
    True (continue from ``run_dir/last.pt``) or a checkpoint path. handle_signals: stop and save on
    SIGINT/SIGTERM (handlers are installed for the duration of :meth:`fit`, from the main thread only)."""

    def __init__(self, task: Task, cfg: dict, run_dir: str | Path, device: str = "cpu",
                 resume: bool | str | Path | None = None, overwrite: bool = False,
                 handle_signals: bool = True) -> None:
        self.task = task
        self.cfg = merge(merge(TRAINER_DEFAULTS, task.default_config()), cfg)
        self.run_dir = Path(run_dir)
        self.device_name = device
        self.resume = resume
        self.overwrite = overwrite
        self.handle_signals = handle_signals
        self._stops = _StopRequests()

    # -- helpers -----------------------------------------------------------------------------------
    def _loader(self, ds: Dataset, sampler: Sampler, batch: int, drop_last: bool,
                generator: torch.Generator) -> DataLoader:
        nw = int(self.cfg["num_workers"])
        # the loader's own generator (worker seeds) keeps the global RNG streams untouched by iter(loader),
        # so a run resumed mid-epoch draws the same random numbers as one that never stopped
        return DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=nw, drop_last=drop_last,
                          collate_fn=self.task.collate_fn(), persistent_workers=nw > 0,
                          pin_memory=self.info.device.type == "cuda", generator=generator,
                          worker_init_fn=_worker_init if nw > 0 else None)

    def _resume_path(self) -> Optional[Path]:
        if self.resume in (None, False):
            return None
        if self.resume is True:
            p = self.run_dir / "last.pt"
            if not p.is_file():
                raise FileNotFoundError(f"--resume: {p} does not exist (nothing to resume in {self.run_dir})")
            return p
        return Path(self.resume)

    def _stop_code(self, info: D.DistInfo, t_start: float, max_s: float | None) -> int:
        """The stop request all ranks agree on (0: go on): signals seen by any rank, rank 0's time budget."""
        code = self._stops.code
        if info.is_main and max_s is not None and time.perf_counter() - t_start >= max_s:
            code = max(code, STOP_BUDGET)
        return D.agree_max(code, info)

    def _why(self, code: int, t_start: float) -> str:
        if code == STOP_BUDGET:
            return (f"max_minutes {self.cfg['max_minutes']} reached after "
                    f"{(time.perf_counter() - t_start) / 60:.2f} min")
        return f"{_STOP_NAMES[code]} received"

    # -- main loop ---------------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train for ``cfg["epochs"]`` epochs; returns {"epoch" (finished epochs), "step" (steps done in the
        unfinished epoch, 0 at a boundary), "best", "metrics" (last epoch record), "run_dir", "stopped"
        (None, or {"reason": "max_minutes"|"SIGINT"|"SIGTERM", "epoch", "step", "checkpoint"})}."""
        cfg = self.cfg
        if cfg.get("threads"):
            torch.set_num_threads(int(cfg["threads"]))
        self.info = info = D.init(self.device_name)
        self._stops = _StopRequests()
        self._stops.announce = info.is_main
        if self.handle_signals:
            self._stops.install()
        try:
            return self._fit(cfg, info)
        finally:
            self._stops.restore()
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
            run_keys = ("epochs", "progress", "num_workers", "threads", "max_minutes")
            cfg = self.cfg = merge(ckpt["config"], {k: v for k, v in cfg.items() if k in run_keys})
        world = info.world_size
        gbatch = int(cfg["batch_size"])
        if gbatch % world:
            raise ValueError(f"batch_size {gbatch} (global) must be divisible by the number of processes {world}")
        batch = gbatch // world
        seed = int(cfg["seed"])
        epochs = int(cfg["epochs"])

        seed_everything(seed)  # identical model initialisation on every rank
        model = self.task.build_model(cfg).to(info.device)
        if info.distributed and cfg.get("sync_bn", True):
            model = D.convert_sync_batchnorm(model, info.device).to(info.device)
        train_ds, val_ds = self.task.build_datasets(cfg)
        if len(train_ds) < gbatch and cfg.get("drop_last", True):
            raise ValueError(f"training set has {len(train_ds)} samples, fewer than one batch ({gbatch})")
        optimizer = self.task.build_optimizer(model, cfg)
        scheduler = self.task.build_scheduler(optimizer, cfg)
        start_epoch, start_step, best = 0, 0, None
        record: dict = {}
        partial: dict = {}
        if ckpt is None and cfg.get("init"):  # fine-tuning: the weights of another run, all else fresh
            init = load_checkpoint(cfg["init"])
            if init.get("task") != self.task.name:
                raise ValueError(f"init: {cfg['init']} is a {init.get('task')!r} checkpoint, not {self.task.name!r}")
            try:
                unwrap(model).load_state_dict(init["model"])
            except RuntimeError as exc:
                raise ValueError(f"init: the weights of {cfg['init']} do not fit this model "
                                 f"({str(exc).splitlines()[0]})") from None
        if ckpt is not None:
            unwrap(model).load_state_dict(ckpt["model"])
            if ckpt.get("optimizer") is not None:
                optimizer.load_state_dict(ckpt["optimizer"])
            if scheduler is not None and ckpt.get("scheduler") is not None:
                scheduler.load_state_dict(ckpt["scheduler"])
            start_epoch, start_step, best = int(ckpt["epoch"]), int(ckpt.get("step", 0)), ckpt.get("best")
            record = dict(ckpt.get("metrics") or {})
            partial = dict(ckpt.get("partial") or {})
        if info.distributed:
            model = nn.parallel.DistributedDataParallel(
                model, device_ids=[info.device.index] if info.device.type == "cuda" else None,
                find_unused_parameters=bool(cfg.get("find_unused_parameters", False)))
        seed_everything(seed + 1000 * info.rank + start_epoch)
        if ckpt is not None:
            states = ckpt.get("rng") or []
            if len(states) == world:
                set_rng_state(states[info.rank])
            elif info.is_main:
                print(f"note: {resume_path} holds random states of {len(states)} process(es), this run has "
                      f"{world}: random streams are re-seeded", file=sys.stderr, flush=True)

        train_sampler = EpochSampler(len(train_ds), info.rank, world, gbatch, seed,
                                     drop_last=bool(cfg.get("drop_last", True)))
        train_gen, val_gen = torch.Generator(), torch.Generator()
        train_loader = self._loader(train_ds, train_sampler, batch, bool(cfg.get("drop_last", True)), train_gen)
        val_loader = (self._loader(val_ds, ShardSampler(len(val_ds), info.rank, world), batch, False, val_gen)
                      if val_ds is not None and len(val_ds) else None)

        log = None
        if info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / "config.yaml")
            if ckpt is None:
                log = MetricsLog(self.run_dir, records=[])
            else:  # format /1 checkpoints carry no history: read metrics.jsonl back
                log = MetricsLog(self.run_dir, resume_epoch=start_epoch, records=ckpt.get("history"))
        monitor, mode = self.task.monitor, self.task.monitor_mode
        limit = cfg.get("limit_train_batches")
        t_start = time.perf_counter()
        max_s = float(cfg["max_minutes"]) * 60 if cfg.get("max_minutes") else None
        last_pt = self.run_dir / "last.pt"
        n_full = train_sampler.steps_per_epoch()
        n_batches = min(n_full, int(limit)) if limit else n_full
        if start_step and info.is_main:
            print(f"resuming in epoch {start_epoch + 1}/{epochs} after step {min(start_step, n_batches)}/"
                  f"{n_batches}", file=sys.stderr, flush=True)
        last_epoch, step, stopped = start_epoch, 0, None
        for epoch in range(start_epoch, epochs):
            t0 = time.perf_counter()
            skip = min(start_step, n_batches) if epoch == start_epoch else 0
            train_sampler.set_epoch(epoch, skip)
            train_gen.manual_seed(seed * 100003 + epoch * 1009 + info.rank)
            for ds in (train_ds, val_ds):
                if ds is not None and hasattr(ds, "set_epoch"):
                    ds.set_epoch(epoch)
            model.train()
            # running sums {name: [sum, count]}; a resumed epoch starts from the checkpoint's (summed over
            # ranks, so rank 0 carries them and the end-of-epoch all-reduce adds them in once)
            sums: dict[str, list[float]] = ({k: [float(v[0]), float(v[1])] for k, v in partial.items()}
                                            if skip and info.is_main else {})
            step = skip
            code = 0
            bar = _progress(n_batches, f"epoch {epoch + 1}/{epochs}", initial=step,
                            enabled=info.is_main and bool(cfg.get("progress", True)))
            if step < n_batches:
                for b in train_loader:
                    out = self.task.step(model, b, info.device, train=True)
                    if not torch.isfinite(out.loss):
                        raise RuntimeError(f"loss became {out.loss.item()} at epoch {epoch + 1}, batch {step}; "
                                           "lower the learning rate or check the data")
                    optimizer.zero_grad(set_to_none=True)
                    out.loss.backward()
                    if cfg.get("grad_clip"):
                        nn.utils.clip_grad_norm_(model.parameters(), float(cfg["grad_clip"]))
                    optimizer.step()
                    for k, (s, c) in out.metrics.items():
                        acc = sums.setdefault(k, [0.0, 0.0])
                        acc[0] += float(s)
                        acc[1] += float(c)
                    step += 1
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix({k: f"{v[0] / max(v[1], 1e-12):.4f}" for k, v in sums.items()})
                    if step >= n_batches:
                        break  # a request now is handled after this epoch's evaluation and checkpoint
                    code = self._stop_code(info, t_start, max_s)
                    if code:
                        break
            if bar is not None:
                bar.close()
            if code:  # stop mid-epoch: save the position, partial sums and every rank's RNG state
                red = D.all_reduce_sums({k: (v[0], v[1]) for k, v in sums.items()}, info)
                rngs = D.all_gather_object(rng_state(), info)
                if info.is_main:
                    assert log is not None
                    save_checkpoint(last_pt, model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch,
                                    step=step, config=cfg, task=self.task.name, best=best, metrics=record,
                                    history=log.records, partial={k: list(v) for k, v in red.items()}, rng=rngs,
                                    extra={"world_size": world})
                    print(f"stopped in epoch {epoch + 1}/{epochs} after step {step}/{n_batches} "
                          f"({self._why(code, t_start)}): saved {last_pt}; --resume continues from this step",
                          file=sys.stderr, flush=True)
                D.barrier(info)
                stopped = {"reason": _STOP_NAMES[code], "epoch": epoch, "step": step, "checkpoint": str(last_pt)}
                break
            lr = optimizer.param_groups[0]["lr"]
            if scheduler is not None:
                scheduler.step()
            red = D.all_reduce_sums({k: (v[0], v[1]) for k, v in sums.items()}, info)
            record = {"epoch": epoch + 1, "lr": lr}
            record.update({f"train/{k}": s / max(c, 1e-12) for k, (s, c) in red.items()})
            eval_every = max(1, int(cfg.get("eval_every", 1)))
            if val_loader is not None and ((epoch + 1) % eval_every == 0 or epoch + 1 == epochs):
                vm = self.task.evaluate(model, val_loader, info.device, info)
                record.update({f"val/{k}": v for k, v in vm.items()})
            record["time_s"] = time.perf_counter() - t0
            record["world_size"] = world
            value = record.get(monitor)
            improved = value is not None and (best is None or (value > best if mode == "max" else value < best))
            if improved:
                best = value
            rngs = D.all_gather_object(rng_state(), info)
            if info.is_main:
                assert log is not None
                log.append(record)
                plot_curves(log.records, self.run_dir / "curves.png", self.task.plot_metrics,
                            title=f"{self.task.name}: {cfg.get('model', {}).get('name', '')}")
                kw = dict(model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch + 1, config=cfg,
                          task=self.task.name, best=best, metrics=record, extra={"world_size": world},
                          history=log.records, rng=rngs)
                save_checkpoint(last_pt, **kw)
                if improved:
                    save_checkpoint(self.run_dir / "best.pt", **kw)
                every = int(cfg.get("checkpoint_every") or 0)
                if every and (epoch + 1) % every == 0:
                    save_checkpoint(self.run_dir / f"epoch_{epoch + 1:04d}.pt", **kw)
                print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()),
                      file=sys.stderr, flush=True)
            last_epoch, step = epoch + 1, 0
            if epoch + 1 < epochs:
                code = self._stop_code(info, t_start, max_s)  # also a barrier: every rank calls it
                if code:
                    if info.is_main:
                        print(f"stopped after epoch {epoch + 1}/{epochs} ({self._why(code, t_start)}): "
                              f"saved {last_pt}; --resume continues with epoch {epoch + 2}",
                              file=sys.stderr, flush=True)
                    stopped = {"reason": _STOP_NAMES[code], "epoch": epoch + 1, "step": 0,
                               "checkpoint": str(last_pt)}
                    break
            else:
                D.barrier(info)
        self.model = unwrap(model)
        return {"epoch": last_epoch, "step": step if stopped else 0, "best": best, "metrics": record,
                "run_dir": str(self.run_dir), "stopped": stopped}


def _progress(total: int, desc: str, enabled: bool, initial: int = 0):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True)
