"""Floor plane / levelling: exact synthetic planes and simulated RealSense frames with known poses."""

from __future__ import annotations

import numpy as np
import pytest

from depth3d.geometry.floor import estimate_floor, level_camera, level_cloud, tilt_rotation, upright_rotation


def _pitched_scene(pitch_deg: float, roll_deg: float = 0.0, height: float = 1.3, seed: int = 0):
    """Camera-frame points of a floor, a table top (0.7 m) and a wall seen by a camera pitched down."""
    rng = np.random.default_rng(seed)
    # world: x right, y forward, z up; camera at (0, 0, height)
    floor = np.c_[rng.uniform(-2, 2, 6000), rng.uniform(0.5, 5, 6000), np.zeros(6000)]
    table = np.c_[rng.uniform(-0.4, 0.4, 1500), rng.uniform(1.5, 2.3, 1500), np.full(1500, 0.7)]
    wall = np.c_[rng.uniform(-2, 2, 3000), np.full(3000, 5.0), rng.uniform(0, 2.5, 3000)]
    world = np.concatenate([floor, table, wall]) - [0, 0, height]
    p, r = np.deg2rad(pitch_deg), np.deg2rad(roll_deg)
    # camera axes in world coordinates: level camera x=(1,0,0), y(down)=(0,0,-1), z(fwd)=(0,1,0)
    level = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # rows: camera axes
    pitch = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])  # about camera x
    roll = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])  # about camera z
    cam_from_world = roll @ pitch @ level
    cam = world @ cam_from_world.T
    up_in_cam = cam_from_world @ np.array([0.0, 0.0, 1.0])
    return cam + rng.normal(0, 0.003, cam.shape), up_in_cam


@pytest.mark.parametrize("pitch,roll", [(0, 0), (20, 0), (35, 5), (50, -8)])
def test_floor_of_a_pitched_and_rolled_camera(pitch, roll):
    pts, up_true = _pitched_scene(pitch, roll)
    fl = estimate_floor(pts)
    assert fl is not None
    assert np.degrees(np.arccos(np.clip(fl.normal @ up_true, -1, 1))) < 0.5
    assert fl.camera_height == pytest.approx(1.3, abs=0.01)  # not the table top at 0.6 m below the camera
    up_pts, fl2 = level_cloud(pts)
    assert fl2 is not None and np.percentile(up_pts[:, 2], 5) == pytest.approx(-1.3, abs=0.02)
    assert np.median(up_pts[:, 1]) > 1.0  # forward stays +y


def test_no_floor_and_degenerate_input():
    rng = np.random.default_rng(0)
    wall = np.c_[rng.uniform(-2, 2, 3000), rng.uniform(-1, 1, 3000), np.full(3000, 3.0)]  # facing the camera
    assert estimate_floor(wall) is None
    assert estimate_floor(np.zeros((0, 3))) is None
    assert estimate_floor(np.full((10, 3), np.nan)) is None
    up, fl = level_cloud(wall)
    assert fl is None and np.allclose(up[:, 1], 3.0, atol=1e-5)  # level camera assumed
    with pytest.raises(ValueError, match="parallel"):
        upright_rotation([0.0, 0.0, 1.0], forward=(0.0, 0.0, 1.0))


def test_levels_simulated_realsense_frames_against_their_true_pose():
    from depth3d.capture.source import open_source
    from depth3d.geometry import depth_to_points

    errs = []
    with open_source("sim:room?seed=5&frames=6&width=160&height=120&trajectory=walk") as src:
        for f in src:
            pts = np.asarray(depth_to_points(f.depth_m(), f.depth_intrinsics)).reshape(-1, 3)
            pts = pts[np.isfinite(pts).all(1) & (pts[:, 2] > 0)]
            fl = estimate_floor(pts)
            T = f.extras["world_from_camera"]
            up_true = T[:3, :3].T @ np.array([0.0, 0.0, 1.0])
            errs.append(np.degrees(np.arccos(np.clip(fl.normal @ up_true, -1, 1))))
            assert fl.camera_height == pytest.approx(T[2, 3], abs=0.05)
    assert np.median(errs) < 1.0 and max(errs) < 3.0


def _ang(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def test_refined_plane_is_rechecked_wall_beside_the_camera_is_not_a_floor():
    """A wall on the left (normal along camera +x) is never taken for the floor, whatever the refinement does."""
    rng = np.random.default_rng(1)
    wall = np.c_[np.full(8000, -0.6), rng.uniform(-1.0, 0.3, 8000), rng.uniform(0.4, 3.0, 8000)]
    ahead = np.c_[rng.uniform(-0.6, 1.0, 4000), rng.uniform(-1.0, 0.3, 4000), np.full(4000, 3.0)]
    pts = np.concatenate([wall, ahead]) + rng.normal(0, 0.003, (12000, 3))
    fl = estimate_floor(pts)
    # the raw wall is the largest plane; only the level bottom edge of the two walls may qualify
    assert fl is None or _ang(fl.normal, [0, -1, 0]) < 10
    lev = level_camera(ahead, "auto")
    assert lev.floor is None and lev.method == "fallback" and "no floor" in lev.message
    assert np.allclose(lev.rotation, tilt_rotation(0.0)) and lev.to_dict()["floor"] is False
    assert level_camera(pts, 12.0).method == "given"


def test_real_d435_office_wall_has_no_tilted_floor(shared_data):
    from depth3d.capture.source import open_source
    from depth3d.detection.detect import camera_points

    bag = shared_data / "real" / "realsense-d435" / "single_depth_color_640x480.bag"
    if not bag.is_file():
        pytest.skip(f"{bag} absent")
    n = 0
    with open_source(str(bag)) as src:
        for f in src:
            fl = estimate_floor(camera_points(f))
            # no floor is in view: "no floor", or a horizontal surface (the chair seat) within 10 deg of level
            assert fl is None or _ang(fl.normal, [0, -1, 0]) < 10
            n += 1
    assert n == 2


@pytest.mark.parametrize("fid", ["000001", "000002"])
def test_real_sunrgbd_floor_agrees_with_rtilt(shared_data, fid):
    from depth3d.io.sunrgbd import read_frame

    root = shared_data / "sunrgbd"
    if not (root / "depth" / f"{fid}.mat").is_file():
        pytest.skip(f"{root} absent")
    fr = read_frame(root, fid, with_image=False)
    m = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # camera (x, y, z) -> depth frame (x, z, -y)
    up_true = m.T @ fr.Rtilt.T @ np.array([0.0, 0.0, 1.0])  # upright +z in the camera frame
    fl = estimate_floor(fr.camera_points())
    assert fl is not None
    assert _ang(fl.normal, up_true) < 4.0  # measured 1.7 and 2.4 deg; Rtilt's tilts are 13.6 and 13.4 deg
    assert fl.camera_height == pytest.approx(-np.percentile(fr.points[:, 2], 1), abs=0.15)
