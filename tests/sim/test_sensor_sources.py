"""The simulated sensor sources (depth3d.sim.stereo_source, tof_source, structured_light_source) through
open_source: the sensor packages decode, the simulator supplies raw data with ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from depth3d.capture.source import open_source


def test_stereo_sim_source_gt():
    with open_source("stereo:sim?frames=1&width=160&height=120&hfov=58") as src:
        f = src.read()
        assert src.read() is None
    gt = f.extras["gt_depth"]
    assert gt.shape == (120, 160) and (f.depth > 0).mean() > 0.3


def test_stereo_sim_source_room():
    """The simulator helper's rooms (depth3d.sim.scene.generate_room) through the stereo source."""
    with open_source("stereo:sim?frames=1&scene=room&seed=2&width=320&height=240&hfov=58") as src:
        f = src.read()
    gt = f.extras["gt_depth"]
    v = (f.depth > 0) & (gt > 0)
    assert v.mean() > 0.5
    assert np.median(np.abs(f.depth[v] - gt[v]) / gt[v]) < 0.03  # 320x240: fx = 289 px, depths 2-5 m


def test_sl_demo_source():
    with open_source("sl:demo?frames=1") as src:
        f = next(iter(src))
    assert f.sensor == "structured_light" and f.color is not None
    m = (f.depth > 0) & f.extras["lit"]
    assert m.sum() > 0.5 * f.depth.size
    assert np.median(np.abs(f.depth - f.extras["gt_depth"])[m]) < 0.01


def test_tof_demo_source():
    with open_source("tof:demo?frames=1&width=80&height=60") as src:
        assert type(src).__name__ == "SimToFSource" and src.frame_count == 1
        f = next(iter(src))
    m = f.depth > 0
    assert f.sensor == "tof" and f.extras["gt_range"].shape == (60, 80)
    assert m.mean() > 0.7 and np.median(np.abs(f.depth - f.extras["gt_depth"])[m]) < 0.03


def test_sim_kinds_are_served_by_the_simulator():
    """stereo:sim (and bare stereo:), tof:sim/demo, sl:sim/demo open depth3d.sim's sources, with the
    sensor packages' option checks."""
    from depth3d.sim.stereo_source import SimStereoSource
    from depth3d.sim.structured_light_source import SimSLSource
    from depth3d.sim.tof_source import SimToFSource

    assert isinstance(open_source("stereo:"), SimStereoSource)
    assert isinstance(open_source("stereo:sim?frames=2"), SimStereoSource)
    assert isinstance(open_source("tof:sim?frames=2"), SimToFSource)
    assert isinstance(open_source("sl:sim"), SimSLSource) and isinstance(open_source("sl:demo"), SimSLSource)
    with pytest.raises(ValueError, match="unknown option 'bogus' for the simulator"):
        open_source("tof:sim?bogus=1")
    with pytest.raises(ValueError, match="noise"):
        open_source("tof:demo?noise=1").start()
    with pytest.raises(ValueError, match="sl source: option frames='x' is not an integer"):
        open_source("sl:demo?frames=x")
