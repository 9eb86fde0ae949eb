"""Box geometry, oriented IoU, NMS and AP against hand-computed values."""

import numpy as np
import pytest

from depth3d.geometry.boxes import (box3d_iou, box_corners, boxes_corners, nms_3d_faster_samecls,
                                     points_in_box, points_in_boxes_count, polygon_clip)
from depth3d.detection.evaluation import APCalculator, eval_det, eval_det_cls, voc_ap
from depth3d.models.votenet import sunrgbd_config


def test_corners_heading_convention():
    # VoteNet: l axis along (cos(-h), sin(-h)); h = pi/2 puts l along -y
    c = box_corners([0, 0, 0], [2.0, 1.0, 1.0], np.pi / 2)
    assert np.allclose(np.abs(c[:, 1]).max(), 1.0) and np.allclose(np.abs(c[:, 0]).max(), 0.5)
    assert np.allclose(c[:4, 2], -0.5) and np.allclose(c[4:, 2], 0.5)
    cc = boxes_corners(np.array([[1, 2, 3.0]]), np.array([[2, 1, 1.0]]), np.array([0.3]))
    assert np.allclose(cc[0], box_corners([1, 2, 3], [2, 1, 1], 0.3))
    pts = np.array([[0, 0.9, 0], [0.9, 0, 0]])
    assert points_in_box(pts, [0, 0, 0], [2.0, 1.0, 1.0], np.pi / 2).tolist() == [True, False]


def test_points_in_boxes_count_equals_brute_force():
    rng = np.random.default_rng(3)
    pts = rng.uniform(-3, 3, (5000, 3)).astype(np.float32)
    pts[100:120] = pts[100]  # duplicates
    centers = rng.uniform(-2, 2, (64, 3))
    sizes = rng.uniform(0.1, 2.0, (64, 3))
    heads = rng.uniform(-np.pi, np.pi, 64)
    centers[:4] = pts[:4]  # boxes centred on points
    sizes[4] = 0.0  # empty box
    centers[5], sizes[5], heads[5] = pts[7] - [0.5, 0.0, 0.0], [1.0, 0.4, 0.4], 0.0  # a point on the boundary
    brute = [int(points_in_box(pts, centers[j], sizes[j], heads[j]).sum()) for j in range(64)]
    assert points_in_boxes_count(pts, centers, sizes, heads).tolist() == brute
    assert brute[5] >= 1 and brute[4] == 0
    assert points_in_boxes_count(np.zeros((0, 3)), centers, sizes, heads).tolist() == [0] * 64


def test_identical_boxes_iou_exactly_one():
    for h in (0.0, 0.3, np.pi / 2, -2.1):
        c = box_corners([1.0, 2.0, 0.5], [1.3, 0.7, 0.9], h)
        assert box3d_iou(c, c) == (1.0, 1.0)
        # equal box, corners computed another way (tiny float differences): still 1 within 1e-9
        c2 = boxes_corners(np.array([[1.0, 2.0, 0.5]]), np.array([[1.3, 0.7, 0.9]]), np.array([h]))[0]
        assert abs(box3d_iou(c, c2)[0] - 1.0) < 1e-9
    # same box written with heading + pi (symmetric): IoU 1
    a = box_corners([0, 0, 0], [2, 1, 1], 0.4)
    b = box_corners([0, 0, 0], [2, 1, 1], 0.4 + np.pi)
    assert abs(box3d_iou(a, b)[0] - 1.0) < 1e-9


def test_iou_known_values():
    a = box_corners([0, 0, 0], [2, 2, 2], 0.0)
    b = box_corners([1, 0, 0], [2, 2, 2], 0.0)  # half overlap: inter 4, union 12
    assert box3d_iou(a, b)[0] == pytest.approx(1 / 3)
    c = box_corners([0, 0, 1], [2, 2, 2], 0.0)  # z half overlap
    assert box3d_iou(a, c)[0] == pytest.approx(1 / 3)
    d = box_corners([0, 0, 0], [2, 2, 2], np.pi / 4)  # square vs rotated square: octagon 8(sqrt2-1)
    inter = 8 * (np.sqrt(2) - 1)
    assert box3d_iou(a, d)[1] == pytest.approx(inter / (8 - inter))
    e = box_corners([5, 0, 0], [2, 2, 2], 0.3)
    assert box3d_iou(a, e) == (0.0, 0.0)
    # touching boxes: zero
    f = box_corners([2, 0, 0], [2, 2, 2], 0.0)
    assert box3d_iou(a, f)[0] == pytest.approx(0.0)


