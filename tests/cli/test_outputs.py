"""Outputs are never replaced without a word: existing files are refused unless --force, formats follow
the suffix, and several inputs with the same file name get distinct outputs."""

from __future__ import annotations

import json

import numpy as np


def _cloud(path):
    from depth3d.core.cloud import PointCloud
    from depth3d.io.clouds import write_cloud

    rng = np.random.default_rng(0)
    write_cloud(path, PointCloud(rng.uniform([-1, -1, 1], [1, 1, 3], (300, 3)).astype(np.float32)))


def test_convert_refuses_existing_output_unless_force(tmp_path, run_cli):
    src, out = tmp_path / "in.ply", tmp_path / "out.ply"
    _cloud(src)
    out.write_text("precious")
    p = run_cli("convert", src, "-o", out)
    assert p.returncode == 1 and p.stderr.strip().splitlines() == [
        f"depth3d convert: error: {out} exists; not overwriting it: pass --force, or choose another output"]
    assert out.read_text() == "precious"
    assert run_cli("convert", src, "-o", out, "--force").returncode == 0 and out.read_bytes()[:3] == b"ply"
    p = run_cli("convert", src, "-o", tmp_path)  # a folder
    assert p.returncode == 2 and "must end in" in p.stderr
    (tmp_path / "afile").write_text("x")
    p = run_cli("convert", src, "-o", tmp_path / "afile" / "x.ply")
    assert p.returncode == 1 and "is a file, not a folder" in p.stderr


def test_sim_room_checks_suffix_and_existing(tmp_path, run_cli):
    existing = tmp_path / "existing.ply"
    existing.write_text("keep")
    p = run_cli("sim", "room", "-o", existing)
    assert p.returncode == 2 and "existing.ply" in p.stderr and ".npz" in p.stderr
    assert existing.read_text() == "keep"
    p = run_cli("stream", "--source", "sim:room?objects=-3", "--max-frames", "1")
    assert p.returncode == 1 and "objects must be >= 0" in p.stderr


def test_detect_same_names_distinct_outputs_and_refusal(tmp_path, run_cli):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        _cloud(tmp_path / d / "x.ply")
    out = tmp_path / "out"
    p = run_cli("detect", tmp_path / "a" / "x.ply", tmp_path / "b" / "x.ply", "-o", out, "--num-points", "1024")
    assert p.returncode == 0, p.stderr
    assert (out / "a_x_boxes.json").is_file() and (out / "b_x_boxes.json").is_file()
    p = run_cli("detect", tmp_path / "a" / "x.ply", tmp_path / "b" / "x.ply", "-o", out, "--num-points", "1024")
    assert p.returncode == 1 and "exists" in p.stderr and "--force" in p.stderr
    p = run_cli("detect", tmp_path / "a" / "x.ply", "-o", out, "--tilt", "nan")
    assert p.returncode == 2 and "--tilt" in p.stderr
    p = run_cli("detect", tmp_path / "a" / "x.ply", "-o", out, "--threshold", "2")
    assert p.returncode == 2 and "--threshold" in p.stderr


def test_calibrate_refuses_unrelated_json_twin(tmp_path, run_cli):
    twin = tmp_path / "rig.json"
    twin.write_text(json.dumps({"mine": 1}))
    p = run_cli("calibrate", "stereo", "--left", "nothing*.png", "--right", "nothing*.png", "-o", tmp_path / "rig.yaml")
    assert p.returncode == 1 and "rig.json exists" in p.stderr
    assert json.loads(twin.read_text()) == {"mine": 1}


def test_debug_shows_traceback(tmp_path, run_cli):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    p = run_cli("info", bad)
    assert p.returncode == 1 and "Traceback" not in p.stderr and "bad.npz" in p.stderr
    p = run_cli("convert", bad, "-o", tmp_path / "o.ply")
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and "bad.npz" in p.stderr
    p = run_cli("--debug", "convert", bad, "-o", tmp_path / "o.ply")
    assert p.returncode == 1 and "Traceback" in p.stderr


def test_api_rejects_wrong_inputs():
    import pytest

    from depth3d.core import Intrinsics, PointCloud
    from depth3d.core.errors import InputError
    from depth3d.geometry import depth_to_points, rgbd_to_cloud, voxel_downsample
    from depth3d.io import write_cloud

    intr = Intrinsics(4, 3, 2.0, 2.0, 2.0, 1.5)
    with pytest.raises(TypeError, match="depth"):
        depth_to_points(None, intr, 0.001)
    with pytest.raises(TypeError, match="depth"):
        depth_to_points([[1, 2]], intr, 0.001)
    for scale in (float("nan"), -1.0, 0.0):
        with pytest.raises(InputError, match="depth_scale"):
            depth_to_points(np.ones((3, 4), np.uint16), intr, scale)
    torch = pytest.importorskip("torch")
    with pytest.raises(InputError, match="depth_scale"):
        depth_to_points(torch.ones(3, 4, dtype=torch.int32), intr, float("nan"))
    with pytest.raises(TypeError, match="frame"):
        rgbd_to_cloud(None)
    with pytest.raises(TypeError, match="cloud"):
        voxel_downsample(None, 0.1)
    with pytest.raises(TypeError, match="cloud"):
        voxel_downsample([[0, 0, 0]], 0.1)
    with pytest.raises(InputError, match="NaN"):
        voxel_downsample(np.full((4, 3), np.nan, np.float32), 0.1)
    with pytest.raises(TypeError, match="PointCloud"):
        write_cloud("x.ply", None)
    with pytest.raises(TypeError, match="points"):
        PointCloud(None)
    with pytest.raises(TypeError, match="points"):
        PointCloud([[0.0, 0.0, 0.0]])
