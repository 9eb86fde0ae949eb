"""Generic trainer: logs, plot, checkpoints, exact resume (also from the middle of an epoch), stopping on the
time budget, SIGINT and SIGTERM, refusing checkpoints that would run code, config merging, and torchrun
(2 processes, gloo) matching one process with the same global batch."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from depth3d.train.checkpoint import load_checkpoint
from depth3d.train.config import load_config, merge, parse_overrides
from depth3d.train.trainer import Trainer

sys.path.insert(0, str(Path(__file__).parent))
from toy_task import ToyTask  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


TOY = str(Path(__file__).parent / "toy_task.py")


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                OMP_NUM_THREADS="1")


def _train(run_dir, epochs, resume=None, overwrite=False, **cfg):
    cfg = {"epochs": epochs, "batch_size": 16, "threads": 1, **cfg}
    return Trainer(ToyTask(), cfg, run_dir, resume=resume, overwrite=overwrite).fit()


def _epochs(run):
    return [json.loads(r)["epoch"] for r in (run / "metrics.jsonl").read_text().splitlines()]


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
    assert ck["epoch"] == 4 and ck["step"] == 0 and ck["task"] == "toy" and ck["optimizer"] is not None
    assert [r["epoch"] for r in ck["history"]] == [1, 2, 3, 4] and len(ck["rng"]) == 1
    # what the trainer writes is plain data: torch's restricted loader reads it with no extra allowances
    raw = torch.load(run / "last.pt", weights_only=True)
    assert raw["format"] == "depth3d.train/2" and isinstance(raw["rng"][0]["numpy"]["key"], torch.Tensor)
    with pytest.raises(ValueError, match="already holds a run"):
        _train(run, 5)


def test_init_fine_tunes_from_another_runs_weights(tmp_path):
    """``init``: a fresh run (own epochs, optimizer, schedule) starting from another run's weights; a checkpoint
    of another task or shape is refused naming it."""
    import copy

    _train(tmp_path / "first", 3)
    first = load_checkpoint(tmp_path / "first" / "best.pt")
    # a learning rate of 0: the weights saved are exactly the init's (batch-norm statistics still move)
    _train(tmp_path / "same", 1, init=str(tmp_path / "first" / "best.pt"),
           optimizer={"name": "sgd", "lr": 0.0, "momentum": 0.0, "weight_decay": 0.0})
    same = load_checkpoint(tmp_path / "same" / "last.pt")
    weights = [k for k in first["model"] if "running_" not in k and "num_batches" not in k]
    assert weights
    for k in weights:
        torch.testing.assert_close(same["model"][k], first["model"][k])
    res = _train(tmp_path / "ft", 2, init=str(tmp_path / "first" / "best.pt"))
    ft = load_checkpoint(tmp_path / "ft" / "last.pt")
    assert ft["epoch"] == 2 and _epochs(tmp_path / "ft") == [1, 2] and res["metrics"]["val/acc"] > 0.8
    bad = copy.deepcopy(first)
    bad["task"] = "cls"
    torch.save(bad, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not 'toy'"):
        _train(tmp_path / "x", 1, init=str(tmp_path / "other.pt"))
    bad = copy.deepcopy(first)
    bad["model"] = {k: (v[..., :1] if v.dim() else v) for k, v in bad["model"].items()}
    torch.save(bad, tmp_path / "shape.pt")
    with pytest.raises(ValueError, match="do not fit this model"):
        _train(tmp_path / "y", 1, init=str(tmp_path / "shape.pt"))


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


def test_budget_stops_mid_epoch_and_resume_continues_exactly(tmp_path, capsys):
    """A budget that runs out after the first step stops inside epoch 1 with last.pt holding that step;
    --resume continues from it and ends with the same weights and metrics as an uninterrupted run (noise
    drawn from the global RNG in every step, so the RNG states must be restored too)."""
    _train(tmp_path / "full", 3, noise=0.1)
    res = _train(tmp_path / "part", 3, noise=0.1, max_minutes=1e-9)
    err = capsys.readouterr().err
    assert res["stopped"] == {"reason": "max_minutes", "epoch": 0, "step": 1,
                              "checkpoint": str(tmp_path / "part" / "last.pt")}
    assert "stopped in epoch 1/3 after step 1/4 (max_minutes" in err and "--resume continues" in err
    ck = load_checkpoint(tmp_path / "part" / "last.pt")
    assert (ck["epoch"], ck["step"]) == (0, 1) and ck["partial"]["loss"][1] == 16.0
    assert ck["history"] == [] and not (tmp_path / "part" / "metrics.jsonl").exists()  # no epoch finished yet
    res = _train(tmp_path / "part", 3, resume=True)
    assert res["stopped"] is None and res["epoch"] == 3
    assert "resuming in epoch 1/3 after step 1/4" in capsys.readouterr().err
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(tmp_path / "part" / "last.pt")
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k])
    assert {k: v for k, v in a["metrics"].items() if k != "time_s"} == \
        {k: v for k, v in b["metrics"].items() if k != "time_s"}
    assert _epochs(tmp_path / "part") == [1, 2, 3]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_saves_checkpoint_and_exits(tmp_path, sig):
    """SIGINT/SIGTERM to a training process: it finishes the step, saves last.pt with its position, prints
    one line and exits 128 + signal number; --resume carries on from that position."""
    run = tmp_path / "run"
    cmd = [sys.executable, TOY, str(run), "1000", "4", "--step-sleep", "0.05"]  # 16 steps of >= 50 ms an epoch
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "last.pt").exists():  # epoch 1 done: handlers are in place, epoch 2 is running
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.02)
        time.sleep(0.2)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err[-2000:]
    name = signal.Signals(sig).name
    assert f"{name} received: stopping" in err
    ck = load_checkpoint(run / "last.pt")
    assert 1 <= ck["epoch"] < 1000
    if ck["step"]:  # caught mid-epoch (the usual case)
        assert f"stopped in epoch {ck['epoch'] + 1}/1000 after step {ck['step']}/16 ({name} received)" in err
    else:
        assert f"stopped after epoch {ck['epoch']}/1000 ({name} received)" in err
    assert _epochs(run) == list(range(1, ck["epoch"] + 1))
    target = ck["epoch"] + 1
    p = subprocess.run([sys.executable, TOY, str(run), str(target), "4", "--resume"], env=_env(), timeout=120,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    assert ("resuming in epoch" in p.stderr) == bool(ck["step"])
    assert load_checkpoint(run / "last.pt")["epoch"] == target and _epochs(run) == list(range(1, target + 1))


class _Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "payload-ran"
    zipped = tmp_path / "evil.pt"
    torch.save({"format": "depth3d.train/2", "task": "toy", "model": {}, "x": _Payload(marker)}, zipped)
    plain = tmp_path / "evil.pkl"
    with open(plain, "wb") as f:
        pickle.dump({"format": "depth3d.train/2", "x": _Payload(marker)}, f, protocol=2)
    for path in (zipped, plain):
        with pytest.raises(ValueError, match=f"checkpoint {path} was refused.*could run code"):
            load_checkpoint(path)
        assert not marker.exists()
    with pytest.raises(ValueError, match="was refused"):
        _train(tmp_path / "r", 1, resume=zipped)
    assert not marker.exists()
    torch.load(zipped, weights_only=False)  # the payload is live: an unrestricted load does run it
    assert marker.exists()


def test_reads_format_1_checkpoints(tmp_path):
    """Checkpoints written before the format change (numpy RNG state, numpy scalars) still load and resume."""
    import random

    import numpy as np

    _train(tmp_path / "run", 1)
    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    old = {k: ck[k] for k in ("task", "epoch", "config", "model", "optimizer", "scheduler", "metrics", "extra")}
    old.update(format="depth3d.train/1", best=np.float64(ck["best"]),
               rng={"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()})
    torch.save(old, tmp_path / "run" / "last.pt")
    back = load_checkpoint(tmp_path / "run" / "last.pt")
    assert back["step"] == 0 and back["best"] == ck["best"] and len(back["rng"]) == 1
    res = _train(tmp_path / "run", 2, resume=True)
    assert res["epoch"] == 2 and _epochs(tmp_path / "run") == [1, 2]


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
    """2 processes x batch 8 (gloo, synchronised BatchNorm) == 1 process x batch 16, with no deprecation
    warnings; a 2-process run stopped by its budget mid-epoch (both ranks after the same step, one
    checkpoint) and resumed by ONE process ends where the others do."""
    env = _env()
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    subprocess.run([sys.executable, TOY, str(tmp_path / "one"), "3", "16"], check=True, env=env,
                   timeout=120, capture_output=True)
    proc = subprocess.run([*torchrun, TOY, str(tmp_path / "two"), "3", "16"], env=env, timeout=180,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Warning" not in proc.stderr, proc.stderr[-3000:]
    proc = subprocess.run([*torchrun, TOY, str(tmp_path / "split"), "3", "16", "--max-minutes", "1e-9"], env=env,
                          timeout=180, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("stopped in epoch 1/3 after step 1/4 (max_minutes") == 1, proc.stderr[-3000:]
    ck = load_checkpoint(tmp_path / "split" / "last.pt")
    assert (ck["epoch"], ck["step"], len(ck["rng"])) == (0, 1, 2)
    resumed = subprocess.run([sys.executable, TOY, str(tmp_path / "split"), "3", "16", "--resume"], env=env,
                             timeout=120, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = load_checkpoint(tmp_path / "one" / "last.pt")
    for other in ("two", "split"):
        b = load_checkpoint(tmp_path / other / "last.pt")
        assert b["epoch"] == 3 and b["step"] == 0
        for k in a["model"]:
            torch.testing.assert_close(a["model"][k].float(), b["model"][k].float(), rtol=1e-4, atol=1e-5)
        for key in ("train/loss", "train/acc", "val/loss", "val/acc"):
            assert a["metrics"][key] == pytest.approx(b["metrics"][key], rel=1e-4, abs=1e-5), (other, key)
    assert load_checkpoint(tmp_path / "two" / "last.pt")["extra"]["world_size"] == 2
