"""One box convention: the same boxes drawn through every path that needs their corners (simulator labels,
the dataset loader's training labels, detection's ground-truth decoding and IoU, the viewer's line sets and
PLY files) give the same corners."""

from __future__ import annotations

import numpy as np
import pytest

from depth3d.geometry.boxes import EDGES, box3d_iou, box_corners, boxes_corners, points_in_box


def test_heading_convention_as_documented():
    # heading 0: l along +x; positive heading turns the box clockwise seen from above (l along -y at +pi/2)
    c = box_corners([0, 0, 0], [4, 2, 2], 0.0)
    assert np.allclose(c[0], [2, 1, -1]) and np.allclose(c[4], [2, 1, 1])
    c = box_corners([0, 0, 0], [4, 2, 2], np.pi / 2)
    assert np.allclose(c[0], [1, -2, -1])  # (+l/2, +w/2) -> rotz(-pi/2) -> (w/2, -l/2)
    # SUN RGB-D: heading = -atan2(oy, ox) for a box whose l axis points along (ox, oy)
    o = np.array([0.6, 0.8])
    c = box_corners([0, 0, 0], [2, 1, 1], -np.arctan2(o[1], o[0]))
    l_axis = (c[0] + c[3] - c[1] - c[2])[:2] / 4
    assert np.allclose(l_axis / np.linalg.norm(l_axis), o)
    # bottom face counter-clockwise seen from above, top face above it in the same order
    bottom = c[:4, :2]
    area = 0.5 * np.sum(bottom[:, 0] * np.roll(bottom[:, 1], -1) - bottom[:, 1] * np.roll(bottom[:, 0], -1))
    assert area > 0 and np.allclose(c[4:, :2], c[:4, :2]) and (c[4:, 2] > c[:4, 2]).all()
    assert len(EDGES) == 12 and sorted({i for e in EDGES for i in e}) == list(range(8))


def test_every_path_draws_the_same_corners(tmp_path):
    o3d = pytest.importorskip("open3d")
    import torch

    from depth3d.datasets.votenet_detection import make_sample
    from depth3d.detection.decode import parse_groundtruths
    from depth3d.models.votenet import sunrgbd_config
    from depth3d.sim.scene import SceneObject
    from depth3d.viz.boxes import boxes_to_lineset, write_boxes_ply

    cfg = sunrgbd_config()
    rng = np.random.default_rng(0)
    objs = [SceneObject(cfg.classes[k], k, k, rng.uniform([-2, 1, -1], [2, 5, 0]), rng.uniform(0.4, 2.0, 3),
                        float(rng.uniform(-np.pi, np.pi))) for k in range(5)]
    rows = np.stack([o.votenet_row() for o in objs])  # simulator labels: centre, half sizes, -yaw, class
    want = boxes_corners(rows[:, :3], 2 * rows[:, 3:6], rows[:, 6])

    # simulator: the objects' own corners
    sim = np.stack([o.corners() for o in objs])
    np.testing.assert_allclose(sim, want, atol=1e-12)

    # dataset loader -> training labels -> detection's ground-truth decoding (the boxes mAP is scored on)
    pc = np.concatenate([rng.uniform([-3, 0, -1.5], [3, 6, 1], (3000, 3)), np.zeros((3000, 3))], 1)
    votes = np.zeros((3000, 10), np.float32)
    sample = make_sample(pc.astype(np.float32), rows, votes, cfg, 2048, rng, augment=False)
    batch = {k: torch.as_tensor(np.asarray(v))[None] for k, v in sample.items()}
    gts = parse_groundtruths(batch, cfg)[0]
    assert [g[0] for g in gts] == [int(r[7]) for r in rows]
    loader = np.stack([g[1] for g in gts])
    np.testing.assert_allclose(loader, want, atol=1e-6)  # float32 labels, heading through bin + residual
    for a, b in zip(loader, want):
        assert box3d_iou(a, b)[0] > 1 - 1e-5

    # viewer: box dicts as `depth3d detect` writes them (counter-clockwise heading = -VoteNet heading)
    dicts = [{"class": o.class_name, "class_id": o.class_id, "center": list(r[:3]), "size": list(2 * r[3:6]),
              "heading": -float(r[6]), "heading_votenet": float(r[6])} for o, r in zip(objs, rows)]
    ls = boxes_to_lineset(dicts, cfg.classes)
    np.testing.assert_allclose(np.asarray(ls.points).reshape(-1, 8, 3), want, atol=1e-12)
    assert np.asarray(ls.lines).tolist()[:12] == [list(e) for e in EDGES]
    write_boxes_ply(tmp_path / "b.ply", dicts)
    ply = o3d.io.read_line_set(str(tmp_path / "b.ply"))
    np.testing.assert_allclose(np.asarray(ply.points).reshape(-1, 8, 3), want, atol=1e-5)

    # points inside: the detector's empty-box test and the vote labels agree with the corners
    for r, c in zip(rows, want):
        inner = c.mean(0) + 0.999 * (c - c.mean(0))
        outer = c.mean(0) + 1.001 * (c - c.mean(0))
        assert points_in_box(inner, r[:3], 2 * r[3:6], r[6]).all()
        assert not points_in_box(outer, r[:3], 2 * r[3:6], r[6]).any()
