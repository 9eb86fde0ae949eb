"""Rooms of a kind, SUN RGB-D-like views and cameras, and the Kinect-like sensor effects."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from depth3d.geometry.boxes import rotz
from depth3d.sim.layouts import ROOM_TYPES, _box, generate_typed_room, sensor_profile, sun_view
from depth3d.sim.realsense_sensor import RealSenseModel, d435_intrinsics
from depth3d.sim.render import SceneRenderer
from depth3d.sim.scene import STUFF_IDS


def _in_box_frame(obj, pts):
    """Points (N, 3) world -> the object's box frame (u along the heading, v across, z from the centre)."""
    d = np.asarray(pts) - obj.centre
    return d @ rotz(obj.heading)  # rows: R^T d


def test_typed_rooms_are_reproducible_and_of_their_kind():
    a, kind_a = generate_typed_room(3)
    b, kind_b = generate_typed_room(3)
    assert kind_a == kind_b and len(a.meshes) == len(b.meshes)
    for ma, mb in zip(a.meshes, b.meshes):
        np.testing.assert_array_equal(ma.vertices, mb.vertices)
    expected = {"bedroom": "bed", "living_room": "sofa", "office": "desk", "dining_room": "table",
                "bathroom": "toilet", "classroom": "desk"}
    for kind, must in expected.items():
        found = [must in {o.class_name for o in generate_typed_room(s, kind)[0].objects} for s in range(6)]
        assert sum(found) >= 5, (kind, found)
    with pytest.raises(ValueError, match="room_type"):
        generate_typed_room(0, "garage")
    kinds = {generate_typed_room(s)[1] for s in range(40)}
    assert kinds <= set(ROOM_TYPES) and len(kinds) >= 5


def test_boxes_hold_their_meshes_and_unlabelled_things_are_clutter():
    for seed in range(12):
        scene, _ = generate_typed_room(seed)
        assert list(scene.class_ids[:6]) == [STUFF_IDS["floor"]] + [STUFF_IDS["wall"]] * 4 + [STUFF_IDS["ceiling"]]
        labelled = {o.instance for o in scene.objects}
        for i, c in enumerate(scene.class_ids[6:], start=6):
            assert (c < 10) == (i in labelled)
            assert c < 10 or c == STUFF_IDS["clutter"]
        lx, ly, _ = scene.room_size
        for o in scene.objects:
            assert scene.class_ids[o.instance] == o.class_id
            local = _in_box_frame(o, scene.meshes[o.instance].vertices)
            assert np.all(np.abs(local) <= o.size / 2 + 1e-6), (seed, o.class_name)
            assert abs(o.centre[2] - o.size[2] / 2) < 1e-9  # stands on the floor
            corners = o.corners()
            assert np.all(np.abs(corners[:, 0]) <= lx / 2 + 1e-6) and np.all(np.abs(corners[:, 1]) <= ly / 2 + 1e-6)


def test_bedroom_night_stands_flank_the_headboard():
    seen = 0
    for seed in range(20):
        scene, _ = generate_typed_room(seed, "bedroom")
        beds = [o for o in scene.objects if o.class_name == "bed"]
        for ns in (o for o in scene.objects if o.class_name == "night_stand"):
            if not beds:
                continue
            bed = beds[0]
            u, v, _ = _in_box_frame(bed, ns.centre[None])[0]
            if abs(v) > bed.size[1] / 2 + 0.8:
                continue  # a night stand placed elsewhere (a second bed's, or free)
            seen += 1
            assert u < 0  # at the headboard half
            assert abs(v) >= bed.size[1] / 2  # beside the bed, not on it
    assert seen >= 10


def test_sun_views_stand_free_and_look_down():
    for seed in range(10):
        scene, _ = generate_typed_room(seed)
        rng = np.random.default_rng(seed)
        pose = sun_view(scene, rng)
        eye = pose.t
        assert 0.9 <= eye[2] <= 1.7
        fwd = pose.R[:, 2]
        pitch = np.degrees(np.arcsin(-fwd[2]))
        assert -10 < pitch < 60
        # a person's spot: clear of every footprint (30 cm, or the freest spot of a crowded room)
        gaps = []
        for m in scene.meshes[6:]:
            lo, hi = m.bounds
            d = np.maximum(lo[:2] - eye[:2], eye[:2] - hi[:2])
            gaps.append(np.linalg.norm(np.maximum(d, 0)) + min(d.max(), 0))
        assert min(gaps) > 0.05


def test_sensor_profiles():
    rng = np.random.default_rng(0)
    names = set()
    for _ in range(40):
        name, model, intr = sensor_profile(rng, 320, 240)
        names.add(name)
        hfov = np.degrees(2 * np.arctan(intr.width / (2 * intr.fx)))
        if name == "kinect":
            assert model.disparity_step == 0.125 and model.baseline == 0.075 and 57 <= hfov <= 70
            assert 4.5 <= model.max_z <= 8.0 and model.flying_pixels > 0
        else:
            assert model.disparity_step == 0 and intr.fx == d435_intrinsics(320, 240).fx
    assert names == {"realsense", "kinect"}


