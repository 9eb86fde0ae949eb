import os

import numpy as np
import pytest

from depth3d.core import PointCloud
from depth3d.io import read_cloud, read_depth_png, write_cloud, write_depth_png


@pytest.fixture
def cloud():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(500, 3)).astype(np.float32)
    cols = (rng.integers(0, 256, (500, 3)) / 255).astype(np.float32)
    nrm = rng.normal(size=(500, 3)).astype(np.float32)
    return PointCloud(pts, cols, nrm / np.linalg.norm(nrm, axis=1, keepdims=True))


@pytest.mark.parametrize("name", ["c.ply", "c.pcd", "c.npz"])
@pytest.mark.parametrize("binary", [True, False])
def test_cloud_round_trip(tmp_path, cloud, name, binary):
    path = tmp_path / name
    write_cloud(path, cloud, binary=binary)
    back = read_cloud(path)
    assert np.allclose(back.points, cloud.points, atol=1e-6)
    assert np.allclose(back.colors, cloud.colors, atol=1e-6)
    assert np.allclose(back.normals, cloud.normals, atol=1e-6)


@pytest.mark.parametrize("name", ["c.ply", "c.pcd"])
def test_open3d_reads_our_files_and_we_read_open3d(tmp_path, cloud, name):
    o3d = pytest.importorskip("open3d")
    write_cloud(tmp_path / name, cloud)
    pcd = o3d.t.io.read_point_cloud(str(tmp_path / name))
    assert np.allclose(pcd.point.positions.numpy(), cloud.points, atol=1e-6)
    other = tmp_path / ("o3d" + name)
    o3d.io.write_point_cloud(str(other), cloud.to_open3d())
    back = read_cloud(other)
    assert np.allclose(back.points, cloud.points, atol=1e-5)
    assert np.allclose(back.colors, cloud.colors, atol=1 / 255)


def test_truncated_and_bad_files(tmp_path, cloud):
    path = tmp_path / "t.ply"
    write_cloud(path, cloud)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ValueError, match=r"t\.ply.*truncated.*500 vertices"):
        read_cloud(path)
    pcd = tmp_path / "t.pcd"
    write_cloud(pcd, cloud)
    pcd.write_bytes(pcd.read_bytes()[:-7])
    with pytest.raises(ValueError, match=r"t\.pcd.*truncated"):
        read_cloud(pcd)
    junk = tmp_path / "j.ply"
    junk.write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match="j.ply"):
        read_cloud(junk)
    with pytest.raises(FileNotFoundError, match="nothere.ply"):
        read_cloud(tmp_path / "nothere.ply")
    with pytest.raises(ValueError, match="unsupported"):
        write_cloud(tmp_path / "x.xyz", cloud)


def test_depth_png(tmp_path):
    cv2 = pytest.importorskip("cv2")
    d = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    write_depth_png(tmp_path / "d.png", d)
    assert np.array_equal(read_depth_png(tmp_path / "d.png"), d)
    write_depth_png(tmp_path / "m.png", np.array([[1.5, np.nan]], np.float32), depth_scale=0.001)
    assert read_depth_png(tmp_path / "m.png").tolist() == [[1500, 0]]
    cv2.imwrite(str(tmp_path / "eight.png"), np.zeros((3, 4), np.uint8))
    with pytest.raises(ValueError, match=r"eight\.png: expected a 16-bit depth PNG, got uint8"):
        read_depth_png(tmp_path / "eight.png")
    with pytest.raises(ValueError, match="2-D|\\(H, W\\)"):
        write_depth_png(tmp_path / "bad.png", np.zeros((3, 4, 2), np.uint16))


def test_sunrgbd_reader(shared_data):
    from depth3d.io.sunrgbd import read_calib, read_frame

    f = read_frame(shared_data / "sunrgbd", "000001")
    assert f.points.shape[1] == 3 and len(f.points) > 200_000
    assert f.K[0, 0] == pytest.approx(529.5) and f.K[0, 2] == pytest.approx(365)
    assert np.allclose(f.Rtilt @ f.Rtilt.T, np.eye(3), atol=1e-5)
    assert {o.classname for o in f.objects} and all(o.size.shape == (3,) for o in f.objects)
    bad = shared_data.parent / "nonexistent_calib.txt"
    with pytest.raises(FileNotFoundError):
        read_calib(bad)
