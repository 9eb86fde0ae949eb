import numpy as np
import pytest
import torch

from depth3d.core import PointCloud
from depth3d.geometry import voxel_downsample, voxel_mean, voxelize
from depth3d.geometry import voxels as vx


def numpy_reference(points, size, values):
    coords = np.floor(points.astype(np.float64) / size).astype(np.int64)
    uniq, inv = np.unique(coords, axis=0, return_inverse=True)
    means = np.stack([np.concatenate([points[inv.reshape(-1) == j], values[inv.reshape(-1) == j]], 1)
                      .astype(np.float64).mean(0) for j in range(len(uniq))])
    return uniq, means


def test_native_numpy_torch_agree(monkeypatch):
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (3000, 3)).astype(np.float32)
    cols = rng.random((3000, 3)).astype(np.float32)
    uniq, means = numpy_reference(pts, 0.25, cols)
    native = voxel_mean(pts, 0.25, cols)
    assert np.array_equal(native.coords, uniq)
    assert np.allclose(native.points, means[:, :3], atol=1e-6) and np.allclose(native.values, means[:, 3:], atol=1e-6)
    assert native.counts.sum() == 3000
    assert np.array_equal(native.coords[native.point_to_voxel], np.floor(pts / 0.25).astype(np.int64))
    tv = voxel_mean(torch.from_numpy(pts), 0.25, torch.from_numpy(cols))
    assert np.array_equal(tv.coords.numpy(), native.coords)
    assert np.allclose(tv.points.numpy(), native.points, atol=1e-6)
    monkeypatch.setattr(vx._native, "load", lambda: None)  # the pure-numpy path
    plain = voxel_mean(pts, 0.25, cols)
    assert np.array_equal(plain.coords, native.coords) and np.allclose(plain.points, native.points, atol=1e-6)
    assert np.array_equal(plain.point_to_voxel, native.point_to_voxel)


def test_downsample_grid_and_open3d():
    rng = np.random.default_rng(1)
    centres = (np.stack(np.meshgrid(*[np.arange(10)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5) * 0.1
    pts = (np.repeat(centres, 5, axis=0) + rng.uniform(-0.04, 0.04, (5000, 3))).astype(np.float32)
    nrm = np.tile([[0, 0, 1.0]], (5000, 1)).astype(np.float32)
    down = voxel_downsample(PointCloud(pts, None, nrm), 0.1)
    assert len(down) == 1000 and np.allclose(np.linalg.norm(down.normals, axis=1), 1)
    grid = voxelize(pts, 0.1)
    dense, lo = grid.dense()
    assert dense.shape == (10, 10, 10) and dense.all() and np.array_equal(lo, [0, 0, 0])
    o3d_grid = grid.to_open3d()
    assert len(o3d_grid.get_voxels()) == 1000
    with pytest.raises(ValueError, match="voxel_size"):
        voxel_downsample(pts, 0)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        voxel_mean(pts[:, :2], 0.1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_voxels_match_cpu():
    pts = np.random.default_rng(2).uniform(-2, 2, (20000, 3)).astype(np.float32)
    cpu = voxel_mean(pts, 0.1)
    gpu = voxel_mean(torch.from_numpy(pts).cuda(), 0.1)
    assert np.array_equal(gpu.coords.cpu().numpy(), cpu.coords)
    assert np.allclose(gpu.points.cpu().numpy(), cpu.points, atol=1e-6)
