"""A tiny classification task (MLP with BatchNorm on Gaussian blobs) to exercise the generic trainer.

Config keys of its own: ``noise`` (std of Gaussian noise added to training inputs, drawn from the global torch
RNG, so resume exactness covers RNG state) and ``step_sleep`` (seconds each training step sleeps, so a signal
test can catch a run mid-epoch).

Run as a script (also under torchrun): ``python toy_task.py RUN_DIR [EPOCHS] [BATCH] [--resume]
[--max-minutes M] [--step-sleep S]``; it exits with :func:`depth3d.train.trainer.exit_code` (130 after SIGINT,
143 after SIGTERM)."""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from depth3d.train.task import ClassificationTask


class ToyTask(ClassificationTask):
    name = "toy"

    def default_config(self) -> dict:
        return {"model": {"name": "mlp"}, "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9,
                                                         "weight_decay": 0.0},
                "scheduler": {"name": "none"}, "progress": False, "noise": 0.0, "step_sleep": 0.0}

    def build_model(self, cfg):
        self.noise, self.step_sleep = float(cfg.get("noise", 0.0)), float(cfg.get("step_sleep", 0.0))
        return nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))

    def build_datasets(self, cfg):
        g = torch.Generator().manual_seed(123)
        centers = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
        y = torch.arange(96) % 3
        x = centers[y] + 0.5 * torch.randn(96, 2, generator=g)
        return TensorDataset(x[:64], y[:64]), TensorDataset(x[64:], y[64:])

    def step(self, model, batch, device, train):
        x, y = (t.to(device) for t in batch)
        if train and self.noise:
            x = x + self.noise * torch.randn_like(x)
        if train and self.step_sleep:
            time.sleep(self.step_sleep)
        logits = model(x)
        return self.output(F.cross_entropy(logits, y), logits, y)


if __name__ == "__main__":
    from depth3d.train.trainer import Trainer, exit_code

    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("epochs", type=int, nargs="?", default=3)
    ap.add_argument("batch", type=int, nargs="?", default=16)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--max-minutes", type=float)
    ap.add_argument("--step-sleep", type=float, default=0.0)
    a = ap.parse_args()
    cfg = {"epochs": a.epochs, "batch_size": a.batch, "threads": 1, "max_minutes": a.max_minutes,
           "step_sleep": a.step_sleep}
    res = Trainer(ToyTask(), cfg, a.run_dir, resume=a.resume or None, overwrite=not a.resume).fit()
    sys.exit(exit_code(res))
