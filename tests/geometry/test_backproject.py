import numpy as np
import pytest
import torch

from depth3d.core import Intrinsics, Pose, RGBDFrame
from depth3d.geometry import (align_frame, depth_to_points, points_to_depth, register_depth_to_color,
                              rgbd_to_cloud)
from depth3d.geometry import _native


def reference_points(depth_m, intr):
    """Plain float64 per-pixel back-projection, undistorting each pixel with scipy's root finder."""
    from scipy.optimize import fsolve

    k1, k2, p1, p2, k3 = intr.coeffs
    out = []
    for v in range(intr.height):
        for u in range(intr.width):
            z = float(depth_m[v, u])
            if not z > 0:
                continue
            xd = (u - intr.cx) / intr.fx
            yd = (v - intr.cy) / intr.fy

            def poly(p):
                x, y = p
                r2 = x * x + y * y
                rad = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 ** 3
                if intr.model == "inverse_brown_conrady":  # librealsense: tangential on the radial result
                    xr, yr = x * rad, y * rad
                    return [xr + 2 * p1 * xr * yr + p2 * (r2 + 2 * xr * xr),
                            yr + 2 * p2 * xr * yr + p1 * (r2 + 2 * yr * yr)]
                return [x * rad + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                        y * rad + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y]

            if intr.model == "none":
                x, y = xd, yd
            else:
                x, y = fsolve(lambda p: np.subtract(poly(p), [xd, yd]), [xd, yd], xtol=1e-12)
            out.append([x * z, y * z, z])
    return np.array(out)


@pytest.mark.parametrize("model", ["none", "brown_conrady", "inverse_brown_conrady"])
@pytest.mark.parametrize("seed", [0, 1])
def test_backprojection_matches_float64_reference(model, seed):
    rng = np.random.default_rng(seed)
    coeffs = (0.0,) * 5 if model == "none" else (rng.uniform(-0.2, 0.2), rng.uniform(-0.05, 0.05),
                                                 rng.uniform(-1e-3, 1e-3), rng.uniform(-1e-3, 1e-3), 0.01)
    intr = Intrinsics(40, 30, rng.uniform(25, 60), rng.uniform(25, 60), rng.uniform(15, 25), rng.uniform(10, 20),
                      model, coeffs)
    depth = rng.integers(300, 6000, (30, 40)).astype(np.uint16)
    depth[rng.random((30, 40)) < 0.2] = 0
    ref = reference_points(depth.astype(np.float64) * 0.001, intr)
    pts = depth_to_points(depth, intr, 0.001)
    assert pts.shape == ref.shape and pts.dtype == np.float32
    assert np.abs(pts.astype(np.float64) - ref).max() < 1e-6
    pts_t = depth_to_points(torch.from_numpy(depth), intr, 0.001)
    assert torch.equal(pts_t, torch.from_numpy(pts))


def test_backends_agree_and_masks():
    rng = np.random.default_rng(5)
    intr = Intrinsics(64, 48, 50, 50, 31.5, 23.5)
    depth = rng.uniform(0.2, 5, (48, 64)).astype(np.float32)
    depth[0, :5] = np.nan
    depth[1, :5] = 0
    pts, idx = depth_to_points(depth, intr, min_depth=0.5, max_depth=4.0, return_index=True)
    organized, valid = depth_to_points(depth, intr, min_depth=0.5, max_depth=4.0, organized=True)
    assert np.array_equal(np.flatnonzero(valid), idx)
    assert np.array_equal(organized.reshape(-1, 3)[idx], pts)
    assert np.all((pts[:, 2] > 0.5) & (pts[:, 2] < 4.0))
    assert _native.available(), _native.error()
    t_pts = depth_to_points(torch.from_numpy(depth), intr, min_depth=0.5, max_depth=4.0)
    assert torch.equal(t_pts, torch.from_numpy(pts))
    with pytest.raises(ValueError, match="64x48"):
        depth_to_points(np.zeros((10, 10), np.uint16), intr)
    with pytest.raises(ValueError, match="2-D"):
        depth_to_points(np.zeros((48, 64, 1), np.uint16), intr)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(6)
    intr = Intrinsics(64, 48, 50, 50, 31.5, 23.5, "brown_conrady", (0.1, -0.05, 0.001, 0, 0))
    depth = rng.integers(0, 5000, (48, 64)).astype(np.int32)
    cpu = depth_to_points(depth, intr, 0.001)
    gpu = depth_to_points(torch.from_numpy(depth).cuda(), intr, 0.001)
    assert torch.equal(gpu.cpu(), torch.from_numpy(cpu))


