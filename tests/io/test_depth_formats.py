"""Depth encodings of other tools (TUM, SUN RGB-D, NYU) and colour registration, checked on real files
against the readers of the tools that wrote them (Open3D, librealsense)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from depth3d.core.intrinsics import Intrinsics
from depth3d.geometry import rgbd_to_cloud
from depth3d.io.clouds import read_cloud
from depth3d.io.depth_png import check_depth_scale, read_depth, sunrgbd_decode, write_depth_png
from depth3d.io.rgbd import read_rgbd


def _frames(shared_data):
    d = shared_data / "real" / "rgbd-frames"
    if not d.is_dir():
        pytest.skip(f"{d} absent")
    return d


def test_sunrgbd_rotation_round_trip(tmp_path):
    mm = np.array([[0, 500, 2723], [8191, 8192, 9870]], np.uint16)
    rotated = ((mm << 3) | (mm >> 13)).astype(np.uint16)  # how SUN RGB-D stores millimetres
    np.testing.assert_array_equal(sunrgbd_decode(rotated), mm)


def test_implausible_depth_scale_names_both_habits():
    with pytest.raises(ValueError, match="librealsense.*Open3D.*units per metre") as exc:
        check_depth_scale(1000.0)
    assert "0.001" in str(exc.value)
    assert check_depth_scale(1 / 5000) == pytest.approx(0.0002)


def test_tum_matches_open3d(shared_data):
    """TUM's 5000 units per metre: same cloud as Open3D's tensor create_from_depth_image(depth_scale=5000)."""
    import open3d as o3d

    d = _frames(shared_data)
    intr = Intrinsics(640, 480, 525.0, 525.0, 319.5, 239.5)
    depth, scale, fmt = read_depth(d / "TUM_depth.png", "tum")
    assert fmt == "tum" and scale == pytest.approx(1 / 5000)
    from depth3d.core.frame import RGBDFrame

    ours = np.asarray(rgbd_to_cloud(RGBDFrame(depth, intr, depth_scale=scale)).points, np.float64)
    t = o3d.t.geometry.PointCloud.create_from_depth_image(
        o3d.t.io.read_image(str(d / "TUM_depth.png")), o3d.core.Tensor(intr.K), depth_scale=5000.0,
        depth_max=100.0)
    theirs = t.point.positions.numpy().astype(np.float64)
    assert ours.shape == theirs.shape
    # Open3D's kernel writes points in its own (parallel) order: compare as sorted sets
    ours_s, theirs_s = (a[np.lexsort(np.round(a, 5).T[::-1])] for a in (ours, theirs))
    err = np.abs(ours_s - theirs_s).max()
    print(f"TUM: {len(ours)} points, max |ours - Open3D| = {err:.2e} m")
    assert err < 1e-5
    assert 0.5 < np.median(ours[:, 2]) < 5.0  # a desk scene, not 12 m as millimetres would give


def test_sunrgbd_matches_open3d(shared_data):
    """SUN RGB-D's bit-rotated PNG is detected and decoded as Open3D's create_from_sun_format does (Open3D
    also drops depths beyond 7 m; compared where both have depth)."""
    d = _frames(shared_data)
    code = ("import open3d as o3d, numpy as np, sys; c = o3d.io.read_image(sys.argv[1]); "
            "r = o3d.geometry.RGBDImage.create_from_sun_format(c, o3d.io.read_image(sys.argv[2]), "
            "convert_rgb_to_intensity=False); np.save(sys.argv[3], np.asarray(r.depth))")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/sun.npy"
        proc = subprocess.run([sys.executable, "-c", code, str(d / "SUN_color.jpg"), str(d / "SUN_depth.png"), out],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            pytest.skip(f"Open3D's create_from_sun_format failed here (rc {proc.returncode}): {proc.stderr[-300:]}")
        theirs = np.load(out).astype(np.float64)
    depth, scale, fmt = read_depth(d / "SUN_depth.png")  # auto-detected
    assert fmt == "sunrgbd"
    ours = depth.astype(np.float64) * scale
    both = (ours > 0) & (theirs > 0)
    assert np.array_equal(theirs > 0, both)  # every Open3D depth is one of ours
    assert np.all(ours[(ours > 0) & ~both] > 7.0 - 1e-6)  # the rest is what Open3D truncates
    err = np.abs(ours[both] - theirs[both]).max()
    print(f"SUN: {both.sum()} common pixels, max |ours - Open3D| = {err:.2e} m; ours also keeps "
          f"{((ours > 0) & ~both).sum()} pixels beyond 7 m")
    assert err < 1e-6
    assert ours.max() < 10.5


def test_nyu_pgm_matches_open3d(shared_data):
    import open3d as o3d

    d = _frames(shared_data)
    depth, scale, fmt = read_depth(d / "NYU_depth.pgm")
    assert fmt == "nyu" and depth.dtype == np.float32 and scale == 1.0
    raw = np.frombuffer((d / "NYU_depth.pgm").read_bytes(), ">u2", count=640 * 480, offset=17).reshape(480, 640)
    color = o3d.geometry.Image(np.zeros((480, 640, 3), np.uint8))
    theirs = np.asarray(o3d.geometry.RGBDImage.create_from_nyu_format(
        color, o3d.geometry.Image(raw.astype("<u2")), convert_rgb_to_intensity=False).depth)
    assert np.array_equal(theirs > 0, depth > 0)
    err = np.abs(theirs - depth).max()
    print(f"NYU: {(depth > 0).sum()} pixels, max |ours - Open3D| = {err * 1000:.2f} mm")
    assert err < 1e-3  # Open3D rounds to millimetres


def test_bad_depth_inputs(tmp_path, run_cli):
    (tmp_path / "x.pgm").write_bytes(b"P5 4 4 255\n" + bytes(16))
    with pytest.raises(ValueError, match="16-bit binary PGM"):
        read_depth(tmp_path / "x.pgm")
    write_depth_png(tmp_path / "d.png", np.full((4, 4), 1000, np.uint16))
    Intrinsics(4, 4, 3.0, 3.0, 1.5, 1.5).save(tmp_path / "intrinsics.json")
    proc = run_cli("convert", tmp_path / "d.png", "--depth-scale", "1000", "-o", tmp_path / "o.ply")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "Open3D" in proc.stderr and "librealsense" in proc.stderr
    proc = run_cli("convert", tmp_path / "d.png", "--depth-format", "tum", "--depth-scale", "0.001",
                   "-o", tmp_path / "o.ply")
    assert proc.returncode == 1 and "contradicts" in proc.stderr


# ------------------------------------------------------------------ colour registration on a real D435 frame
def test_convert_colour_matches_librealsense_pointcloud(shared_data, tmp_path, run_cli):
    """convert on play --export output colours each point as rs.pointcloud (map_to colour) does."""
    rs = pytest.importorskip("pyrealsense2")
    bag = shared_data / "real" / "realsense-d435" / "single_depth_color_640x480.bag"
    if not bag.is_file():
        pytest.skip(f"{bag} absent")
    out = tmp_path / "exp"
    proc = run_cli("play", bag, "--export", out, "--no-clouds")
    assert proc.returncode == 0, proc.stderr
    # librealsense's reference: depth frame and colour frame as playback delivers them first
    cfg = rs.config()
    cfg.enable_device_from_file(str(bag), repeat_playback=False)
    pipe = rs.pipeline()
    pipe.start(cfg).get_device().as_playback().set_real_time(False)
    depth_f = color_f = None
    try:
        for _ in range(10):
            fs = pipe.wait_for_frames(5000)
            depth_f = depth_f or (fs.get_depth_frame() or None)
            color_f = color_f or (fs.get_color_frame() or None)
            if depth_f and color_f:
                break
        dimg = np.asanyarray(depth_f.get_data()).copy()
        cimg = np.asanyarray(color_f.get_data()).copy()
        pc = rs.pointcloud()
        pc.map_to(color_f)
        pts = pc.calculate(depth_f)
        verts = np.asanyarray(pts.get_vertices()).view(np.float32).reshape(-1, 3).copy()
        tex = np.asanyarray(pts.get_texture_coordinates()).view(np.float32).reshape(-1, 2).copy()
    finally:
        pipe.stop()
    from depth3d.io.depth_png import read_depth_png

    names = sorted((out / "depth").glob("*.png"))
    name = next(p.name for p in names if np.array_equal(read_depth_png(p), dimg))
    depth_png, color_png = out / "depth" / name, out / "color" / name
    assert np.array_equal(read_cloud_colors_source(color_png), cimg)
    proc = run_cli("convert", depth_png, "--color", color_png, "-o", tmp_path / "c.ply")
    assert proc.returncode == 0, proc.stderr
    assert "assumed registered" not in proc.stderr
    cloud = read_cloud(tmp_path / "c.ply")
    valid = dimg.ravel() > 0
    rs_ok = verts[:, 2] > 0  # librealsense zeroes some vertices; compare where it keeps them
    sel = rs_ok[valid]
    pts_ours = np.asarray(cloud.points)[sel]
    assert np.abs(pts_ours - verts[rs_ok]).max() < 1e-5
    h, w = cimg.shape[:2]
    u = np.rint(tex[rs_ok, 0] * w).astype(int)
    v = np.rint(tex[rs_ok, 1] * h).astype(int)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    ref = cimg[v[inside], u[inside]].astype(int)
    ours = np.rint(np.asarray(cloud.colors)[sel][inside] * 255).astype(int)
    same = np.mean(np.all(ref == ours, axis=1))
    mad = np.abs(ref - ours).mean()
    print(f"D435: {inside.sum()} points inside the colour view: {same * 100:.2f}% identical colour, "
          f"mean abs diff {mad:.3f} / 255")
    assert same > 0.999 and mad < 0.05
    # without the colour camera, convert says it assumes registration (and the colours are then wrong)
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "d.png").write_bytes(depth_png.read_bytes())
    (lone / "intrinsics.json").write_bytes((out / "intrinsics.json").read_bytes())
    proc = run_cli("convert", lone / "d.png", "--color", color_png, "-o", tmp_path / "r.ply")
    assert proc.returncode == 0 and "assumed registered" in proc.stderr


def read_cloud_colors_source(path):
    from depth3d.io.depth_png import read_color

    return read_color(path)


def test_read_rgbd_finds_export_files(tmp_path):
    depth = np.full((4, 6), 1000, np.uint16)
    (tmp_path / "depth").mkdir()
    write_depth_png(tmp_path / "depth" / "000000.png", depth)
    Intrinsics(6, 4, 5.0, 5.0, 2.5, 1.5).save(tmp_path / "intrinsics.json")
    Intrinsics(6, 4, 6.0, 6.0, 2.5, 1.5).save(tmp_path / "color_intrinsics.json")
    import json

    T = np.eye(4)
    T[0, 3] = 0.015
    (tmp_path / "meta.json").write_text(json.dumps({"depth_scale": 0.0001, "depth_to_color": T.tolist()}))
    from depth3d.io.depth_png import write_color

    write_color(tmp_path / "c.png", np.zeros((4, 6, 3), np.uint8))
    frame, notes = read_rgbd(tmp_path / "depth" / "000000.png", color=tmp_path / "c.png")
    assert frame.depth_scale == pytest.approx(0.0001) and not frame.registered
    np.testing.assert_allclose(frame.depth_to_color.matrix, T)
    assert frame.color_intrinsics.fx == 6.0
