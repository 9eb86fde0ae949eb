"""Matching, disparity -> depth (Q and f*B/d agree), masking, filters, and simulated accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from depth3d.stereo.calibration import StereoCalibration
from depth3d.stereo.depth import (CloudMaker, depth_from_calibration, disparity_to_depth, focal_baseline,
                                  reproject_q)
from depth3d.stereo.matching import (StereoMatcher, edge_aware_fill, from_fixed_point, left_right_check)


def _calib(w=640, h=480, f=500.0, B=0.05) -> StereoCalibration:
    K = np.array([[f, 0, w / 2 - 0.5], [0, f, h / 2 - 0.5], [0, 0, 1]])
    return StereoCalibration.from_extrinsics(K, np.zeros(5), K, np.zeros(5), np.eye(3), [-B, 0, 0], (w, h),
                                             alpha=-1)


def test_fixed_point_conversion():
    d16 = np.array([[-16, 0, 1, 16, 8 * 16 + 5]], np.int16)
    d = from_fixed_point(d16)
    assert d.dtype == np.float32
    assert np.allclose(d, [[0, 0, 1 / 16, 1, 8 + 5 / 16]])


@pytest.mark.parametrize("calib_kind", ["synthetic", "real"])
def test_q_and_fb_over_d_agree(calib_kind, repo_root):
    if calib_kind == "real":
        from depth3d.stereo.calibration import load_calibration

        calib = load_calibration(repo_root / "calib" / "stereo-chessboard.yaml")
    else:
        calib = _calib()
    w, h = calib.image_size
    rng = np.random.default_rng(0)
    disp = rng.uniform(0.5, 100, (h, w)).astype(np.float32)
    disp[rng.random((h, w)) < 0.2] = 0.0  # invalid
    z1 = depth_from_calibration(disp, calib)
    pts, valid = reproject_q(disp, calib.Q)
    assert np.array_equal(valid, disp > 0) and np.array_equal(z1 > 0, disp > 0)
    assert np.allclose(pts[..., 2][valid], z1[valid], rtol=1e-5)
    f, B, _ = focal_baseline(calib.Q)
    assert np.isclose(f, calib.P1[0, 0]) and np.isclose(B, calib.baseline, rtol=1e-6)
    # the cloud from depth equals the Q points
    i = calib.rectified_intrinsics()
    p2, _ = CloudMaker(i)(z1)
    assert np.allclose(p2, pts[valid], rtol=1e-4, atol=1e-5)
    # every second pixel: the points of those pixels, with their colours
    grey = rng.integers(0, 256, (h, w), dtype=np.uint8)
    p3, c3 = CloudMaker(i)(z1, grey, stride=2)
    sub = valid[::2, ::2]
    assert np.allclose(p3, pts[::2, ::2][sub], rtol=1e-4, atol=1e-5)
    assert c3.shape == p3.shape
    assert np.allclose(c3, np.repeat(grey[::2, ::2][sub][:, None] / 255.0, 3, axis=1), rtol=0, atol=1e-6)


def test_invalid_disparity_never_huge():
    disp = np.array([[0.0, -3.0, 1e-9, np.nan, 2.0]], np.float32)
    z = disparity_to_depth(np.nan_to_num(disp), 500.0, 0.05)
    assert np.all(np.isfinite(z)) and z.max() <= 500 * 0.05 / 2.0 + 1e-6
    assert list(z[0, :4]) == [0, 0, 0, 0]
    assert disparity_to_depth(disp[:, 4:], 500, 0.05, max_depth=10.0)[0, 0] == 0  # 12.5 m > max
    pts, valid = reproject_q(np.nan_to_num(disp), _calib().Q)
    assert valid.tolist() == [[False, False, False, False, True]]
    assert np.all(np.abs(pts) < 1e4) and np.all(pts[~valid] == 0)


def _shifted_pair(d=12, h=120, w=200, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur((rng.random((h, w + 64)) * 255).astype(np.uint8), (3, 3), 0)
    left = tex[:, 32:32 + w].copy()
    right = tex[:, 32 + d:32 + d + w].copy()  # x_r = x_l - d
    return left, right


@pytest.mark.parametrize("method", ["sgbm", "bm"])
def test_matchers_recover_constant_shift(method):
    left, right = _shifted_pair(12)
    disp = StereoMatcher(method=method, num_disparities=32)(left, right)
    band = disp[:, 40:-10]
    valid = band > 0
    assert valid.mean() > (0.9 if method == "sgbm" else 0.8)  # BM loses block-size borders
    assert np.abs(np.median(band[valid]) - 12) < 0.1


def test_subpixel_refinement_reduces_error():
    import cv2

    h, w = 120, 240
    rng = np.random.default_rng(1)
    tex = cv2.GaussianBlur((rng.random((h, w * 4)) * 255).astype(np.float32), (7, 7), 1.5)
    true_d = 10.37
    xs = np.arange(w, dtype=np.float32) + 100
    ys = np.arange(h, dtype=np.float32)
    X, Y = np.meshgrid(xs, ys)
    left = cv2.remap(tex, X, Y, cv2.INTER_CUBIC).astype(np.uint8)
    right = cv2.remap(tex, X + true_d, Y, cv2.INTER_CUBIC).astype(np.uint8)
    e0 = StereoMatcher(num_disparities=32, subpixel=0)(left, right)[:, 40:-10]
    e2 = StereoMatcher(num_disparities=32, subpixel=2)(left, right)[:, 40:-10]
    err0 = np.median(np.abs(e0[e0 > 0] - true_d))
    err2 = np.median(np.abs(e2[e2 > 0] - true_d))
    assert err2 < err0 and err2 < 0.05, (err0, err2)


def test_left_right_check_rejects_inconsistent():
    dl = np.full((4, 20), 5.0, np.float32)
    dr = np.full((4, 20), 5.0, np.float32)
    dr[:, 5] = 9.0  # right view disagrees for left pixels x = 10
    out = left_right_check(dl, dr, 1.0)
    assert np.all(out[:, 10] == 0) and np.all(out[:, 11:] == 5)
    assert np.all(out[:, :5] == 0)  # x - d < 0: outside the right image


def test_edge_aware_fill_respects_edges():
    guide = np.zeros((60, 60), np.uint8)
    guide[:, 30:] = 200
    disp = np.where(np.arange(60)[None, :] < 30, 10.0, 20.0).astype(np.float32).repeat(60, 0)
    holes = disp.copy()
    holes[20:40, 24:36] = 0
    filled = edge_aware_fill(holes, guide, radius=8)
    assert np.all(filled[20:40, 24:36] > 0)
    assert np.abs(filled[20:40, 24:30] - 10).max() < 1.0 and np.abs(filled[20:40, 30:36] - 20).max() < 1.0


@pytest.fixture(scope="module")
def sim_pair():
    from depth3d.sim.stereo_sensor import StereoSensor, test_scene

    sensor = StereoSensor(hfov_deg=58.0)
    return sensor, sensor.render(test_scene(0))


def test_sim_pair_is_exact(sim_pair):
    """Ground truth: disparity = fx * B / depth, and the right image is the left shifted by it."""
    sensor, p = sim_pair
    assert p.left.shape == (480, 640) and p.depth.dtype == np.float32
    v = p.depth > 0
    assert np.allclose(p.disparity[v] * p.depth[v], sensor.intrinsics.fx * 0.05, rtol=1e-5)
    assert 0.5 <= p.depth[v].min() and p.depth[v].max() < 3.3


def test_sim_accuracy_under_1_percent(sim_pair):
    from depth3d.stereo.evaluate import error_table, matchable_mask
    from depth3d.stereo.pipeline import StereoPipeline
    from depth3d.stereo.matching import MatcherConfig

    sensor, p = sim_pair
    pipe = StereoPipeline(sensor.calibration(), MatcherConfig(num_disparities=128, subpixel=2), rectify=False)
    res = pipe(p.left, p.right)
    mask = matchable_mask(p.disparity, 128)
    rows = error_table(res.depth, p.depth, mask)
    assert len(rows) >= 5
    for r in rows:
        assert r["median_rel"] < 0.01, r
    valid = ((res.depth > 0) & mask).sum() / mask.sum()
    assert valid >= 0.9, valid
    assert len(res.points) == int((res.depth > 0).sum())
