import json

import numpy as np
import pytest

from depth3d.core import Intrinsics, PointCloud, Pose, RGBDFrame


def rand_intr(rng, model="brown_conrady"):
    coeffs = (0.0,) * 5
    if model != "none":
        coeffs = (rng.uniform(-0.2, 0.2), rng.uniform(-0.1, 0.1), rng.uniform(-0.002, 0.002),
                  rng.uniform(-0.002, 0.002), rng.uniform(-0.02, 0.02))
    return Intrinsics(64, 48, rng.uniform(40, 80), rng.uniform(40, 80), rng.uniform(28, 36), rng.uniform(20, 28),
                      model, coeffs)


@pytest.mark.parametrize("model", ["brown_conrady", "inverse_brown_conrady"])
def test_distortion_round_trip(model):
    rng = np.random.default_rng(1)
    intr = rand_intr(rng, model)
    u, v = np.meshgrid(np.arange(64.0), np.arange(48.0))
    x, y = intr.pixel_to_normalized(u, v)
    u2, v2 = intr.normalized_to_pixel(x, y)
    assert np.abs(u2 - u).max() < 1e-9 and np.abs(v2 - v).max() < 1e-9


def test_matches_opencv_projection():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(2)
    intr = rand_intr(rng)
    pts = rng.uniform([-1, -1, 1], [1, 1, 4], (200, 3))
    uv, _ = intr.project(pts)
    K, dist = intr.to_opencv()
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), K, dist)
    assert np.abs(uv - ref.reshape(-1, 2)).max() < 1e-6


def test_inverse_brown_conrady_matches_librealsense():
    rs = pytest.importorskip("pyrealsense2")
    rng = np.random.default_rng(3)
    intr = rand_intr(rng, "inverse_brown_conrady")
    ri = intr.to_realsense()
    for u, v in [(3.0, 5.0), (60.0, 40.0), (32.0, 24.0)]:
        ref = rs.rs2_deproject_pixel_to_point(ri, [u, v], 2.0)
        x, y = intr.pixel_to_normalized(u, v)
        assert np.allclose([2.0 * x, 2.0 * y, 2.0], ref, atol=1e-4)  # librealsense: 10 float32 iterations
        p = [2.0 * float(x), 2.0 * float(y), 2.0]
        assert np.allclose(rs.rs2_project_point_to_pixel(ri, p), [u, v], atol=1e-3)
    back = Intrinsics.from_realsense(ri)  # librealsense stores float32
    assert back.model == intr.model and (back.width, back.height) == (intr.width, intr.height)
    assert np.allclose([back.fx, back.fy, back.cx, back.cy, *back.coeffs],
                       [intr.fx, intr.fy, intr.cx, intr.cy, *intr.coeffs], rtol=1e-6, atol=1e-7)


def test_conversions(tmp_path):
    pytest.importorskip("open3d")
    rng = np.random.default_rng(4)
    intr = rand_intr(rng)
    K, dist = intr.to_opencv()
    assert Intrinsics.from_opencv(K, dist, 64, 48) == intr
    plain = intr.undistorted()
    assert Intrinsics.from_open3d(plain.to_open3d()) == plain
    for name in ("i.json", "i.yaml"):
        intr.save(tmp_path / name)
        assert Intrinsics.load(tmp_path / name) == intr
    assert intr.scaled(2.0).width == 128


def test_bad_intrinsics_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"width": 64, "height": 48, "fx": 50.0, "cx": 30.0, "cy": 20.0}))
    with pytest.raises(ValueError, match=r"bad.json.*missing key 'fy'"):
        Intrinsics.load(p)
    with pytest.raises(ValueError, match="model"):
        Intrinsics(10, 10, 1, 1, 5, 5, model="fisheye")


