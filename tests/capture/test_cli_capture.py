"""The capture verbs: stream (headless, --record, SIGINT), play --export, devices."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from depth3d.capture.record import Recorder
from depth3d.capture.source import open_source

from .conftest import make_frames

REPO = Path(__file__).resolve().parents[2]


def _long_recording(path: Path, n: int = 150) -> list:
    frames = make_frames(n, registered=True, start_index=0)
    frames = [f.__class__(**{**f.__dict__, "index": i, "timestamp": i / 30.0}) for i, f in enumerate(frames)]
    with Recorder(path) as rec:
        for f in frames:
            rec.add_frame(f)
    return frames


def test_stream_headless_reports_and_records(run_cli, tmp_path, repo_root):
    out = tmp_path / "copy.db3"
    p = run_cli("stream", "--source", repo_root / "data" / "sample.db3", "--voxel", "0.05", "--record", out,
                "--max-frames", "12", timeout=240)
    assert p.returncode == 0, p.stderr
    assert "done: 12 frames, dropped 0" in p.stdout and "recorded 12 frames" in p.stdout
    with open_source(str(out)) as a, open_source(str(repo_root / "data" / "sample.db3")) as b:
        got = list(a)
        ref = [b.read() for _ in range(12)]
    assert len(got) == 12
    for x, y in zip(got, ref):
        assert np.array_equal(x.depth, y.depth) and np.array_equal(x.color, y.color)
        assert x.timestamp == y.timestamp and x.index == y.index and x.sensor == "sim"


def test_stream_usage_errors(run_cli, tmp_path):
    p = run_cli("stream", "--source", "nothing-here.xyz", "--max-frames", "1", timeout=120)
    assert p.returncode == 1 and "not understood" in p.stderr
    p = run_cli("stream", "--source", "bogus:thing", "--max-frames", "1", timeout=120)
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "recording:, tum:, realsense:, sim:, stereo:, tof:, sl:" in p.stderr  # the available schemes
    p = run_cli("stream", "--source", "x.db3", "--record", tmp_path / "a.bag", timeout=120)
    assert p.returncode == 2 and ".db3" in p.stderr
    p = run_cli("stream", "--source", "realsense", "--max-frames", "1", timeout=120)
    if p.returncode != 0:  # no camera here: the message names the alternatives
        assert "sim:" in p.stderr and ".db3" in p.stderr


def test_sigint_leaves_a_playable_recording(tmp_path):
    src = tmp_path / "long.db3"
    frames = _long_recording(src)
    out = tmp_path / "interrupted.db3"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "depth3d", "stream", "--source", str(src), "--realtime",
                             "--record", str(out), "--no-cloud"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        # wait until frames flow (first per-second report), then Ctrl-C
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            if line.startswith("frames") or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    with open_source(str(out), timeout=5) as rec:
        got = list(rec)
    assert 10 <= len(got) < len(frames)  # stopped early, yet every recorded frame is there
    for k, f in enumerate(got):
        assert f.index == k and np.array_equal(f.depth, frames[k].depth)


def test_play_exports_png_and_ply(run_cli, tmp_path):
    import cv2

    src = tmp_path / "s.db3"
    frames = make_frames(3, registered=True)
    with Recorder(src) as rec:
        for f in frames:
            rec.add_frame(f)
    out = tmp_path / "export"
    p = run_cli("play", src, "--export", out, timeout=240)
    assert p.returncode == 0, p.stderr
    assert "played 3 frames" in p.stdout
    for k, f in enumerate(frames):
        d = cv2.imread(str(out / "depth" / f"{k:06d}.png"), cv2.IMREAD_UNCHANGED)
        assert d.dtype == np.uint16 and np.array_equal(d, f.depth)
        c = cv2.imread(str(out / "color" / f"{k:06d}.png"))[..., ::-1]
        assert np.array_equal(c, f.color)
        assert (out / "cloud" / f"{k:06d}.ply").stat().st_size > 100
    rows = (out / "frames.csv").read_text().splitlines()
    assert len(rows) == 4 and float(rows[1].split(",")[2]) == frames[0].timestamp
    p = run_cli("play", tmp_path / "missing.db3", timeout=120)
    assert p.returncode == 1 and "missing.db3" in p.stderr


def test_devices_without_camera(run_cli):
    p = run_cli("devices", timeout=120)
    assert p.returncode == 0
    assert ("serial" in p.stdout) or ("no RealSense camera" in p.stdout and "sim:" in p.stdout)
    p = run_cli("devices", "--json", timeout=120)
    assert p.returncode == 0 and p.stdout.strip().startswith("[")


def test_lost_camera_stops_cleanly_and_recording_replays(tmp_path):
    """A source that stops answering mid-stream (SourceError, as a RealSense read times out when the
    camera is unplugged) ends the stream loop with a message; the recording is finalised and replays."""
    import argparse

    from depth3d.capture.source import Source, SourceError
    from depth3d.cli.stream import _loop

    frames = make_frames(8, registered=True, start_index=0)

    class Flaky(Source):
        kind = "flaky"

        def start(self):
            self.depth_intrinsics = frames[0].depth_intrinsics
            self._i = 0

        def stop(self):
            pass

        def read(self, timeout=5.0):
            if self._i == 5:
                raise SourceError("no frames for 5.0 s (camera disconnected?)")
            self._i += 1
            return frames[self._i - 1]

    args = argparse.Namespace(max_frames=None, timeout=1.0, realtime=False, quiet=True, no_cloud=False,
                              voxel=0.05, min_depth=0.0, max_depth=float("inf"))
    out = tmp_path / "lost.db3"
    with Flaky() as src, Recorder(out) as rec:
        n, lost = _loop(args, src, rec, None)
    assert n == 5 and "camera disconnected" in lost
    with open_source(str(out)) as rec2:
        got = list(rec2)
    assert [f.index for f in got] == [f.index for f in frames[:5]]


def test_stream_view_opens_windows(run_cli, repo_root, tmp_path):
    import shutil

    if not os.environ.get("DISPLAY") and shutil.which("Xvfb") is None:
        pytest.skip("no display and no Xvfb")
    p = run_cli("stream", "--source", repo_root / "data" / "sample.db3", "--view", "--voxel", "0.03",
                "--max-frames", "5", timeout=240)
    assert p.returncode == 0, p.stderr
    assert "done: 5 frames" in p.stdout


def test_stream_detect_headless_and_in_the_viewer(run_cli, repo_root, tmp_path):
    import json
    import shutil

    boxes = tmp_path / "boxes.json"
    p = run_cli("stream", "--source", repo_root / "data" / "sample.db3", "--detect", "--detect-every", "4",
                "--max-frames", "9", "--boxes", boxes, timeout=240)
    assert p.returncode == 0, p.stderr
    assert "frame 0: " in p.stdout and "frame 8: " in p.stdout and "done: 9 frames" in p.stdout
    data = json.loads(boxes.read_text())
    assert [f["index"] for f in data["frames"]] == [0, 4, 8]
    for f in data["frames"]:
        R = np.asarray(f["camera_to_upright"])
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-6)
        assert R[2, 1] < -0.3  # camera y (down) maps to upright -z: the camera was levelled on the floor
    p = run_cli("stream", "--source", repo_root / "data" / "sample.db3", "--detect", tmp_path / "none.pt",
                "--max-frames", "1", timeout=120)
    assert p.returncode == 2 and "none.pt" in p.stderr
    if not os.environ.get("DISPLAY") and shutil.which("Xvfb") is None:
        pytest.skip("no display and no Xvfb")
    p = run_cli("stream", "--source", repo_root / "data" / "sample.db3", "--view", "--detect", "--detect-every", "2",
                "--max-frames", "4", timeout=240)
    assert p.returncode == 0, p.stderr
    assert "done: 4 frames" in p.stdout
