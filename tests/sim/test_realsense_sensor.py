"""RealSense-like camera: quadratic noise law, quantisation, dropouts, shadows, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from depth3d.core.pose import Pose
from depth3d.sim.realsense_sensor import RealSenseModel, d435_intrinsics, random_blobs, stereo_shadow
from depth3d.sim.render import SceneRenderer


def _wall(z):
    m = trimesh.creation.box(extents=(40, 40, 0.01))
    m.apply_translation([0, 0, z + 0.005])
    return m


def test_rms_error_follows_quadratic_law():
    intr = d435_intrinsics(320, 240)
    model = RealSenseModel(hole_fraction=0, edge_dropout=0, shadow=False)  # noise + quantisation only
    zs = np.array([0.6, 1.0, 1.5, 2.0, 3.0, 4.0])
    rms = []
    for i, z in enumerate(zs):
        r = SceneRenderer([_wall(z)]).render(intr)
        raw, _ = model.apply(r, intr, np.random.default_rng(i))
        valid = raw > 0
        assert valid.mean() > 0.99
        err = raw[valid] * 0.001 - r.depth[valid]
        rms.append(np.sqrt(np.mean(err.astype(np.float64) ** 2)))
    rms = np.array(rms)
    stated = model.sigma_z(zs, intr.fx)
    # with the 1 mm quantisation in quadrature
    expected = np.sqrt(stated ** 2 + 0.001 ** 2 / 12)
    np.testing.assert_allclose(rms, expected, rtol=0.05)
    # least-squares fit of rms^2 - q^2 = a^2 z^4 gives the stated coefficient subpixel / (f B)
    a = np.sqrt(np.sum((rms ** 2 - 0.001 ** 2 / 12) * zs ** 4) / np.sum(zs ** 8))
    stated_a = model.subpixel / (intr.fx * model.baseline)
    assert abs(a / stated_a - 1) < 0.03
    # and the exponent is 2
    slope = np.polyfit(np.log(zs[1:]), np.log(rms[1:]), 1)[0]
    assert abs(slope - 2) < 0.1


def test_quantisation_range_and_ideal():
    intr = d435_intrinsics(64, 48)
    r = SceneRenderer([_wall(1.2345)]).render(intr)
    raw, color = RealSenseModel.ideal().apply(r, intr, np.random.default_rng(0))
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, np.rint(r.depth / 0.001).astype(np.uint16))
    far = SceneRenderer([_wall(12.0)]).render(intr)
    raw_far, _ = RealSenseModel.ideal().apply(far, intr, np.random.default_rng(0))
    assert np.all(raw_far == 0)  # beyond max_z
    near = SceneRenderer([_wall(0.1)]).render(intr)
    assert np.all(RealSenseModel.ideal().apply(near, intr, np.random.default_rng(0))[0] == 0)


def test_stereo_shadow_left_of_near_object():
    intr = d435_intrinsics(160, 120)
    box = trimesh.creation.box(extents=(0.3, 0.3, 0.3))
    box.apply_translation([0, 0, 1.0])
    r = SceneRenderer([_wall(3.0), box]).render(intr)
    sh = stereo_shadow(r.depth, intr.fx, 0.05)
    row = 60
    cols = np.where(r.instance[row] == 1)[0]
    left = cols.min()
    expected_width = intr.fx * 0.05 * (1 / 1.0 - 1 / 3.0)  # disparity difference, pixels
    band = np.where(sh[row])[0]
    assert len(band) > 0 and band.max() < left  # band just left of the object
    assert abs(len(band) - expected_width) <= 1.5
    assert not sh[row, cols].any()


def test_dropouts_holes_and_determinism():
    from depth3d.sim.scene import generate_room
    from depth3d.sim.trajectory import orbit

    scene = generate_room(2)
    intr = d435_intrinsics(160, 120)
    r = SceneRenderer(scene).render(intr, orbit(scene, 3)[1])
    m = RealSenseModel()
    a, ca = m.apply(r, intr, np.random.default_rng(5))
    b, cb = m.apply(r, intr, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ca, cb)
    invalid = (a == 0).mean()
    assert 0.01 < invalid < 0.3
    blobs = random_blobs((240, 320), 0.05, 20, np.random.default_rng(0))
    assert abs(blobs.mean() - 0.05) < 0.01
    assert np.abs(ca.astype(int) - r.color.astype(int)).mean() < 4


def test_bad_parameters():
    with pytest.raises(ValueError, match="baseline"):
        RealSenseModel(baseline=0)
    with pytest.raises(ValueError, match="min_z"):
        RealSenseModel(min_z=5, max_z=1)
