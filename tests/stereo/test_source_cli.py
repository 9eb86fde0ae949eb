"""Stereo sources (folder, cameras, spec parsing) and the calibrate/stereo CLI verbs (simulated stereo: tests/sim)."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def small_sim(tmp_path_factory):
    """A small simulated pair written as a recorded left/right folder with its calibration."""
    import cv2

    from depth3d.sim.stereo_sensor import StereoSensor, test_scene

    sensor = StereoSensor(width=320, height=240, hfov_deg=58.0, supersample=2)
    pair = sensor.render(test_scene(1))
    d = tmp_path_factory.mktemp("rec")
    for i in range(2):
        cv2.imwrite(str(d / f"left{i:02d}.png"), pair.left)
        cv2.imwrite(str(d / f"right{i:02d}.png"), pair.right)
    sensor.calibration().save(d / "calib.yaml")
    return d, sensor, pair


def test_folder_source(small_sim):
    from depth3d.capture.source import open_source

    d, sensor, pair = small_sim
    spec = f"stereo:folder?left={d}/left*.png&right={d}/right*.png&calib={d}/calib.yaml&rectified=1"
    with open_source(spec) as src:
        assert src.frame_count == 2
        frames = list(src)
    assert len(frames) == 2
    f = frames[0]
    assert f.sensor == "stereo" and f.depth.dtype == np.float32 and f.color.shape == (240, 320, 3)
    assert f.depth_intrinsics.width == 320 and abs(f.depth_intrinsics.fx - sensor.intrinsics.fx) < 1e-6
    from depth3d.stereo.evaluate import matchable_mask

    nd = src.pipeline.matcher.num_disparities
    m = matchable_mask(pair.disparity, nd) & (pair.depth < 2.0)
    v = m & (f.depth > 0)
    assert v.sum() / m.sum() > 0.85
    assert np.median(np.abs(f.depth[v] - pair.depth[v]) / pair.depth[v]) < 0.02


def test_bad_specs():
    from depth3d.capture.source import open_source

    with pytest.raises(ValueError, match="kind must be one of"):
        open_source("stereo:nonsense")
    with pytest.raises(ValueError, match="folder needs left=PATTERN"):
        open_source("stereo:folder?left=x")
    with pytest.raises(FileNotFoundError, match="nope"):
        open_source("stereo:folder?left=/nope/l*.png&right=/nope/r*.png")
    with pytest.raises(ValueError, match="give left=DEV&right=DEV"):
        open_source("stereo:uvc?left=0")


def test_folder_source_checks_calibration_first(tmp_path, small_sim):
    from depth3d.capture.source import open_source

    d, _, _ = small_sim
    bad = json.loads((d / "calib.json").read_text())
    del bad["K2"]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    src = open_source(f"stereo:folder?left={d}/left*.png&right={d}/right*.png&calib={tmp_path}/bad.json")
    with pytest.raises(ValueError, match=r"bad\.json.*missing key 'K2'"):
        src.start()


def test_cli_calibrate_and_stereo(shared_data, tmp_path, run_cli):
    d = shared_data / "stereo-chessboard"
    out = tmp_path / "calib" / "cb.yaml"
    p = run_cli("calibrate", "stereo", "--left", f"{d}/left*.jpg", "--right", f"{d}/right*.jpg", "--board",
                "chessboard", "--cols", "7", "--rows", "7", "-o", out, "--lines", tmp_path / "lines.png")
    assert p.returncode == 0, p.stderr
    assert "stereo 0.2" in p.stdout or "stereo 0.3" in p.stdout or "stereo 0.4" in p.stdout
    assert out.is_file() and out.with_suffix(".json").is_file() and (tmp_path / "lines.png").is_file()
    p = run_cli("stereo", d / "left05.jpg", d / "right05.jpg", "--calib", out, "-o", tmp_path / "o")
    assert p.returncode == 0, p.stderr
    for name in ("disparity.npy", "depth.npy", "depth.png", "cloud.ply", "depth_color.png", "rectified.png"):
        assert (tmp_path / "o" / name).is_file(), name
    disp = np.load(tmp_path / "o" / "disparity.npy")
    assert disp.shape == (240, 320) and (disp > 0).mean() > 0.2
    from depth3d.io.clouds import read_cloud

    cloud = read_cloud(tmp_path / "o" / "cloud.ply")
    assert len(cloud) == int((np.load(tmp_path / "o" / "depth.npy") > 0).sum())
    p = run_cli("calibrate", "stereo", "-o", tmp_path / "x.yaml")
    assert p.returncode == 2 and "--left" in p.stderr


def test_cli_calibrate_live_from_source(shared_data, tmp_path, run_cli):
    """--live collects pairs from a stereo source (here a recorded folder) until the board is seen N times."""
    d = shared_data / "stereo-chessboard"
    p = run_cli("calibrate", "stereo", "--live", f"stereo:folder?left={d}/left*.jpg&right={d}/right*.jpg",
                "--frames", "8", "-o", tmp_path / "live.yaml")
    assert p.returncode == 0, p.stderr
    from depth3d.stereo.calibration import load_calibration

    c = load_calibration(tmp_path / "live.yaml", image_size=(320, 240))
    assert len(c.views) == 8 and c.rms < 0.5
