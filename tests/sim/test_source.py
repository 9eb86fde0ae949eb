"""The sim: capture source through open_source, and trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from depth3d.capture.source import open_source
from depth3d.core.frame import RGBDFrame
from depth3d.sim.scene import generate_room
from depth3d.sim.trajectory import _free, look_at, orbit, walk


def test_open_source_yields_frames_with_ground_truth():
    spec = "sim:room?seed=3&frames=4&width=160&height=120"
    with open_source(spec) as src:
        assert src.kind == "sim" and src.frame_count == 4
        assert src.depth_intrinsics.width == 160 and src.depth_scale == 0.001
        frames = list(src)
    assert len(frames) == 4 and src.frames_read == 4
    f = frames[1]
    assert isinstance(f, RGBDFrame) and f.sensor == "sim" and f.index == 1
    assert f.depth.dtype == np.uint16 and f.depth.shape == (120, 160)
    assert f.color.shape == (120, 160, 3) and f.registered
    assert f.timestamp == pytest.approx(1 / 30)
    gt = f.extras["gt_depth"]
    valid = f.depth > 0
    assert 0.6 < valid.mean() < 1.0
    # measured depth near the ground truth (noise ~ z^2 * 0.08 / (f B))
    err = f.depth_m()[valid] - gt[valid]
    assert np.median(np.abs(err)) < 0.03
    assert f.extras["instance"].shape == (120, 160) and f.extras["class_id"].min() >= 0
    boxes = f.extras["boxes"]
    assert boxes.shape[1] == 8 and len(boxes) == len(f.extras["class_names"]) > 0
    pose = f.extras["world_from_camera"]
    assert pose.shape == (4, 4)


def test_source_is_deterministic_and_options_override():
    a = list(open_source("sim:room?seed=5&frames=2&width=96&height=72"))
    b = list(open_source("sim:room?frames=2&width=96&height=72", seed=5))
    for fa, fb in zip(a, b):
        np.testing.assert_array_equal(fa.depth, fb.depth)
        np.testing.assert_array_equal(fa.color, fb.color)
    c = list(open_source("sim:room?seed=5&frames=2&width=96&height=72&noise=none&trajectory=walk"))
    valid = c[0].depth > 0
    np.testing.assert_allclose(c[0].depth_m()[valid], c[0].extras["gt_depth"][valid], atol=0.0006)


def test_source_from_saved_scene(tmp_path):
    p = generate_room(2).save(tmp_path / "room.npz")
    with open_source(f"sim:{p}?frames=1&width=64&height=48") as src:
        f = src.read()
        assert f is not None and src.read() is None
    assert f.depth.shape == (48, 64)


@pytest.mark.parametrize("spec,match", [
    ("sim:room?bogus=1", "unknown option 'bogus'"),
    ("sim:room?frames=abc", "not a number"),
    ("sim:room?frames=0", "positive"),
    ("sim:room?noise=loud", "noise must be"),
])
def test_source_bad_options(spec, match):
    with pytest.raises(ValueError, match=match):
        open_source(spec)


def test_source_missing_scene_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        with open_source(f"sim:{tmp_path / 'nope.npz'}?frames=1"):
            pass


def test_trajectories_stay_free_and_look_into_room():
    scene = generate_room(4)
    for poses in (orbit(scene, 12), walk(scene, 12, seed=1)):
        assert len(poses) == 12
        for p in poses:
            assert 1.0 < p.t[2] < 1.8
            assert np.allclose(p.R @ p.R.T, np.eye(3), atol=1e-9)
            assert p.R[2, 2] < 0.3  # optical axis not pointing up
    # look_at: the target lies on the optical axis in front of the camera
    pose = look_at([1, 2, 1.5], [0, 0, 0.5])
    tgt_cam = pose.inverse().transform_points(np.array([[0, 0, 0.5]]))[0]
    np.testing.assert_allclose(tgt_cam[:2], 0, atol=1e-12)
    assert tgt_cam[2] > 0
    assert pose.R[:, 1][2] < 0  # image y (down) points down in the world
    assert not _free(scene, scene.objects[0].centre)
