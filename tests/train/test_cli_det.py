"""`depth3d train det` / `depth3d eval det` on a few simulator scans: metrics, plot, checkpoints, resume, and
the trained checkpoint running in `depth3d detect`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from depth3d.train.checkpoint import load_checkpoint

MICRO = ["--model-config", "micro", "--num-points", "512", "--batch-size", "4", "--threads", "1", "--no-progress",
         "--set", "eval_every=1"]


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    from depth3d.sim.dataset import ScanOptions, write_scans

    out = tmp_path_factory.mktemp("scans")
    write_scans(out, 10, seed=3, options=ScanOptions(width=160, height=120, num_points=3000, min_points=20),
                val_fraction=0.2, progress=False)
    return out


def test_train_eval_resume_detect(run_cli, scans, tmp_path):
    run = tmp_path / "run"
    p = run_cli("train", "det", "--data", scans, "-o", run, "--epochs", "1", *MICRO)
    assert p.returncode == 0, p.stderr
    last = json.loads(p.stdout.strip().splitlines()[-1])["last"]
    assert last["epoch"] == 1 and 0.0 <= last["val/mAP@0.25"] <= 1.0 and np.isfinite(last["train/loss"])
    assert {"train/vote_loss", "train/objectness_loss", "val/mAP@0.5", "val/AR@0.25"} <= set(last)
    assert (run / "curves.png").stat().st_size > 1000 and (run / "metrics.csv").is_file()
    ck = load_checkpoint(run / "last.pt")
    assert ck["task"] == "det" and ck["config"]["data"]["dataset_config"]["name"] == "sunrgbd"
    # train/val split files of the simulator's folder are honoured
    val_ids = (scans / "val.txt").read_text().split()
    assert len(val_ids) == 2
    p = run_cli("train", "det", "-o", run, "--epochs", "2", "--resume", "--no-progress")
    assert p.returncode == 0, p.stderr
    assert load_checkpoint(run / "last.pt")["epoch"] == 2
    p = run_cli("eval", "det", run, "--batch-size", "4", "-o", tmp_path / "m.json")
    assert p.returncode == 0, p.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["scans"] == 2 and m["split"] == "val" and set(m["AP@0.25"]) <= {
        "bed", "table", "sofa", "chair", "toilet", "desk", "dresser", "night_stand", "bookshelf", "bathtub"}
    # the trainer's checkpoint is a detector checkpoint
    p = run_cli("detect", scans / "000000_pc.npz", "-o", tmp_path / "det", "--checkpoint", run / "last.pt",
                "--threshold", "0.0")
    assert p.returncode == 0, p.stderr
    boxes = json.loads((tmp_path / "det" / "000000_pc_boxes.json").read_text())["boxes"]
    assert all(len(b["corners"]) == 8 for b in boxes)


def test_det_usage_errors(run_cli, tmp_path):
    p = run_cli("train", "det", "-o", tmp_path / "r", "--no-progress")
    assert p.returncode != 0 and "--data" in p.stderr
    p = run_cli("train", "det", "--data", tmp_path / "missing", "-o", tmp_path / "r2", "--no-progress")
    assert p.returncode != 0 and "missing" in p.stderr