def test_points_to_depth_round_trip_and_registration():
    intr = Intrinsics(80, 60, 70, 70, 39.5, 29.5)
    depth = np.full((60, 80), 2000, np.uint16)
    depth[20:40, 30:50] = 1000  # a box in front of a wall
    pts = depth_to_points(depth, intr, 0.001)
    back = points_to_depth(pts, intr, depth_scale=0.001)
    assert np.array_equal(back, depth)
    # colour camera 5 cm to the right: registered depth is the same surfaces seen from there
    color_intr = Intrinsics(80, 60, 60, 60, 39.5, 29.5)
    T = Pose.from_Rt(np.eye(3), [-0.05, 0, 0])
    reg = register_depth_to_color(depth, intr, color_intr, T, 0.001)
    assert reg.dtype == np.uint16 and reg.shape == (60, 80)
    vals = set(np.unique(reg)) - {0}
    assert vals <= {1000, 2000}
    color = np.zeros((60, 80, 3), np.uint8)
    color[:, :40] = (255, 0, 0)
    frame = RGBDFrame(depth, intr, color, color_intr, T, 0.001)
    cloud = rgbd_to_cloud(frame)
    assert len(cloud) == 60 * 80 and cloud.colors.shape == (4800, 3)
    # a point that projects left of the colour image's centre column is red
    uv, _ = color_intr.project(T.transform_points(cloud.points.astype(np.float64)))
    left = np.rint(uv[:, 0]) < 39
    assert np.all(cloud.colors[left & (np.rint(uv[:, 0]) >= 0), 0] == 1.0)


def test_sunrgbd_round_trip(shared_data):
    """Real data: SUN RGB-D points -> depth image with K and Rtilt -> back-projection -> same points."""
    from depth3d.io.sunrgbd import CAM_TO_DEPTH, read_frame

    frame = read_frame(shared_data / "sunrgbd", 1, with_image=False)
    intr = frame.intrinsics()
    cam = frame.camera_points()  # upright -> camera frame with Rtilt
    depth = points_to_depth(cam, intr)  # float32 metres, z-buffer
    organized, valid = depth_to_points(depth, intr, organized=True)
    uv, _ = intr.project(cam.astype(np.float64))
    u, v = np.rint(uv[:, 0]).astype(int), np.rint(uv[:, 1]).astype(int)
    inside = (u >= 0) & (u < intr.width) & (v >= 0) & (v < intr.height)
    ok = np.zeros(len(cam), bool)
    ok[inside] = np.isclose(depth[v[inside], u[inside]], cam[inside, 2], atol=1e-6)
    # every point is recovered except the few that share a pixel with a nearer point
    assert ok.mean() > 0.99
    recovered_cam = organized[v[ok], u[ok]].astype(np.float64)
    recovered_upright = recovered_cam @ (frame.Rtilt @ CAM_TO_DEPTH).T
    err = np.linalg.norm(recovered_upright - frame.points[ok], axis=1)
    # the points sit within 0.003 px of pixel centres: error <= z * 0.003 / f (< 5e-5 m at 8 m)
    assert np.median(err) < 2e-5 and err.max() < 1e-4, (np.median(err), err.max())


def test_align_frame_to_color_and_to_depth():
    """align_frame puts both images in one camera; the coloured cloud is the same surfaces either way."""
    intr = Intrinsics(80, 60, 70, 70, 39.5, 29.5)
    depth = np.full((60, 80), 2000, np.uint16)
    depth[20:40, 30:50] = 1000
    color_intr = Intrinsics(96, 72, 80, 80, 47.5, 35.5)
    T = Pose.from_Rt(np.eye(3), [-0.05, 0, 0])
    color = np.zeros((72, 96, 3), np.uint8)
    color[:, :48] = (255, 0, 0)
    color[:, 48:] = (0, 0, 255)
    frame = RGBDFrame(depth, intr, color, color_intr, T, 0.001)
    to_c = align_frame(frame, "color")
    assert to_c.depth.shape == (72, 96) and to_c.color_intrinsics is None
    assert to_c.depth_intrinsics == color_intr and np.allclose(to_c.depth_to_color.matrix, np.eye(4))
    assert np.array_equal(to_c.depth, register_depth_to_color(depth, intr, color_intr, T, 0.001))
    # its points are the original points seen from the colour camera (to the re-rendering's pixel grid)
    pts_c = depth_to_points(to_c.depth, color_intr, 0.001)
    orig_c = T.transform_points(depth_to_points(depth, intr, 0.001).astype(np.float64))
    assert set(np.round(pts_c[:, 2], 3)) <= {1.0, 2.0} and abs(len(pts_c) / len(orig_c) - 1) < 0.5
    to_d = align_frame(frame, "depth")
    assert to_d.color.shape == (60, 80, 3) and to_d.color_intrinsics is None and to_d.depth is frame.depth
    # each depth pixel got the colour rgbd_to_cloud gives its point
    cloud = rgbd_to_cloud(frame)
    assert np.array_equal(to_d.color.reshape(-1, 3) / 255.0, cloud.colors.astype(np.float64))
    assert align_frame(to_d, "color") is to_d  # already registered
    with pytest.raises(ValueError):
        align_frame(RGBDFrame(depth, intr), "color")
