"""Scan datasets in VoteNet's SUN RGB-D layout: files, frames, boxes, votes, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from depth3d.geometry.boxes import box_corners, points_in_box
from depth3d.sim.dataset import ScanOptions, compute_votes, load_scan, make_scan


def points_in_votenet_box(points, row):
    """Points (N, 3) inside the box of a VoteNet bbox row (centre, HALF sizes, heading, class)."""
    return points_in_box(points, row[:3], 2 * row[3:6], row[6])


def test_votes_match_votenet_rules():
    pts = np.array([[0, 0, 0], [0.5, 0, 0], [3, 3, 3]], dtype=np.float32)
    boxes = np.array([[0, 0, 0, 1, 1, 1, 0.3, 0], [0.5, 0, 0, 0.2, 0.2, 0.2, 0, 1]])
    v = compute_votes(pts, boxes)
    assert v.shape == (3, 10)
    np.testing.assert_array_equal(v[:, 0], [1, 1, 0])
    np.testing.assert_allclose(v[0, 1:], [0, 0, 0] * 3)  # own centre
    np.testing.assert_allclose(v[1, 1:4], [-0.5, 0, 0])  # first box
    np.testing.assert_allclose(v[1, 4:7], [0, 0, 0])  # second box
    np.testing.assert_allclose(v[1, 7:10], [-0.5, 0, 0])  # third slot keeps the first vote
    assert not v[2].any()
    # corners follow VoteNet's rotz(-angle)
    c = box_corners([0, 0, 0], [4, 2, 2], np.pi / 2)
    assert np.allclose(np.abs(c[:, 0]).max(), 1) and np.allclose(np.abs(c[:, 1]).max(), 2)
    assert points_in_votenet_box(c * 0.99, np.array([0, 0, 0, 2, 1, 1, np.pi / 2, 0])).all()


def test_make_scan_frames_and_boxes():
    s = make_scan(0, 2, ScanOptions(width=320, height=240, num_points=5000, min_points=20))
    pc, bbox, votes = s["pc"], s["bbox"], s["votes"]
    assert pc.shape == (5000, 6) and pc.dtype == np.float32
    assert bbox.shape[1] == 8 and len(bbox) >= 1 and votes.shape == (5000, 10)
    assert np.all((pc[:, 3:] >= 0) & (pc[:, 3:] <= 1))
    # upright frame: camera at the origin, looking along +y, floor about 1.0-1.6 m below
    assert np.median(pc[:, 1]) > 0.5
    floor_z = np.percentile(pc[:, 2], 1)
    assert -1.7 < floor_z < -0.9
    # every box's own object points lie inside it
    for row in bbox:
        k = int(row[7])
        assert 0 <= k < 10 and np.all(row[3:6] > 0)
    world = np.linalg.inv(s["upright_from_world"])
    for row, name in zip(bbox, s["class_names"]):
        inside = points_in_votenet_box(pc, row)
        assert inside.sum() >= 20
        # boxes sit on the floor: bottom at the floor height (z = -camera height)
        assert abs((row[2] - row[5]) + s["world_from_camera"][2, 3]) < 1e-6
    assert world.shape == (4, 4)
    # camera x (right) stays upright x; camera forward has no x component (no yaw left in the frame)
    cam_to_up = s["upright_from_world"][:3, :3] @ s["world_from_camera"][:3, :3]
    np.testing.assert_allclose(cam_to_up[:, 0], [1, 0, 0], atol=1e-9)
    assert abs(cam_to_up[0, 2]) < 1e-9 and cam_to_up[1, 2] > 0.5 and cam_to_up[2, 1] < -0.5


def test_cli_scans_writes_votenet_layout(run_cli, tmp_path):
    out = tmp_path / "scans"
    proc = run_cli("sim", "scans", "-o", out, "--num", "4", "--seed", "1", "--workers", "2", "--points", "3000",
                   "--width", "256", "--height", "192", "--min-points", "20", "--val-fraction", "0.25")
    assert proc.returncode == 0, proc.stderr
    assert "sim scans" in proc.stderr  # tqdm progress bar
    for i in range(4):
        pc, bbox, votes = load_scan(out, i)
        assert pc.shape == (3000, 6) and votes.shape == (3000, 10) and bbox.shape[1] == 8
        # votes: every voting point lies in a box and points to that box's centre
        for j in np.where(votes[:, 0] > 0)[0][:200]:
            centre = pc[j, :3] + votes[j, 1:4]
            row = bbox[np.argmin(np.linalg.norm(bbox[:, :3] - centre, axis=1))]
            np.testing.assert_allclose(row[:3], centre, atol=1e-4)
            assert points_in_votenet_box(pc[j:j + 1], row)[0]
        # and every point inside a box votes
        for row in bbox:
            assert np.all(votes[points_in_votenet_box(pc, row), 0] == 1)
    train = (out / "train.txt").read_text().split()
    val = (out / "val.txt").read_text().split()
    assert len(val) == 1 and sorted(train + val) == [f"{i:06d}" for i in range(4)]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["classes"][0] == "bed" and len(meta["scans"]) == 4
    # reproducible: the same seed gives the same files
    out2 = tmp_path / "again"
    assert run_cli("sim", "scans", "-o", out2, "--num", "1", "--seed", "1", "--points", "3000", "--width", "256",
                   "--height", "192", "--min-points", "20", "--quiet", "--images").returncode == 0
    calib = json.loads((out2 / "000000_calib.json").read_text())
    from depth3d.io.depth_png import read_depth_png

    depth = read_depth_png(out2 / "000000_depth.png")
    assert depth.shape == (192, 256) and np.asarray(calib["K"]).shape == (3, 3)
    # the scan's points are the depth image's valid pixels, back-projected and turned upright
    K, R = np.asarray(calib["K"]), np.asarray(calib["upright_from_camera"])
    v, u = np.nonzero(depth)
    z = depth[v, u] * 0.001
    cam = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], 1)
    up = cam @ R.T
    pc0 = load_scan(out2, 0)[0]
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(up).query(pc0[:, :3])
    assert np.max(dist) < 1e-4
    a, b = load_scan(out, 0), load_scan(out2, 0)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    # pack the training split into one file for fast training
    proc = run_cli("sim", "pack", out, "-o", tmp_path / "train.npz", "--points", "1000")
    assert proc.returncode == 0, proc.stderr
    from depth3d.datasets.votenet_detection import PackedVoteNetDataset

    ds = PackedVoteNetDataset(tmp_path / "train.npz", num_points=500)
    assert len(ds) == 3
    for i, sid in enumerate(int(t) for t in train):
        s = ds[i]
        assert s["point_clouds"].shape == (500, 4)
        assert int(s["box_label_mask"].sum()) == len(load_scan(out, sid)[1])
    assert run_cli("sim", "pack", tmp_path / "nothing", "-o", tmp_path / "x.npz").returncode == 1


def test_cli_room_render_and_errors(run_cli, tmp_path):
    assert run_cli("sim", "room", "-o", tmp_path / "r.npz", "--seed", "2").returncode == 0
    proc = run_cli("sim", "render", "-o", tmp_path / "seq", "--scene", tmp_path / "r.npz", "--frames", "2",
                   "--width", "96", "--height", "72")
    assert proc.returncode == 0, proc.stderr
    from depth3d.io.depth_png import read_depth_png

    d = read_depth_png(tmp_path / "seq" / "depth_000001.png")
    assert d.shape == (72, 96) and d.dtype == np.uint16 and (d > 0).mean() > 0.5
    with np.load(tmp_path / "seq" / "gt_000001.npz") as z:
        assert z["depth"].shape == (72, 96)
    assert json.loads((tmp_path / "seq" / "boxes.json").read_text())["boxes"]
    bad = run_cli("sim", "scans", "-o", tmp_path / "x", "--num", "0")
    assert bad.returncode == 2 and "--num must be positive" in bad.stderr
    missing = run_cli("sim", "render", "-o", tmp_path / "y", "--scene", tmp_path / "nope.npz")
    assert missing.returncode == 1 and "nope.npz" in missing.stderr
    assert run_cli("sim").returncode == 2


def test_make_scan_redraws_a_view_without_valid_depth():
    # seed 1, scan 1864 at 320x240: the first random view faces a wall closer than the sensor's minimum
    # range (no valid pixel); the scan draws another view instead of failing the whole dataset
    s = make_scan(1, 1864, ScanOptions(width=320, height=240, num_points=2000))
    assert np.count_nonzero(s["depth"]) >= 0.1 * s["depth"].size
    assert s["pc"].shape == (2000, 6) and np.isfinite(s["pc"]).all()
