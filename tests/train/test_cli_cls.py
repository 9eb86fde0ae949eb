"""`depth3d train cls` / `depth3d eval cls` end to end on a tiny synthetic set, resume, usage errors, and a
two-process torchrun classification run matching one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from depth3d.train.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
TINY = ["--set", "model.npoint=[16,8]", "--set", "model.nsample=[8,8]", "--set", "model.width=0.25",
        "--set", "model.dropout=0", "--num-points", "64", "--batch-size", "8", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from depth3d.datasets.shapes import generate_shapes

    out = tmp_path_factory.mktemp("shapes")
    return generate_shapes(out, train_per_class=4, test_per_class=2, num_points=128,
                           classes=["bed", "chair", "table", "bookshelf"], progress=False)


def test_train_eval_resume(run_cli, tiny_data, tmp_path):
    run = tmp_path / "run"
    p = run_cli("train", "cls", "--model", "pointnet2_ssg", "--data", tiny_data, "-o", run, "--epochs", "1", *TINY)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["last"]["epoch"] == 1 and 0.0 <= out["last"]["val/acc"] <= 1.0
    assert (run / "curves.png").is_file() and (run / "metrics.jsonl").is_file()
    p = run_cli("train", "cls", "-o", run, "--epochs", "2", "--resume", *TINY)
    assert p.returncode == 0, p.stderr
    assert load_checkpoint(run / "last.pt")["epoch"] == 2
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    p = run_cli("eval", "cls", run / "last.pt", "--data", tiny_data, "-o", tmp_path / "eval.json")
    assert p.returncode == 0, p.stderr
    res = json.loads((tmp_path / "eval.json").read_text())
    assert res["samples"] == 8 and set(res["per_class"]) == {"bed", "chair", "table", "bookshelf"}
    ck_acc = load_checkpoint(run / "last.pt")["metrics"]["val/acc"]
    assert res["accuracy"] == pytest.approx(ck_acc)  # eval CLI == trainer's validation


def test_usage_and_input_errors(run_cli, tmp_path):
    p = run_cli("train", "cls", "--model", "nope", "-o", tmp_path / "r")
    assert p.returncode == 2 and "invalid choice" in p.stderr
    p = run_cli("train", "cls", "--data", tmp_path / "missing", "-o", tmp_path / "r", "--epochs", "1")
    assert p.returncode == 1 and "missing" in p.stderr
    p = run_cli("eval", "cls", tmp_path / "none.pt")
    assert p.returncode == 1 and "none.pt" in p.stderr
    assert run_cli("train").returncode == 2


def test_torchrun_cls_two_processes_match_one(tiny_data, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    # SGD, one epoch (2 steps): the runs differ only by float summation order; over many steps such
    # rounding differences get amplified by max-pooling arg-max switches (training is chaotic), so the
    # comparison is kept short
    args = ["train", "cls", "--model", "pointnet2_ssg", "--data", str(tiny_data), "--epochs", "1", *TINY,
            "--set", "optimizer.name=sgd", "--lr", "0.01"]
    one = subprocess.run([sys.executable, "-m", "depth3d", *args, "-o", str(tmp_path / "one")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "depth3d", *args, "-o", str(tmp_path / "two")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = load_checkpoint(tmp_path / "one" / "last.pt"), load_checkpoint(tmp_path / "two" / "last.pt")
    assert b["extra"]["world_size"] == 2
    for k, v in a["model"].items():
        torch.testing.assert_close(v.float(), b["model"][k].float(), rtol=1e-3, atol=1e-4)
    for key in ("train/loss", "val/loss", "val/acc"):
        assert a["metrics"][key] == pytest.approx(b["metrics"][key], rel=1e-3, abs=1e-4), key


@pytest.mark.parametrize("progress", [False, True])
def test_synthetic_data_bars_follow_the_progress_setting(tmp_path, capsys, progress):
    """`--no-progress` (config progress: false) also hides the bars of generating the synthetic set."""
    from depth3d.train.tasks.cls import resolve_data_root

    cfg = {"run_dir": str(tmp_path), "progress": progress,
           "data": {"root": "synthetic", "synthetic": {"train_per_class": 1, "test_per_class": 1, "num_points": 64}}}
    root, fmt = resolve_data_root(cfg)
    assert fmt == "shapes" and (root / "train.npz").is_file() and (root / "test.npz").is_file()
    err = capsys.readouterr().err
    assert ("shapes train" in err) is progress, err
