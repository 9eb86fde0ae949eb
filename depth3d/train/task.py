"""The task interface the generic trainer drives (classification, detection, ...).

A task says how to build the model, the datasets and the optimiser from a config dict, and how one batch
turns into a loss and summable metrics. The trainer does everything else (devices, torchrun/DDP, sampling,
progress bars, logs, plots, checkpoints, resume).

Metrics are returned as ``{name: (sum, count)}`` pairs so they can be summed exactly over batches and
over processes; the logged value is ``sum / count`` (e.g. ``"acc": (n_correct, n)``,
``"loss": (loss * n, n)``). Tasks whose evaluation does not decompose into sums (mAP) override
:meth:`Task.evaluate` and gather what they need with :func:`depth3d.train.distributed.all_gather_object`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
import torch.nn as nn
from torch.utils.data import Dataset


@dataclass
class StepOutput:
    """What :meth:`Task.step` returns: the scalar ``loss`` to back-propagate (mean over this process's
    batch) and ``metrics`` as ``{name: (sum, count)}`` floats."""

    loss: torch.Tensor
    metrics: dict[str, tuple[float, float]] = field(default_factory=dict)


class Task:
    """Base class; subclasses override the ``build_*`` methods and :meth:`step`.

    Attributes:
        name: short name used in logs and checkpoints ("cls", "det").
        monitor: metric key used to keep ``best.pt`` (e.g. "val/acc") and ``monitor_mode`` "max"|"min".
        plot_metrics: metric names (without the "train/"/"val/" prefix) drawn in the second plot panel.
    """

    name: str = "task"
    monitor: str = "val/loss"
    monitor_mode: str = "min"
    plot_metrics: tuple[str, ...] = ()

    def default_config(self) -> dict:
        """Task defaults, merged under the config file and CLI flags."""
        return {}

    def build_model(self, cfg: dict) -> nn.Module:
        raise NotImplementedError

    def build_datasets(self, cfg: dict) -> tuple[Dataset, Optional[Dataset]]:
        """(train dataset, validation dataset or None). Datasets may define ``set_epoch(epoch)``: the
        trainer calls it each epoch so augmentation can be seeded by (seed, epoch, index) and stays
        identical whatever the number of processes."""
        raise NotImplementedError

    def collate_fn(self) -> Optional[Callable]:
        """The DataLoader collate function (None: torch's default)."""
        return None

    def step(self, model: nn.Module, batch: Any, device: torch.device, train: bool) -> StepOutput:
        """Move ``batch`` to ``device``, run ``model`` and return loss and metrics."""
        raise NotImplementedError

    def build_optimizer(self, model: nn.Module, cfg: dict) -> torch.optim.Optimizer:
        """Adam/AdamW/SGD from ``cfg["optimizer"]`` (name, lr, weight_decay, momentum)."""
        o = dict(cfg.get("optimizer", {}))
        name = str(o.get("name", "adam")).lower()
        lr = float(o.get("lr", 1e-3))
        wd = float(o.get("weight_decay", 0.0))
        if name == "adam":
            return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
        if name == "adamw":
            return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
        if name == "sgd":
            return torch.optim.SGD(model.parameters(), lr=lr, weight_decay=wd,
                                   momentum=float(o.get("momentum", 0.9)))
        raise ValueError(f"optimizer.name must be adam, adamw or sgd, got {name!r}")

    def build_scheduler(self, optimizer: torch.optim.Optimizer, cfg: dict):
        """Per-epoch LR scheduler from ``cfg["scheduler"]``: step (step_size, gamma), cosine, or none."""
        s = dict(cfg.get("scheduler", {}))
        name = str(s.get("name", "none")).lower()
        if name in ("none", "constant"):
            return None
        if name == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=int(s.get("step_size", 20)),
                                                   gamma=float(s.get("gamma", 0.7)))
        if name == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=max(1, int(cfg.get("epochs", 1))), eta_min=float(s.get("min_lr", 0.0)))
        raise ValueError(f"scheduler.name must be step, cosine or none, got {name!r}")

    def evaluate(self, model: nn.Module, loader, device: torch.device, dist_info) -> dict[str, float]:
        """Metrics of ``model`` over ``loader`` (this process's shard), summed over processes.

        Default: sums :meth:`step` metrics with ``train=False`` under ``torch.no_grad``; returns
        ``{name: sum / count}``."""
        from depth3d.train.distributed import all_reduce_sums

        sums: dict[str, list[float]] = {}
        model.eval()
        with torch.no_grad():
            for batch in loader:
                out = self.step(model, batch, device, train=False)
                for k, (s, c) in out.metrics.items():
                    acc = sums.setdefault(k, [0.0, 0.0])
                    acc[0] += float(s)
                    acc[1] += float(c)
        red = all_reduce_sums({k: (v[0], v[1]) for k, v in sums.items()}, dist_info)
        return {k: s / max(c, 1e-12) for k, (s, c) in red.items()}


class SplitTask(Task):
    """A task trained on one split of a data set and validated on another, both loaded once and kept (building
    the model may need the training split first, to learn what the model depends on, e.g. the classes).

    Subclasses set ``defaults`` (what :meth:`default_config` returns) and ``val_split``, and define
    :meth:`load_split`; :meth:`note_data` records what the model needs to know of the training split in
    ``cfg["data"]``, so that a checkpoint's config rebuilds the model without the data."""

    defaults: dict = {}
    val_split: str = "val"

    def __init__(self) -> None:
        self._datasets: tuple[Dataset, Dataset] | None = None

    def default_config(self) -> dict:
        return self.defaults

    def load_split(self, cfg: dict, split: str) -> Dataset:
        """The dataset of ``split`` ("train" or :attr:`val_split`)."""
        raise NotImplementedError

    def note_data(self, data_cfg: dict, train: Dataset) -> None:
        """Record in ``data_cfg`` (``cfg["data"]``) what the model needs of the training split ``train``."""

    def build_datasets(self, cfg: dict) -> tuple[Dataset, Dataset]:
        if self._datasets is None:
            train = self.load_split(cfg, "train")
            self._datasets = (train, self.load_split(cfg, self.val_split))
            self.note_data(cfg.setdefault("data", {}), train)
        return self._datasets


class ClassificationTask(Task):
    """Base of classification tasks: one label a sample; ``best.pt`` keeps the best validation accuracy and
    the plots draw it. :meth:`output` gives a step's loss and metrics from the logits."""

    monitor = "val/acc"
    monitor_mode = "max"
    plot_metrics = ("acc",)

    @staticmethod
    def output(loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> StepOutput:
        """StepOutput of a batch: ``loss`` (mean over the batch) with metrics ``loss`` and ``acc`` (correct
        predictions, argmax of ``logits`` (B, num_classes) against labels ``y`` (B,)) as (sum, count)."""
        n = float(len(y))
        return StepOutput(loss, {"loss": (loss.item() * n, n), "acc": (float((logits.argmax(1) == y).sum()), n)})
