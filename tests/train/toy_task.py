"""A tiny classification task (MLP with BatchNorm on Gaussian blobs) to exercise the generic trainer.

Run as a script (also under torchrun): ``python toy_task.py RUN_DIR [EPOCHS] [BATCH]``."""

from __future__ import annotations

import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from depth3d.train.task import StepOutput, Task


class ToyTask(Task):
    name = "toy"
    monitor = "val/acc"
    monitor_mode = "max"
    plot_metrics = ("acc",)

    def default_config(self) -> dict:
        return {"model": {"name": "mlp"}, "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9,
                                                         "weight_decay": 0.0},
                "scheduler": {"name": "none"}, "progress": False}

    def build_model(self, cfg):
        return nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))

    def build_datasets(self, cfg):
        g = torch.Generator().manual_seed(123)
        centers = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
        y = torch.arange(96) % 3
        x = centers[y] + 0.5 * torch.randn(96, 2, generator=g)
        return TensorDataset(x[:64], y[:64]), TensorDataset(x[64:], y[64:])

    def step(self, model, batch, device, train):
        x, y = (t.to(device) for t in batch)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        n = float(len(y))
        return StepOutput(loss, {"loss": (loss.item() * n, n),
                                 "acc": (float((logits.argmax(1) == y).sum()), n)})


if __name__ == "__main__":
    from depth3d.train.trainer import Trainer

    run_dir = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    res = Trainer(ToyTask(), {"epochs": epochs, "batch_size": batch, "threads": 1}, run_dir,
                  overwrite=True).fit()