def _wall(z):
    """A grey 40 x 40 m slab facing the camera, its near face at depth ``z`` metres."""
    return _box((40, 40, 0.01), (0, 0, z + 0.005), (0.8, 0.8, 0.8))


def test_disparity_steps_quantise_depth_in_disparity():
    intr = d435_intrinsics(160, 120)
    tilted = _wall(2.0)
    tilted.apply_transform(trimesh.transformations.rotation_matrix(0.6, (0, 1, 0), point=(0, 0, 2.0)))
    r = SceneRenderer([tilted]).render(intr)
    fb = intr.fx * 0.075
    model = RealSenseModel(baseline=0.075, subpixel=0.0, disparity_step=0.125, edge_dropout=0.0, hole_fraction=0.0,
                           dark_albedo=0.0, grazing_deg=90.0, shadow=False, depth_unit=1e-4)
    raw, _ = model.apply(r, intr, np.random.default_rng(0))
    z = raw[raw > 0] * 1e-4
    disp = fb / z
    steps = disp / 0.125
    assert np.abs(steps - np.round(steps)).max() < 0.02  # depth sits on disparity steps (0.1 mm units)
    assert len(np.unique(np.round(steps))) > 10  # many layers across the slanted wall
    exact = RealSenseModel(baseline=0.075, subpixel=0.0, edge_dropout=0.0, hole_fraction=0.0, dark_albedo=0.0,
                           grazing_deg=90.0, shadow=False, depth_unit=1e-4).apply(r, intr, np.random.default_rng(0))[0]
    assert np.abs(fb / (exact[exact > 0] * 1e-4) / 0.125 - np.round(fb / (exact[exact > 0] * 1e-4) / 0.125)).max() > 0.1
    with pytest.raises(ValueError, match="disparity_step"):
        RealSenseModel(disparity_step=-1)
    with pytest.raises(ValueError, match="flying_pixels"):
        RealSenseModel(flying_pixels=1.5)


def test_flying_pixels_lie_between_the_two_sides_of_an_edge():
    intr = d435_intrinsics(160, 120)
    box = trimesh.creation.box(extents=(0.6, 0.6, 0.1))
    box.apply_translation([0, 0, 1.0])
    r = SceneRenderer([_wall(3.0), box]).render(intr)
    base = dict(subpixel=0.0, edge_dropout=0.0, hole_fraction=0.0, dark_albedo=0.0, grazing_deg=90.0, shadow=False)
    clean, _ = RealSenseModel(**base).apply(r, intr, np.random.default_rng(1))
    flying, _ = RealSenseModel(**base, flying_pixels=1.0).apply(r, intr, np.random.default_rng(1))
    z0, z1 = clean * 1e-3, flying * 1e-3
    mixed = (z1 > 0.96 + 0.02) & (z1 < 2.99 - 0.02)  # between the box front (0.95 m) and the wall (3 m)
    assert mixed.sum() > 50
    assert not ((z0 > 0.98) & (z0 < 2.97)).any()  # none without the effect
    changed = np.abs(z1 - z0) > 1e-3
    # only pixels at the depth edge change
    e = r.depth
    jump = np.zeros_like(e)
    ep = np.pad(e, 1, mode="edge")
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        jump = np.maximum(jump, np.abs(ep[dy:dy + e.shape[0], dx:dx + e.shape[1]] - e))
    assert np.all(jump[changed] > 0.04 * e[changed])


def test_scans_of_the_sunrgbd_profile(run_cli, tmp_path):
    from depth3d.sim.dataset import ScanOptions, make_scan

    s = make_scan(4, 1, ScanOptions(width=160, height=120, num_points=3000, min_points=20, profile="sunrgbd"))
    assert s["room_type"] in ROOM_TYPES and s["sensor"] in ("realsense", "kinect")
    assert s["pc"].shape == (3000, 6) and s["votes"].shape == (3000, 10)
    for row in s["bbox"]:  # boxes stand on the floor, the camera 0.9..1.7 m above it
        assert -1.7 - 1e-6 <= row[2] - row[5] <= -0.9 + 1e-6
    with pytest.raises(ValueError, match="profile"):
        ScanOptions(profile="kitchen")
    out = tmp_path / "scans"
    r = run_cli("sim", "scans", "-o", str(out), "--num", "3", "--width", "96", "--height", "72", "--points", "500",
                "--profile", "sunrgbd", "--quiet")
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["options"]["profile"] == "sunrgbd" and "per scan" in meta["intrinsics"]
    assert all(sc["fx"] > 0 for sc in meta["scans"])
    assert all(sc["room_type"] in ROOM_TYPES and sc["sensor"] in ("realsense", "kinect") for sc in meta["scans"])
    bad = run_cli("sim", "scans", "-o", str(tmp_path / "x"), "--num", "1", "--profile", "kitchen")
    assert bad.returncode == 2 and "--profile" in bad.stderr
