import numpy as np

from depth3d.core import PointCloud
from depth3d.geometry import estimate_normals, remove_radius_outliers, remove_statistical_outliers


def plane(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), np.full(n, 2.0)], 1).astype(np.float32)


def test_normals_face_the_camera():
    c = estimate_normals(PointCloud(plane()), radius=0.2)
    assert c.normals.shape == (2000, 3)
    assert np.allclose(c.normals[:, 2], -1.0, atol=1e-3)  # plane z = 2 seen from the origin: normal -z


def test_outlier_removal_drops_the_far_points():
    pts = plane()
    far = np.array([[5, 5, 9], [-4, 3, 7], [3, -6, 8]], np.float32)
    cloud = PointCloud(np.concatenate([pts, far]))
    kept, mask = remove_statistical_outliers(cloud, nb_neighbors=16, std_ratio=2.0)
    assert not mask[-3:].any() and mask[:-3].mean() > 0.95 and len(kept) == mask.sum()
    kept, mask = remove_radius_outliers(cloud, nb_points=4, radius=0.15)
    assert not mask[-3:].any() and mask[:-3].mean() > 0.99
    empty, m = remove_radius_outliers(PointCloud(np.zeros((0, 3), np.float32)))
    assert len(empty) == 0 and m.shape == (0,)
