"""Procedural objects and rooms: classes, boxes, reproducibility, serialisation."""

from __future__ import annotations

import numpy as np
import pytest

from depth3d.sim.objects import CLASSES, make_object
from depth3d.sim.scene import Scene, generate_room, _rects_overlap, _rect


def test_classes_are_votenet_order():
    assert CLASSES == ("bed", "table", "sofa", "chair", "toilet", "desk", "dresser", "night_stand",
                       "bookshelf", "bathtub")


@pytest.mark.parametrize("name", CLASSES)
def test_make_object_frame_and_size(name):
    rng = np.random.default_rng(1)
    mesh, size = make_object(name, rng)
    lo, hi = mesh.bounds
    assert size.shape == (3,)
    np.testing.assert_allclose(hi - lo, size, atol=1e-9)
    np.testing.assert_allclose((lo[:2] + hi[:2]) / 2, 0, atol=1e-9)
    assert abs(lo[2]) < 1e-9
    assert len(mesh.faces) >= 12 * 3  # made of several parts
    assert np.asarray(mesh.visual.face_colors).shape == (len(mesh.faces), 4)
    # proportions vary with the rng
    _, size2 = make_object(name, np.random.default_rng(2))
    assert not np.allclose(size, size2)


def test_make_object_bad_class():
    with pytest.raises(ValueError, match="unknown class 'lamp'"):
        make_object("lamp", np.random.default_rng(0))


def test_room_reproducible_and_different_seeds():
    a, b, c = generate_room(3), generate_room(3), generate_room(4)
    assert len(a.meshes) == len(b.meshes)
    for ma, mb in zip(a.meshes, b.meshes):
        np.testing.assert_array_equal(ma.vertices, mb.vertices)
    np.testing.assert_array_equal(a.boxes(), b.boxes())
    assert a.boxes().shape != c.boxes().shape or not np.allclose(a.boxes(), c.boxes())


@pytest.mark.parametrize("seed", [0, 1, 2, 5])
def test_room_objects_inside_boxes_no_overlap(seed):
    s = generate_room(seed, n_objects=8)
    assert len(s.objects) >= 2
    lx, ly, _ = s.room_size
    rects = []
    for o in s.objects:
        assert s.class_ids[o.instance] == o.class_id == CLASSES.index(o.class_name)
        v = s.meshes[o.instance].vertices - o.centre
        c, si = np.cos(o.heading), np.sin(o.heading)
        local = v @ np.array([[c, -si, 0], [si, c, 0], [0, 0, 1]])
        assert np.all(np.abs(local) <= o.size / 2 + 1e-6)
        np.testing.assert_allclose(np.abs(local).max(0), o.size / 2, atol=1e-6)  # tight
        corners = o.corners()
        assert np.all(np.abs(corners[:, 0]) <= lx / 2 + 1e-6) and np.all(np.abs(corners[:, 1]) <= ly / 2 + 1e-6)
        rects.append(_rect(o.centre[0], o.centre[1], o.size[0], o.size[1], o.heading))
    for i in range(len(rects)):
        for j in range(i):
            assert not _rects_overlap(rects[i], rects[j])
    row = s.objects[0].votenet_row()
    np.testing.assert_allclose(row[3:6], s.objects[0].size / 2)
    assert row[6] == -s.objects[0].heading


def test_scene_save_load_roundtrip(tmp_path):
    s = generate_room(7)
    p = s.save(tmp_path / "room.npz")
    r = Scene.load(p)
    assert r.seed == 7
    np.testing.assert_array_equal(r.class_ids, s.class_ids)
    np.testing.assert_array_equal(r.boxes(), s.boxes())
    np.testing.assert_array_equal(r.face_albedo(), s.face_albedo())
    for ma, mb in zip(s.meshes, r.meshes):
        np.testing.assert_array_equal(ma.vertices, mb.vertices)
        np.testing.assert_array_equal(ma.faces, mb.faces)
    assert not list(tmp_path.glob(".*tmp"))


def test_scene_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        Scene.load(tmp_path / "nope.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="missing arrays"):
        Scene.load(tmp_path / "other.npz")