def test_polygon_clip_matches_scipy_hull_area():
    from scipy.spatial import ConvexHull

    rng = np.random.default_rng(0)
    for _ in range(50):
        a = box_corners(rng.uniform(-1, 1, 3), rng.uniform(0.5, 2, 3), rng.uniform(-3, 3))[:4, :2]
        b = box_corners(rng.uniform(-1, 1, 3), rng.uniform(0.5, 2, 3), rng.uniform(-3, 3))[:4, :2]
        p = polygon_clip(a, b)
        area = 0.0 if len(p) < 3 else ConvexHull(p).volume
        # brute force: Monte-Carlo-free check via the hull of points of a inside b plus intersections
        x, y = p[:, 0], p[:, 1] if len(p) else (np.zeros(0), np.zeros(0))
        shoelace = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) if len(p) >= 3 else 0.0
        assert shoelace == pytest.approx(area, abs=1e-9)


def test_nms_same_class_only():
    boxes = np.array([[0, 0, 0, 1, 1, 1, 0.9, 0], [0.05, 0, 0, 1.05, 1, 1, 0.8, 0],
                      [0.05, 0, 0, 1.05, 1, 1, 0.7, 1], [3, 3, 3, 4, 4, 4, 0.6, 0]], float)
    assert nms_3d_faster_samecls(boxes, 0.25) == [0, 2, 3]


def test_voc_ap_and_eval_det_cls():
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 1.0])) == pytest.approx(1.0)
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(0.5 + 0.5 * 2 / 3)
    g1 = box_corners([0, 0, 0], [1, 1, 1], 0)
    g2 = box_corners([3, 0, 0], [1, 1, 1], 0)
    off = box_corners([0.6, 0, 0], [1, 1, 1], 0)  # IoU 0.4/1.6 = 0.25: not > 0.25
    pred = {0: [(g1, 0.9), (g1, 0.8), (off, 0.7)], 1: [(g2, 0.6)]}
    gt = {0: [g1], 1: [g2]}
    rec, prec, ap = eval_det_cls(pred, gt, 0.25)
    # sorted: TP (0.9), FP duplicate (0.8), FP (IoU 0.25 is not > 0.25), TP (0.6)
    assert rec.tolist() == [0.5, 0.5, 0.5, 1.0]
    assert prec.tolist() == pytest.approx([1.0, 0.5, 1 / 3, 0.5])
    assert ap == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)
    rec, _, ap = eval_det_cls(pred, gt, 0.2)  # now the shifted box matches nothing new (g1 taken)
    assert ap == pytest.approx(0.5 + 0.5 * 0.5)


def test_ap_calculator_perfect_and_missing_classes():
    cfg = sunrgbd_config()
    calc = APCalculator(0.5, cfg.class2type)
    b0 = box_corners([1, 2, 0], [1, 1, 1], 0.2)
    b1 = box_corners([-1, 3, 0], [2, 1, 1], -0.7)
    gt = [[(0, b0), (7, b1)]]
    preds = [[(0, b0, 0.9), (7, b1, 0.8), (3, b1, 0.1)]]  # class 3 has no GT: AP undefined, not counted
    calc.step(preds, gt)
    m = calc.compute_metrics()
    assert m["bed Average Precision"] == 1.0 and m["night_stand Average Precision"] == 1.0
    assert np.isnan(m["chair Average Precision"])
    assert m["mAP"] == 1.0
    # a GT class without predictions has AP 0
    rec, prec, ap = eval_det({0: [(0, b0, 0.9)]}, {0: [(0, b0), (5, b1)]})
    assert ap[0] == 1.0 and ap[5] == 0.0


def test_demo_nms_modes():
    from depth3d.detection.decode import demo_config

    assert demo_config().cls_nms is False and demo_config(0.3, "class").cls_nms is True
    assert demo_config(0.3).conf_thresh == 0.3 and not demo_config().per_class_proposal
    # two overlapping boxes of different classes: per-class NMS keeps both, class-agnostic NMS the better one
    boxes = np.array([[0, 0, 0, 1, 1, 1, 0.9, 0], [0.1, 0, 0, 1.1, 1, 1, 0.8, 1]], np.float64)
    assert sorted(nms_3d_faster_samecls(boxes, 0.25)) == [0, 1]
    agnostic = boxes.copy()
    agnostic[:, 7] = 0  # what parse_predictions passes when cls_nms is False
    assert nms_3d_faster_samecls(agnostic, 0.25) == [0]
    with pytest.raises(ValueError, match="nms"):
        demo_config(0.5, "per-class")
