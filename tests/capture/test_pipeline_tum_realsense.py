"""Streaming pipeline (fused kernels) against depth3d.geometry, TUM folders, librealsense post-processing
through a software device, and the no-camera message."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from depth3d.capture.pipeline import StreamPipeline
from depth3d.capture.source import open_source
from depth3d.core.frame import RGBDFrame
from depth3d.core.intrinsics import Intrinsics
from depth3d.core.pose import Pose


def _frame(registered: bool, seed: int = 0) -> RGBDFrame:
    rng = np.random.default_rng(seed)
    di = Intrinsics(96, 72, 80.0, 80.0, 47.5, 35.5, "brown_conrady", (0.05, -0.01, 0.0, 0.0, 0.0))
    depth = rng.integers(400, 4000, (72, 96)).astype(np.uint16)
    depth[rng.random((72, 96)) < 0.1] = 0
    if registered:
        return RGBDFrame(depth=depth, depth_intrinsics=di, color=rng.integers(0, 256, (72, 96, 3), dtype=np.uint8),
                         depth_scale=0.001)
    ci = Intrinsics(120, 90, 100.0, 100.0, 59.5, 44.5)
    return RGBDFrame(depth=depth, depth_intrinsics=di, color=rng.integers(0, 256, (90, 120, 3), dtype=np.uint8),
                     color_intrinsics=ci, depth_to_color=Pose.from_Rt(np.eye(3), [0.03, 0.0, 0.0]), depth_scale=0.001)


@pytest.mark.parametrize("registered", [True, False])
def test_stream_cloud_matches_geometry(registered):
    from depth3d.geometry import rgbd_to_cloud, voxel_downsample

    f = _frame(registered)
    sp = StreamPipeline(None, min_depth=0.5, max_depth=3.5)
    pts, cols = sp.points(f)
    ref = rgbd_to_cloud(f, min_depth=0.5, max_depth=3.5)
    np.testing.assert_allclose(pts, ref.points, rtol=1e-6, atol=1e-6)
    same = np.all(np.abs(cols - ref.colors) < 1e-6, axis=1)
    assert same.mean() > 0.995  # a few points sit exactly between two colour pixels
    vs = StreamPipeline(0.05)
    v = vs.cloud(f)
    rv = voxel_downsample(rgbd_to_cloud(f), 0.05)
    assert len(v.points) == len(rv.points)
    order_a = np.lexsort(np.floor(v.points / 0.05).T)
    order_b = np.lexsort(np.floor(rv.points / 0.05).T)
    np.testing.assert_allclose(v.points[order_a], rv.points[order_b], atol=1e-5)
    np.testing.assert_allclose(v.colors[order_a], rv.colors[order_b], atol=2e-2)


def test_stream_pipeline_without_colour_and_float_depth():
    f = _frame(True)
    f2 = RGBDFrame(depth=f.depth_m(), depth_intrinsics=f.depth_intrinsics)
    c = StreamPipeline(0.05).cloud(f2)
    assert c.colors is None and len(c.points) > 0
    with pytest.raises(ValueError):
        StreamPipeline(-1.0)


# --------------------------------------------------------------------------- TUM
def test_tum_write_read_round_trip(tmp_path):
    from depth3d.capture.tum import TUM_DEPTH_SCALE, TumSource, write_tum

    frames = [replace(_frame(True, seed=i), timestamp=1305031102.175304 + i / 30, index=i) for i in range(4)]
    assert write_tum(frames, tmp_path / "seq") == 4
    lines = (tmp_path / "seq" / "depth.txt").read_text().splitlines()
    assert lines[0].startswith("#") and len([ln for ln in lines if not ln.startswith("#")]) == 4
    with open_source(str(tmp_path / "seq")) as src:
        assert isinstance(src, TumSource) and src.frame_count == 4
        out = list(src)
    assert len(out) == 4
    for a, b in zip(frames, out):
        assert b.depth_scale == TUM_DEPTH_SCALE
        np.testing.assert_array_equal(b.depth, np.rint(a.depth_m().astype(np.float64) / TUM_DEPTH_SCALE)
                                      .astype(np.uint16))
        assert np.array_equal(b.color, a.color)
        assert b.depth_intrinsics == a.depth_intrinsics
        assert abs(b.timestamp - a.timestamp) < 1e-6


def test_tum_association_by_timestamp(tmp_path):
    import cv2

    from depth3d.capture.tum import associate

    d = [(1.00, "d1"), (1.033, "d2"), (1.066, "d3"), (2.0, "d4")]
    r = [(0.99, "r1"), (1.04, "r2"), (1.07, "r3")]
    pairs = associate(d, r, max_dt=0.02)
    assert [p[1][1] if p[1] else None for p in pairs] == ["r1", "r2", "r3", None]
    # a real-format folder: factor 5000, colour jpg-free PNGs, no intrinsics file -> TUM default
    folder = tmp_path / "rgbd_dataset_freiburg1_xyz"
    (folder / "rgb").mkdir(parents=True)
    (folder / "depth").mkdir()
    depth = np.full((480, 640), 5000, np.uint16)  # 1 m
    cv2.imwrite(str(folder / "depth" / "1.000.png"), depth)
    cv2.imwrite(str(folder / "rgb" / "0.990.png"), np.zeros((480, 640, 3), np.uint8))
    (folder / "depth.txt").write_text("# depth maps\n# file: 'x'\n# timestamp filename\n1.000 depth/1.000.png\n")
    (folder / "rgb.txt").write_text("# color images\n0.990 rgb/0.990.png\n")
    with open_source(str(folder)) as src:
        f = src.read()
        assert src.read() is None
    assert f.depth_intrinsics.fx == 517.3 and float(f.depth_m()[0, 0]) == pytest.approx(1.0)
    assert f.extras["rgb_timestamp"] == 0.99
    (folder / "depth.txt").write_text("1.0\n")
    with pytest.raises(ValueError, match="depth.txt:1"):
        with open_source(str(folder)):
            pass


# --------------------------------------------------------------------------- RealSense
def test_postprocessing_chain_runs_in_librealsense():
    from depth3d.capture.realsense import DepthPostProcessor, PostProcessing

    intr = Intrinsics(160, 120, 120.0, 120.0, 79.5, 59.5)
    depth = np.full((120, 160), 1500, np.uint16)
    depth[40:44, 60:100] = 0  # a hole
    depth[100:, :] = 9000  # beyond the threshold
    post = PostProcessing(threshold=(0.2, 4.0), decimation=2, spatial={"magnitude": 2, "smooth_alpha": 0.5},
                          temporal={"smooth_alpha": 0.4, "persistence": 3}, hole_filling=None)
    with DepthPostProcessor(intr, 0.001, post) as pp:
        for _ in range(3):
            out, oi = pp.process(depth)
    assert out.shape == (60, 80) and out.dtype == np.uint16
    assert oi.width == 80 and oi.fx == pytest.approx(60.0)
    assert np.all(out[52:, :] == 0)  # threshold removed the far rows
    plane = out[5:45].astype(int)
    assert (plane > 0).mean() > 0.9
    assert np.abs(plane[plane > 0] - 1500).max() < 40  # smoothing keeps the plane (disparity round trip)
    with pytest.raises(ValueError, match="unknown filter option"):
        PostProcessing(spatial={"bogus": 1}).build()
    filled = PostProcessing(hole_filling=1)
    with DepthPostProcessor(intr, 0.001, filled) as pp:
        out2, _ = pp.process(depth)
    assert np.count_nonzero(out2[40:44, 60:100] == 0) == 0


def test_no_camera_message_lists_alternatives():
    from depth3d.capture.realsense import NoCameraError, list_devices

    if list_devices():
        pytest.skip("a RealSense camera is connected")
    with pytest.raises(NoCameraError) as exc:
        with open_source("realsense"):
            pass
    msg = str(exc.value)
    for alt in (".db3", "TUM", "sim:", "stereo:"):
        assert alt in msg
    with pytest.raises(NoCameraError, match="serial 12345678"):
        with open_source("12345678"):
            pass


def test_realsense_frameset_processing_with_software_device():
    """The live source's per-frame path (drop counting, post-processing, rs.align, copies) on framesets
    that a software device + rs.syncer produce, since no camera is attached here."""
    import pyrealsense2 as rs

    from depth3d.capture.realsense import PostProcessing, RealSenseSource

    W, H = 96, 72
    di = Intrinsics(W, H, 80.0, 80.0, 47.5, 35.5)
    ci = Intrinsics(W, H, 85.0, 85.0, 47.5, 35.5)
    dev = rs.software_device()
    ds, cs = dev.add_sensor("Stereo Module"), dev.add_sensor("RGB Camera")

    def stream(kind, uid, intr, fmt, bpp):
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = kind, 0, uid, W, H, 30, bpp, fmt
        vs.intrinsics = intr.to_realsense()
        return vs

    dp = ds.add_video_stream(stream(rs.stream.depth, 0, di, rs.format.z16, 2))
    cp = cs.add_video_stream(stream(rs.stream.color, 1, ci, rs.format.rgb8, 3))
    ds.add_read_only_option(rs.option.depth_units, 0.001)
    ex = rs.extrinsics()
    ex.rotation, ex.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [0.0, 0.0, 0.0]
    dp.register_extrinsics_to(cp, ex)
    cp.register_extrinsics_to(dp, ex)
    dev.create_matcher(rs.matchers.dlr_c)
    sync = rs.syncer()
    ds.open(dp)
    cs.open(cp)
    ds.start(sync)
    cs.start(sync)
    src = RealSenseSource(align="color", post=PostProcessing(threshold=(0.1, 3.0)))
    src.setup_processing(0.001)
    frames = []
    try:
        for k, number in enumerate([1, 2, 3, 4, 7, 8]):  # 1 warms the syncer up; 5 and 6 are lost
            depth = np.full((H, W), 1000 + 10 * k, np.uint16)
            depth[:4] = 5000  # beyond the threshold
            color = np.full((H, W, 3), k, np.uint8)
            for sensor, prof, arr, bpp in ((ds, dp, depth, 2), (cs, cp, color, 3)):
                f = rs.software_video_frame()
                f.pixels, f.stride, f.bpp = arr, W * bpp, bpp
                f.timestamp, f.domain, f.frame_number = number * 33.3, rs.timestamp_domain.hardware_clock, number
                f.profile = prof.as_video_stream_profile()
                sensor.on_video_frame(f)
            while True:
                ok, fs = sync.try_wait_for_frames(1000)
                if not ok:
                    break
                if fs.get_depth_frame() and fs.get_color_frame():
                    frames.append(src.process_frameset(fs))
    finally:
        for s in (ds, cs):
            s.stop()
            s.close()
    assert [f.index for f in frames][-5:] == [2, 3, 4, 7, 8]
    assert src.dropped == 2
    f = frames[-1]
    assert f.registered and f.depth_intrinsics == ci  # depth re-rendered into the colour camera
    assert f.depth.dtype == np.uint16 and f.depth_scale == 0.001
    centre = f.depth[20:50, 20:70]
    assert np.all((centre == 0) | (np.abs(centre.astype(int) - 1050) <= 1))
    assert np.count_nonzero(centre) > 0.9 * centre.size
    assert not np.any(f.depth[:2] == 5000)  # threshold applied before alignment
    assert np.all(f.color == 5) and f.timestamp == pytest.approx(8 * 0.0333)


@pytest.mark.parametrize("registered", [True, False])
def test_fused_kernel_equals_two_stage_path(registered):
    f = _frame(registered, seed=3)
    sp = StreamPipeline(0.03)
    a = sp.cloud(f)
    b = sp.downsample(*sp.points(f))
    assert np.array_equal(a.points, b.points) and np.array_equal(a.colors, b.colors)


@pytest.mark.parametrize("registered", [True, False])
def test_fused_kernel_bands_over_threads_match_one_pass(registered):
    """The fused kernel splits frames of >= 128 rows into bands of rows over the torch threads and merges
    them in image order: the same voxels in the same order as one pass, sums equal to float rounding."""
    import torch

    rng = np.random.default_rng(7)
    di = Intrinsics(320, 256, 250.0, 250.0, 159.5, 127.5)
    # a smooth surface with noise, so voxels span several rows (and bands)
    v, u = np.mgrid[0:256, 0:320]
    depth = (1500 + 2 * u + v + rng.normal(0, 3, (256, 320))).astype(np.uint16)
    depth[rng.random(depth.shape) < 0.05] = 0
    f = RGBDFrame(depth=depth, depth_intrinsics=di, color=rng.integers(0, 256, (256, 320, 3), dtype=np.uint8),
                  depth_scale=0.001)
    if not registered:
        ci = Intrinsics(320, 256, 260.0, 260.0, 159.5, 127.5)
        f = replace(f, color_intrinsics=ci, depth_to_color=Pose.from_Rt(np.eye(3), [0.03, 0.0, 0.0]))
    sp = StreamPipeline(0.02)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = sp.cloud(f)
        torch.set_num_threads(4)  # 4 bands of 64 rows
        four = sp.cloud(f)
    finally:
        torch.set_num_threads(before)
    two_stage = sp.downsample(*sp.points(f))
    assert len(one.points) == len(four.points) == len(two_stage.points) > 1000
    np.testing.assert_array_equal(one.points, two_stage.points)
    np.testing.assert_allclose(four.points, one.points, rtol=0, atol=1e-6)
    np.testing.assert_allclose(four.colors, one.colors, rtol=0, atol=1e-6)
