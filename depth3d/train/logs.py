"""Per-epoch metrics log (JSONL and CSV) and the loss/metric plot (matplotlib, Agg backend, PNG)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Sequence

from depth3d.core.atomic import atomic_write


class MetricsLog:
    """Append-only epoch records in ``metrics.jsonl``; ``metrics.csv`` is rewritten after each epoch.

    On resume the history starts from ``records`` (the checkpoint's copy) when given, else from the existing
    JSONL; records after the resume epoch (finished-epoch count) are dropped either way."""

    def __init__(self, run_dir: str | Path, resume_epoch: int | None = None,
                 records: Sequence[dict] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.jsonl = self.run_dir / "metrics.jsonl"
        self.csv = self.run_dir / "metrics.csv"
        self.records: list[dict] = []
        if records is not None:
            self.records = [dict(r) for r in records
                            if resume_epoch is None or int(r.get("epoch", 0)) <= resume_epoch]
        elif resume_epoch is not None and self.jsonl.is_file():
            for line in self.jsonl.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    if int(rec.get("epoch", 0)) <= resume_epoch:
                        self.records.append(rec)

    def append(self, record: dict) -> None:
        """Add one epoch's record (a flat dict of numbers) and rewrite both files atomically."""
        self.records.append(record)
        with atomic_write(self.jsonl, "w") as f:
            for r in self.records:
                f.write(json.dumps(r) + "\n")
        keys: list[str] = []
        for r in self.records:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        for r in self.records:
            w.writerow(r)
        with atomic_write(self.csv, "w") as f:
            f.write(buf.getvalue())


def plot_curves(records: Sequence[dict], path: str | Path, metrics: Sequence[str] = (),
                title: str = "") -> None:
    """Write a PNG with train/val loss (left) and train/val ``metrics`` (right) against epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in records]
    panels = 2 if metrics else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    for split in ("train", "val"):
        ys = [r.get(f"{split}/loss", math.nan) for r in records]
        if any(not math.isnan(y) for y in ys):
            ax.plot(epochs, ys, marker="o", ms=3, label=f"{split} loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    if metrics:
        ax = axes[0, 1]
        for m in metrics:
            for split in ("train", "val"):
                ys = [r.get(f"{split}/{m}", math.nan) for r in records]
                if any(not math.isnan(y) for y in ys):
                    ax.plot(epochs, ys, marker="o", ms=3, label=f"{split} {m}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
