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


#: (faces, vertex sum) of each class's simple design at seed 1, as before the rich designs were added
_SIMPLE_AT_SEED_1 = {"bed": (72, 7.531962812449202), "table": (184, 38.48099762141456),
                     "sofa": (244, 27.55517079804433), "chair": (184, 26.74664287318327),
                     "toilet": (236, 47.03981100586479), "desk": (96, 51.906281788837205),
                     "dresser": (364, 108.03032333843821), "night_stand": (232, 31.472530474906137),
                     "bookshelf": (456, 152.09359486700612), "bathtub": (124, 49.742135355604496)}


@pytest.mark.parametrize("name", CLASSES)
def test_simple_designs_are_unchanged_and_rich_ones_keep_the_frame(name):
    mesh, _ = make_object(name, np.random.default_rng(1))
    faces, vsum = _SIMPLE_AT_SEED_1[name]
    assert len(mesh.faces) == faces
    assert float(np.asarray(mesh.vertices).sum()) == pytest.approx(vsum, rel=1e-12)
    for seed in range(12):
        mesh, size = make_object(name, np.random.default_rng(seed), rich=True)
        lo, hi = mesh.bounds
        np.testing.assert_allclose(hi - lo, size, atol=1e-9)
        np.testing.assert_allclose((lo[:2] + hi[:2]) / 2, 0, atol=1e-9)
        assert abs(lo[2]) < 1e-9


def test_rich_designs_span_real_furniture():
    def sizes(name):
        return np.array([make_object(name, np.random.default_rng(s), rich=True)[1] for s in range(60)])

    bed = sizes("bed")
    assert bed[:, 0].min() > 1.9 and bed[:, 0].max() < 2.6          # length with boards and bedding
    assert bed[:, 1].min() < 1.1 and bed[:, 1].max() > 1.8          # single to king
    assert bed[:, 2].min() < 0.8 and bed[:, 2].max() > 1.4          # low to tall headboards
    dresser = sizes("dresser")
    assert ((dresser[:, 2] > 1.4) & (dresser[:, 1] < 1.3)).any()    # tall chests of drawers
    assert ((dresser[:, 2] < 1.05) & (dresser[:, 1] > 1.4)).any()   # wide low dressers
    sofa = sizes("sofa")
    assert sofa[:, 1].min() < 1.6 and sofa[:, 1].max() > 2.2        # loveseats to long sofas
    # bedding: a bed with a duvet has many more parts than the simple bed
    faces = [len(make_object("bed", np.random.default_rng(s), rich=True)[0].faces) for s in range(20)]
    assert max(faces) > 3 * _SIMPLE_AT_SEED_1["bed"][0]


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


def test_object_point_cloud_for_shape_classification():
    from depth3d.sim.objects import object_point_cloud

    a, na = object_point_cloud("chair", np.random.default_rng(3), 512)
    b, nb = object_point_cloud("chair", np.random.default_rng(3), 512)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (512, 3) and a.dtype == np.float32
    assert np.linalg.norm(a, axis=1).max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(np.linalg.norm(na, axis=1), 1, atol=1e-5)
