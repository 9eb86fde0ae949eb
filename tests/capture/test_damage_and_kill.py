"""Damaged and cut-short recordings: damaged frames are skipped, counted and reported (exit 1); a file
whose SQLite structure is broken is salvaged row by row; a recorder killed with SIGKILL at a random
moment leaves a file that plays every frame written until about then (frames are numbered)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from depth3d.capture.playback import RecordingSource
from depth3d.capture.repair import check_recording, scan_rows

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample.db3"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTH3D_CACHE", str(tmp_path / "cache"))


def _depth_messages(path: Path) -> list[bytes]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tid = con.execute("SELECT id FROM topics WHERE name LIKE '%Depth_0/image/data%'").fetchone()[0]
        return [bytes(r[0]) for r in con.execute("SELECT data FROM messages WHERE topic_id = ? ORDER BY id", (tid,))]
    finally:
        con.close()


def _damage(src: Path, dst: Path, payload_frame: int | None, structure: bool) -> None:
    """Copy ``src`` with one byte flipped inside frame ``payload_frame``'s depth image and/or one byte
    flipped in a cell pointer of a table leaf page (SQLite structure)."""
    raw = bytearray(src.read_bytes())
    if payload_frame is not None:
        chunk = _depth_messages(src)[payload_frame][200:232]
        i = raw.find(chunk)
        assert i > 0 and raw.find(chunk, i + 1) < 0
        raw[i + 5] ^= 0xFF
    if structure:
        n = len(raw) // 4096
        for pg in range(n // 2, n):
            b = pg * 4096
            if raw[b] == 0x0D and int.from_bytes(raw[b + 3:b + 5], "big") >= 2:
                raw[b + 9] ^= 0x40
                break
        else:
            raise AssertionError("no table leaf page found")
    dst.write_bytes(bytes(raw))


def _play(path: Path) -> list:
    with RecordingSource(path) as src:
        frames = list(src)
        return frames, src.damaged


@pytest.mark.parametrize("payload,structure", [(10, False), (None, True), (10, True)])
def test_damaged_frames_are_skipped_counted_and_reported(tmp_path, run_cli, payload, structure):
    bad = tmp_path / "bad.db3"
    _damage(SAMPLE, bad, payload, structure)
    good, _ = _play(SAMPLE)
    frames, damaged = _play(bad)
    assert damaged >= 1 and len(frames) + damaged == len(good) == 30
    if payload is not None:
        assert 10 not in [f.index for f in frames]
    ref = {f.index: f for f in good}
    for f in frames:  # every other frame is played, unchanged
        assert np.array_equal(f.depth, ref[f.index].depth) and np.array_equal(f.color, ref[f.index].color)
    assert check_recording(bad).salvaged == structure
    env = {"DEPTH3D_CACHE": str(tmp_path / "cache")}
    p = run_cli("play", bad, env=env)
    assert p.returncode == 1
    assert f"played {len(frames)} frames" in p.stdout
    assert f"{bad}: {damaged} damaged frame(s)" in p.stderr
    info = run_cli("info", bad, env=env)
    assert f"damaged_frames: {damaged}" in info.stdout and f"frames: {len(frames)}" in info.stdout


def test_heavily_damaged_file_is_one_clear_error(tmp_path, run_cli):
    raw = bytearray(SAMPLE.read_bytes())
    rng = random.Random(0)
    for _ in range(3000):
        raw[rng.randrange(4096, len(raw))] ^= 0xFF
    bad = tmp_path / "heavy.db3"
    bad.write_bytes(bytes(raw))
    p = run_cli("play", bad, env={"DEPTH3D_CACHE": str(tmp_path / "cache")})
    assert p.returncode == 1 and "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(bad) in lines[0] and "damaged" in lines[0]


def test_page_scan_reads_every_row_of_an_intact_file():
    topics, messages, schema = scan_rows(SAMPLE)
    con = sqlite3.connect(f"file:{SAMPLE}?mode=ro", uri=True)
    want = {r[0]: (r[1], r[2], bytes(r[3])) for r in con.execute("SELECT id, topic_id, timestamp, data FROM messages")}
    con.close()
    assert messages == want and len(topics) == 23 and any("CREATE TABLE messages" in s for s in schema)


def _kill_one(path: Path, rng: random.Random) -> int:
    """Record a sim stream, SIGKILL it at a random moment after its first report; returns the frame count
    reported at least one report earlier (written at least a second before the kill)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.Popen([sys.executable, "-m", "depth3d", "stream", "--source",
                          "sim:room?seed=2&frames=100000&width=96&height=72", "--no-cloud", "--record", str(path)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    counts = []
    deadline = None
    try:
        for line in p.stdout:
            if line.startswith("frames"):
                counts.append(int(line.split()[1]))
                if deadline is None:
                    deadline = time.monotonic() + rng.uniform(0.0, 2.5)
                    break
        time.sleep(max(0.0, deadline - time.monotonic()))
        os.kill(p.pid, signal.SIGKILL)
        rest = p.stdout.read()
        counts += [int(ln.split()[1]) for ln in rest.splitlines() if ln.startswith("frames")]
    finally:
        p.kill()
        p.wait()
    return counts[-2] if len(counts) >= 2 else 0


def test_sigkill_at_random_moments_keeps_every_written_frame(tmp_path):
    rng = random.Random(int(time.time()))
    results = []
    for k in range(5):
        path = tmp_path / f"killed{k}.db3"
        lower = _kill_one(path, rng)
        frames, damaged = _play(path)
        results.append((path, lower, frames, damaged))
    from depth3d.capture.source import open_source

    n_max = max(len(f) for _, _, f, _ in results)
    with open_source("sim:room?seed=2&frames=100000&width=96&height=72") as sim:
        ref = [sim.read() for _ in range(n_max)]
    for path, lower, frames, damaged in results:
        assert damaged == 0, path
        assert [f.index for f in frames] == list(range(len(frames))), path  # a prefix, in order
        assert len(frames) >= lower, (path, len(frames), lower)
        for f in frames:
            r = ref[f.index]
            assert r.depth.dtype == np.uint16  # recorded as is
            assert np.array_equal(f.depth, r.depth) and np.array_equal(f.color, r.color)
            assert f.timestamp == r.timestamp


@pytest.mark.slow
def test_stream_record_exits_cleanly_many_times(tmp_path):
    """The recording close at process exit (playback source and recorder torn down, atexit handlers,
    librealsense threads): 20 runs under faulthandler, every one exits 0 with its file recorded."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONFAULTHANDLER="1", DEPTH3D_CACHE=str(tmp_path / "cache"))
    for k in range(20):
        out = tmp_path / f"copy{k}.db3"
        p = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "depth3d", "stream", "--source", str(SAMPLE),
                            "--no-cloud", "--record", str(out), "--max-frames", "12"],
                           capture_output=True, text=True, env=env, timeout=300)
        assert p.returncode == 0, (k, p.returncode, p.stdout[-500:], p.stderr[-3000:])
        assert "recorded 12 frames" in p.stdout
        frames, damaged = _play(out)
        assert len(frames) == 12 and damaged == 0


def test_detect_and_demo_report_damaged_frames(tmp_path, run_cli):
    """detect and demo process every intact frame of a damaged recording and exit 1 naming the loss."""
    bad = tmp_path / "bad.db3"
    _damage(SAMPLE, bad, 10, False)
    env = {"DEPTH3D_CACHE": str(tmp_path / "cache")}
    p = run_cli("detect", bad, "--every", "10", "-o", tmp_path / "det", env=env)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert f"{bad}: 1 damaged frame(s) skipped" in p.stderr
    boxes = json.loads((tmp_path / "det" / "bad_boxes.json").read_text())
    assert boxes["damaged_frames"] == 1 and len(boxes["frames"]) == 3  # every 10th of the 29 intact frames
    d = run_cli("demo", "--source", bad, "-o", tmp_path / "demo", env=env)
    assert d.returncode == 1 and f"{bad}: 1 damaged frame(s) skipped" in d.stderr, d.stderr
    assert (tmp_path / "demo" / "boxes.json").is_file()


def test_check_reads_an_intact_recording_row_by_row(tmp_path):
    """The check of a long intact recording (and the copy that drops a damaged frame) keeps ids, times and
    verdicts, never every image in memory: Python's peak allocation stays far below the file's size."""
    import shutil
    import tracemalloc

    big = tmp_path / "long.db3"
    shutil.copy(SAMPLE, big)
    con = sqlite3.connect(str(big))
    try:
        n0 = con.execute("SELECT max(id) FROM messages").fetchone()[0]
        for k in range(1, 25):  # the sample's messages again, later in time: a 25x longer recording
            con.execute("INSERT INTO messages(topic_id, timestamp, data) SELECT topic_id, timestamp + ?, data "
                        "FROM messages WHERE id <= ?", (k * 10**10, n0))
        tid = con.execute("SELECT id FROM topics WHERE name LIKE '%Depth_0/image/data%'").fetchone()[0]
        mid, data = con.execute("SELECT id, data FROM messages WHERE topic_id = ? ORDER BY id LIMIT 1 OFFSET 300",
                                (tid,)).fetchone()
        bad = bytearray(data)
        bad[len(bad) // 2] ^= 0xFF  # one damaged depth image (its PNG CRC fails)
        con.execute("UPDATE messages SET data = ? WHERE id = ?", (bytes(bad), mid))
        con.commit()
        total = con.execute("SELECT sum(length(data)) FROM messages").fetchone()[0]
    finally:
        con.close()
    assert total > 25e6
    tracemalloc.start()
    try:
        res = check_recording(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.repaired and not res.salvaged and res.damaged_frames >= 1
    assert peak < total / 10, (peak, total)
    con = sqlite3.connect(f"file:{res.path}?mode=ro", uri=True)
    try:
        kept = con.execute("SELECT count(*) FROM messages").fetchone()[0]
        assert con.execute("SELECT count(*) FROM messages WHERE id = ?", (mid,)).fetchone()[0] == 0
    finally:
        con.close()
    with sqlite3.connect(f"file:{big}?mode=ro", uri=True) as src:
        assert 0 < src.execute("SELECT count(*) FROM messages").fetchone()[0] - kept < 200


def test_check_and_repair_files_with_uri_characters_in_their_names(tmp_path, monkeypatch):
    """'?', '#' and '%' in the recording's or the cache's path: still read through SQLite (not salvaged) and
    repaired."""
    import shutil

    folder = tmp_path / "odd #name? 50%"
    folder.mkdir()
    rec = folder / "rec #1?.db3"
    shutil.copy(SAMPLE, rec)
    monkeypatch.setenv("DEPTH3D_CACHE", str(folder / "cache #"))
    con = sqlite3.connect(str(rec))
    try:
        tid = con.execute("SELECT id FROM topics WHERE name LIKE '%Depth_0/image/data%'").fetchone()[0]
        mid, data = con.execute("SELECT id, data FROM messages WHERE topic_id = ? ORDER BY id LIMIT 1 OFFSET 5",
                                (tid,)).fetchone()
        bad = bytearray(data)
        bad[len(bad) // 2] ^= 0xFF
        con.execute("UPDATE messages SET data = ? WHERE id = ?", (bytes(bad), mid))
        con.commit()
    finally:
        con.close()
    res = check_recording(rec)
    assert res.repaired and not res.salvaged and res.damaged_frames == 1 and res.path.is_file()
    assert "cache #" in str(res.path)
