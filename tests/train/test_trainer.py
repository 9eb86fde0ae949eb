"""Generic trainer: logs, plot, checkpoints, exact resume, config merging, and torchrun (2 processes,
gloo) matching one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from depth3d.train.checkpoint import load_checkpoint
from depth3d.train.config import load_config, merge, parse_overrides
from depth3d.train.trainer import Trainer

sys.path.insert(0, str(Path(__file__).parent))
from toy_task import ToyTask  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _train(run_dir, epochs, resume=None, overwrite=False):
    cfg = {"epochs": epochs, "batch_size": 16, "threads": 1}
    return Trainer(ToyTask(), cfg, run_dir, resume=resume, overwrite=overwrite).fit()


def test_run_folder_contents_and_learning(tmp_path):
    res = _train(tmp_path / "run", 4)
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.jsonl", "metrics.csv", "curves.png", "last.pt", "best.pt"):
        assert (run / name).is_file(), name
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in recs] == [1, 2, 3, 4]
    assert recs[-1]["train/loss"] < recs[0]["train/loss"]
    assert res["metrics"]["val/acc"] > 0.8
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,lr,train/")
    ck = load_checkpoint(run / "last.pt")
    assert ck["epoch"] == 4 and ck["task"] == "toy" and "rng" in ck and ck["optimizer"] is not None
    with pytest.raises(ValueError, match="already holds a run"):
        _train(run, 5)


def test_resume_is_exact(tmp_path):
    _train(tmp_path / "full", 4)
    _train(tmp_path / "part", 2)
    _train(tmp_path / "part", 4, resume=True)
    a = load_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "part" / "last.pt")["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    recs = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in recs] == [1, 2, 3, 4]


def test_resume_missing_checkpoint_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="last.pt"):
        _train(tmp_path / "none", 1, resume=True)


def test_config_merge_and_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("epochs: 3\noptimizer:\n  lr: 0.01\n  name: sgd\n")
    cfg = merge(load_config(f), parse_overrides(["optimizer.lr=0.5", "model.dropout=0"]))
    assert cfg == {"epochs": 3, "optimizer": {"lr": 0.5, "name": "sgd"}, "model": {"dropout": 0}}
    j = tmp_path / "c.json"
    j.write_text('{"epochs": 2}')
    assert load_config(j) == {"epochs": 2}
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["lr"])


def test_torchrun_two_processes_match_one(tmp_path):
    """2 processes x batch 8 (gloo, synchronised BatchNorm) == 1 process x batch 16."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    script = str(Path(__file__).parent / "toy_task.py")
    subprocess.run([sys.executable, script, str(tmp_path / "one"), "3", "16"], check=True, env=env,
                   timeout=120, capture_output=True)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           script, str(tmp_path / "two"), "3", "16"], env=env, timeout=180,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = load_checkpoint(tmp_path / "one" / "last.pt")
    b = load_checkpoint(tmp_path / "two" / "last.pt")
    assert b["extra"]["world_size"] == 2
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k].float(), b["model"][k].float(), rtol=1e-4, atol=1e-5)
    for key in ("train/loss", "train/acc", "val/loss", "val/acc"):
        assert a["metrics"][key] == pytest.approx(b["metrics"][key], rel=1e-4, abs=1e-5), key