def test_pose_and_frame_checks():
    R = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    T = Pose.from_Rt(R, [1, 2, 3])
    p = np.array([[1.0, 0, 0]])
    assert np.allclose(T.inverse().transform_points(T.transform_points(p)), p)
    with pytest.raises(ValueError, match="rotation"):
        Pose(np.diag([1, 1, -1, 1.0]))
    intr = Intrinsics(4, 3, 2, 2, 2, 1)
    with pytest.raises(ValueError, match="4x3"):
        RGBDFrame(np.zeros((4, 4), np.uint16), intr)
    with pytest.raises(ValueError, match="uint16"):
        RGBDFrame(np.zeros((3, 4), np.uint8), intr)
    f = RGBDFrame(np.full((3, 4), 1500, np.uint16), intr, depth_scale=0.001)
    assert np.allclose(f.depth_m(), 1.5)


def test_cloud_conversions_share_memory():
    torch = pytest.importorskip("torch")
    o3d = pytest.importorskip("open3d")
    pts = np.random.default_rng(0).random((100, 3), dtype=np.float32)
    c = PointCloud(pts, pts.copy())
    t = c.to_torch()
    assert t.points.data_ptr() == pts.ctypes.data  # numpy -> torch CPU: no copy
    ot = c.to_open3d_tensor()
    pts[0, 0] = 42.0
    assert ot.point.positions[0, 0].item() == 42.0  # numpy -> Open3D tensor: no copy
    back = PointCloud.from_open3d(c.to_open3d())
    assert np.allclose(back.points, pts) and np.allclose(back.colors, c.colors)
    assert isinstance(t.to_numpy().points, np.ndarray)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        PointCloud(np.zeros((5, 2)))
    assert isinstance(PointCloud.from_open3d(ot).points, np.ndarray)
    assert torch.equal(t.points, torch.from_numpy(pts))
    assert o3d is not None


# ------------------------------------------------------------------ other tools' intrinsics files
def test_open3d_intrinsics_json_real(shared_data):
    """Open3D's PinholeCameraIntrinsic JSON (column-major intrinsic_matrix) as Open3D itself reads it."""
    import open3d as o3d

    path = shared_data / "real" / "rgbd-frames" / "camera_primesense.json"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    ours = Intrinsics.load(path)
    theirs = o3d.io.read_pinhole_camera_intrinsic(str(path))
    assert (ours.width, ours.height) == (theirs.width, theirs.height) == (640, 480)
    np.testing.assert_allclose(ours.K, np.asarray(theirs.intrinsic_matrix))
    assert (ours.cx, ours.cy) == (319.5, 239.5)


def test_opencv_filestorage_and_realsense_intrinsics(tmp_path):
    import cv2

    K = np.array([[600.0, 0, 320.5], [0, 601.0, 239.5], [0, 0, 1]])
    dist = np.array([[0.1, -0.2, 0.001, 0.002, 0.05]])
    for name in ("cam.yaml", "cam.xml"):
        fs = cv2.FileStorage(str(tmp_path / name), cv2.FILE_STORAGE_WRITE)
        fs.write("image_width", 640)
        fs.write("image_height", 480)
        fs.write("camera_matrix", K)
        fs.write("distortion_coefficients", dist)
        fs.release()
        intr = Intrinsics.load(tmp_path / name)
        np.testing.assert_allclose(intr.K, K)
        np.testing.assert_allclose(intr.coeffs, dist.ravel())
        assert intr.model == "brown_conrady" and intr.size == (640, 480)
    rs = {"width": 640, "height": 480, "ppx": 321.0, "ppy": 241.0, "fx": 610.0, "fy": 611.0,
          "model": "Inverse Brown Conrady", "coeffs": [0.1, 0, 0, 0, 0]}
    (tmp_path / "rs.json").write_text(json.dumps(rs))
    intr = Intrinsics.load(tmp_path / "rs.json")
    assert (intr.cx, intr.cy, intr.model) == (321.0, 241.0, "inverse_brown_conrady")
    rs["model"] = 4  # rs2_distortion number: RS2_DISTORTION_BROWN_CONRADY
    (tmp_path / "rs.json").write_text(json.dumps(rs))
    assert Intrinsics.load(tmp_path / "rs.json").model == "brown_conrady"


def test_stereo_calibration_is_not_one_camera(repo_root):
    with pytest.raises(ValueError, match="stereo calibration"):
        Intrinsics.load(repo_root / "calib" / "stereo-chessboard.yaml")
