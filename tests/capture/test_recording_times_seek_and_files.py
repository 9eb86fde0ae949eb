"""Recording times follow frame time; seeking matches the recorded times (and pyrealsense2 where it is
consistent); unusable files are refused before librealsense sees them; files being recorded are not
touched; CLI options are validated or refused."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from depth3d.capture.playback import RecordingSource, probe_recording
from depth3d.capture.record import Recorder, recording_marker

from .conftest import make_frames

REPO = Path(__file__).resolve().parents[2]
BAG = "real/realsense-d435/single_depth_color_640x480.bag"


def _frames_at(times, fps):
    frames = make_frames(len(times), registered=True, start_index=0)
    return [f.__class__(**{**f.__dict__, "index": i, "timestamp": t}) for i, (f, t) in enumerate(zip(frames, times))]


def test_message_times_are_frame_times_and_fps_is_the_sources(tmp_path):
    times = [10.0 + i / 6 for i in range(8)]  # a 6 fps camera, written in far less than 1.17 s
    path = tmp_path / "six.db3"
    with Recorder(path, fps=6) as rec:
        for f in _frames_at(times, 6):
            rec.add_frame(f)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = con.execute("SELECT m.timestamp FROM messages m JOIN topics t ON t.id = m.topic_id "
                       "WHERE t.name LIKE '%Depth_0/image/data%' ORDER BY m.id").fetchall()
    con.close()
    assert [r[0] for r in rows] == [round((t - times[0]) * 1e9) for t in times]
    with RecordingSource(path) as src:
        assert src.info["fps"] == 6
        assert src.duration == pytest.approx(times[-1] - times[0], abs=1e-9)
        src.seek(0.5)
        got = list(src)
    assert [f.timestamp for f in got] == [t for t in times if t - times[0] >= 0.5 - 1e-9]


def test_bundled_sample_duration_and_seek_follow_frame_time(repo_root):
    with RecordingSource(repo_root / "data" / "sample.db3") as src:
        assert src.info["fps"] == 15
        assert src.duration == pytest.approx(29 / 15)
        src.seek(0.4)
        first = src.read()
    assert first.timestamp == pytest.approx(0.4)


def _rs_seek(path: str, seek: float | None) -> list[int]:
    """Depth frame numbers pyrealsense2 delivers after a seek made while paused, before any frame."""
    import threading
    from datetime import timedelta

    import pyrealsense2 as rs

    dev = rs.context().load_device(path)
    pb = dev.as_playback()
    pb.set_real_time(False)
    got, lock = [], threading.Lock()

    def cb(f):
        if f.get_profile().stream_type() == rs.stream.depth:
            with lock:
                got.append(f.get_frame_number())

    sensors = list(dev.query_sensors())
    pb.pause()
    for s in sensors:
        s.open(s.get_stream_profiles())
        s.start(cb)
    if seek is not None:
        pb.seek(timedelta(seconds=seek))
    pb.resume()
    t = time.monotonic()
    while pb.current_status() != rs.playback_status.stopped and time.monotonic() - t < 5:
        time.sleep(0.02)
    time.sleep(0.3)
    for s in sensors:
        s.stop()
        s.close()
    return sorted(got)


def test_seek_on_librealsense_bag_matches_recorded_times(shared_data):
    bag = shared_data / BAG
    # message times: depth 169 at 1.5 us, colour 162 at 54.4 ms, depth 170 at 167.9 ms
    for seek, want in ((None, [169, 170]), (0.0, [169, 170]), (0.01, [170]), (0.05, [170]), (0.1, [170]),
                       (0.16, [170])):
        with RecordingSource(bag) as src:
            assert src.duration == pytest.approx(0.1679332, abs=1e-6)
            if seek is not None:
                src.seek(seek)
            got = [f.index for f in src]
        assert got == want, (seek, got)
        if seek in (None, 0.0):
            assert _rs_seek(str(bag), seek) == got
        # after later seeks librealsense's own answer varies from run to run (frames already in flight
        # arrive or not, and its seek skips the first message at or after the seek time: at 0.1 s that is
        # depth 170 itself), so the frames here are checked against the recorded message times instead


def test_epoch_message_times_do_not_make_a_40_year_recording(tmp_path, frames):
    path = tmp_path / "epoch.db3"
    with Recorder(path) as rec:
        for f in frames:
            rec.add_frame(f)
    con = sqlite3.connect(path)
    # frames at wall-clock epoch times, the static messages at 0 (as some writers leave them)
    con.execute("UPDATE messages SET timestamp = timestamp + 1534232519732000000 WHERE topic_id IN "
                "(SELECT id FROM topics WHERE name LIKE '%/image/%')")
    con.commit()
    con.close()
    with RecordingSource(path) as src:
        assert src.duration < 1.0
        assert len(list(src)) == len(frames)


def test_unplayable_file_is_refused_before_librealsense(tmp_path, frames):
    """The /file_version + one 2-byte depth message file that made librealsense spin forever."""
    good = tmp_path / "good.db3"
    with Recorder(good) as rec:
        rec.add_frame(frames[0])
    bad = tmp_path / "tiny.db3"
    con = sqlite3.connect(bad)
    src = sqlite3.connect(f"file:{good}?mode=ro", uri=True)
    con.executescript(";".join(r[0] for r in src.execute("SELECT sql FROM sqlite_master WHERE sql NOT NULL")))
    for name in ("/file_version", "/device_0/sensor_0/Depth_0/image/data/compressedDepth"):
        row = src.execute("SELECT * FROM topics WHERE name = ?", (name,)).fetchone()
        con.execute("INSERT INTO topics VALUES (?, ?, ?, ?, ?)", row)
    fv = src.execute("SELECT m.* FROM messages m JOIN topics t ON t.id = m.topic_id "
                     "WHERE t.name = '/file_version'").fetchone()
    con.execute("INSERT INTO messages VALUES (?, ?, ?, ?)", fv)
    tid = src.execute("SELECT id FROM topics WHERE name LIKE '%compressedDepth'").fetchone()[0]
    con.execute("INSERT INTO messages VALUES (1000, ?, 5, ?)", (tid, b"\x00\x01"))
    con.commit()
    con.close()
    src.close()
    assert bad.stat().st_size < 64 * 1024
    for cmd in (["info", str(bad)], ["play", str(bad)], ["stream", "--source", str(bad), "--no-cloud"]):
        p = subprocess.run([sys.executable, "-m", "depth3d", *cmd], capture_output=True, text=True, timeout=60,
                           cwd=REPO, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
        assert p.returncode == 1 and str(bad) in (p.stderr + p.stdout), (cmd, p.stdout, p.stderr)


def test_file_being_recorded_is_refused_and_left_alone(tmp_path, frames):
    path = tmp_path / "live.db3"
    rec = Recorder(path)
    try:
        for f in frames[:4]:
            rec.add_frame(f)
        assert recording_marker(path).exists()
        with pytest.raises(ValueError, match="still being recorded"):
            probe_recording(path)
        with pytest.raises(ValueError, match="still being recorded"):
            RecordingSource(path).start()
        for f in frames[4:]:
            rec.add_frame(f)
    finally:
        rec.close()
    assert not recording_marker(path).exists()
    with RecordingSource(path) as src:
        assert len(list(src)) == len(frames)


def test_stale_marker_of_a_dead_writer_does_not_block(tmp_path, frames):
    path = tmp_path / "dead.db3"
    with Recorder(path) as rec:
        for f in frames:
            rec.add_frame(f)
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    recording_marker(path).write_text(p.stdout.strip())  # that process has exited
    assert probe_recording(path)["depth_frames"] == len(frames)


@pytest.mark.parametrize("argv, flag", [
    (["--timeout", "-1"], "--timeout"), (["--timeout", "0"], "--timeout"), (["--timeout", "nan"], "--timeout"),
    (["--voxel", "inf"], "--voxel"), (["--width", "640"], "--width"), (["--fps", "6"], "--fps"),
    (["--infrared"], "--infrared"),
])
def test_stream_refuses_bad_or_inapplicable_options(run_cli, repo_root, argv, flag):
    p = run_cli("stream", "--source", repo_root / "data" / "sample.db3", "--no-cloud", *argv, timeout=120)
    assert p.returncode == 2 and flag in p.stderr, p.stderr


def test_stream_refuses_to_record_onto_its_source_or_an_existing_file(run_cli, repo_root, tmp_path):
    mine = tmp_path / "mine.db3"
    mine.write_bytes((repo_root / "data" / "sample.db3").read_bytes())
    p = run_cli("stream", "--source", mine, "--record", mine, "--no-cloud", timeout=120)
    assert p.returncode == 2 and "being played" in p.stderr
    other = tmp_path / "other.db3"
    other.write_bytes(b"keep me")
    p = run_cli("stream", "--source", mine, "--record", other, "--no-cloud", timeout=120)
    assert p.returncode == 2 and "--force" in p.stderr and other.read_bytes() == b"keep me"
    assert probe_recording(mine)["depth_frames"] == 30
    p = run_cli("stream", "--source", mine, "--record", other, "--no-cloud", "--force", "--quiet", timeout=240)
    assert p.returncode == 0 and probe_recording(other)["depth_frames"] == 30


def test_post_processing_runs_on_a_recording(run_cli, repo_root, tmp_path):
    out = tmp_path / "post.db3"
    p = run_cli("stream", "--source", repo_root / "data" / "sample.db3", "--post", "--record", out,
                "--max-frames", "5", "--quiet", timeout=240)
    assert p.returncode == 0, p.stderr
    with RecordingSource(out) as src, RecordingSource(repo_root / "data" / "sample.db3") as raw:
        a, b = src.read(), raw.read()
    # decimation 2 halves the depth image; colour keeps its size
    assert a.depth.shape == (b.depth.shape[0] // 2, b.depth.shape[1] // 2) and a.color.shape == b.color.shape
    assert not np.array_equal(a.depth, b.depth[::2, ::2])


def test_play_validates_seek(run_cli, repo_root):
    for v in ("-1", "nan", "1e9"):
        p = run_cli("play", repo_root / "data" / "sample.db3", "--seek", v, timeout=120)
        assert p.returncode == 2 and "--seek" in p.stderr, p.stderr


@pytest.mark.parametrize("to", ["color", "depth"])
def test_align_runs_on_a_recording(run_cli, repo_root, tmp_path, to):
    """--align on a recording is done by depth3d.geometry.align_frame (rs.align needs a live pipeline)."""
    out = tmp_path / f"aligned_{to}.db3"
    p = run_cli("stream", "--source", repo_root / "data" / "sample.db3", "--align", to, "--record", out,
                "--max-frames", "3", "--quiet", timeout=240)
    assert p.returncode == 0, p.stderr
    with RecordingSource(out) as src:
        f = src.read()
    assert f is not None and f.color is not None and f.depth.shape == f.color.shape[:2]
