"""Structured light: patterns, Gray/phase decoding against the virtual rig's ground truth, triangulation,
capture folders, source and CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from depth3d.structured_light.decode import SLCalibration, decode_captures, triangulate_columns
from depth3d.structured_light.patterns import PatternSet, gray_decode_table, gray_encode


def test_gray_code_properties():
    v = np.arange(1024)
    g = gray_encode(v)
    assert np.all(np.bitwise_count(g[1:] ^ g[:-1]) == 1)  # neighbours differ by one bit
    np.testing.assert_array_equal(gray_decode_table(10)[g], v)


def test_patterns_decode_identity():
    """Projector images viewed by an ideal camera that sees the projector 1:1 decode to their own columns."""
    ps = PatternSet.default(300, 20, rows=True, period=8)
    images = {n: ps.image(n) for n in ps.names()}
    assert set(np.unique(images["col_gray_00"])) <= {0, 255}
    np.testing.assert_array_equal(images["col_gray_03_inv"], 255 - images["col_gray_03"])
    d = decode_captures(images, ps)
    cols = np.broadcast_to(np.arange(300), (20, 300))
    rows = np.broadcast_to(np.arange(20)[:, None], (20, 300))
    np.testing.assert_array_equal(d.column_gray, cols)
    np.testing.assert_allclose(d.column, cols, atol=0.02)
    np.testing.assert_array_equal(d.row_gray, rows)
    bin_ps = PatternSet.default(300, 20, code="binary", steps=0)
    d2 = decode_captures({n: bin_ps.image(n) for n in bin_ps.names()}, bin_ps)
    np.testing.assert_array_equal(d2.column, cols)


def test_decode_missing_and_mismatched():
    ps = PatternSet.default(64, 8)
    images = {n: ps.image(n) for n in ps.names()}
    del images["col_phase_2"]
    with pytest.raises(ValueError, match="missing capture"):
        decode_captures(images, ps)
    images["col_phase_2"] = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="capture 'col_phase_2' is"):
        decode_captures(images, ps)


@pytest.fixture(scope="module")
def rig_capture():
    from depth3d.sim.structured_light_sensor import StructuredLightRig, default_calibration
    from depth3d.sim.scene import demo_scene

    rig = StructuredLightRig(calibration=default_calibration(320, 240, 400, 300),
                             patterns=PatternSet.default(400, 300, period=16))
    out = rig.render(demo_scene(1, far=2.5, near=0.8), rng=np.random.default_rng(0))
    return rig, out


def test_sim_rig_decodes_to_the_right_columns(rig_capture):
    rig, out = rig_capture
    lit = out["lit"]
    assert 0.5 < lit.mean() < 0.99 and out["shadow"].sum() > 100  # there are projector shadows
    d = decode_captures(out["images"], rig.patterns)
    gt = out["gt_column"]
    gray_err = np.abs(d.column_gray - np.rint(gt))[lit]
    assert np.mean(gray_err <= 1) >= 0.95
    err = np.abs(d.column - gt)[lit]
    assert np.mean(err < 1.0) >= 0.95
    assert np.nanmedian(err) < 0.25  # sub-column with phase shift
    assert (d.valid & out["shadow"]).mean() < 0.01  # shadows are masked out


def test_triangulation_matches_ground_truth(rig_capture):
    rig, out = rig_capture
    # exact columns give exact depth
    z = triangulate_columns(out["gt_column"], rig.calibration)
    m = out["lit"]
    np.testing.assert_allclose(z[m], out["gt_depth"][m], rtol=1e-4)
    d = decode_captures(out["images"], rig.patterns)
    zd = triangulate_columns(d.column, rig.calibration)
    mm = m & (zd > 0)
    e = np.abs(zd - out["gt_depth"])[mm]
    assert np.median(e) < 0.01


def test_calibration_roundtrip(tmp_path):
    from depth3d.sim.structured_light_sensor import default_calibration

    c = default_calibration()
    c.save(tmp_path / "c.json")
    c2 = SLCalibration.load(tmp_path / "c.json")
    np.testing.assert_allclose(c2.R, c.R)
    assert c2.baseline == pytest.approx(0.15)
    (tmp_path / "bad.json").write_text('{"camera": {}}')
    with pytest.raises(ValueError, match="not a structured-light calibration"):
        SLCalibration.load(tmp_path / "bad.json")


def test_capture_folder_errors(tmp_path, rig_capture):
    from depth3d.structured_light.capture import read_capture, write_capture

    rig, out = rig_capture
    write_capture(tmp_path / "cap", out["images"], rig.patterns, rig.calibration)
    images, ps, cal = read_capture(tmp_path / "cap")
    assert len(images) == len(ps.names()) and cal is not None
    (tmp_path / "cap" / "col_gray_04_inv.png").unlink()
    with pytest.raises(ValueError, match="missing camera image col_gray_04_inv.png"):
        read_capture(tmp_path / "cap")
    import cv2
    cv2.imwrite(str(tmp_path / "cap" / "col_gray_04_inv.png"), np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="mismatched sizes"):
        read_capture(tmp_path / "cap")


def test_sl_source_folder_sequence(tmp_path, rig_capture):
    from depth3d.capture.source import open_source
    from depth3d.structured_light.capture import write_capture

    rig, out = rig_capture
    for name in ("a", "b"):
        write_capture(tmp_path / "seq" / name, out["images"], rig.patterns)
    rig.calibration.save(tmp_path / "seq" / "calibration.json")  # shared, in the parent folder
    with open_source(f"sl:{tmp_path / 'seq'}") as src:
        frames = list(src)
    assert len(frames) == 2 and frames[1].index == 1
    m = (frames[0].depth > 0) & out["lit"]
    assert m.mean() > 0.5 and np.median(np.abs(frames[0].depth - out["gt_depth"])[m]) < 0.01
    with pytest.raises(ValueError, match="unknown option"):
        open_source(f"sl:{tmp_path / 'seq'}?bogus=1")


def test_cli_generate_simulate_decode(tmp_path, run_cli):
    import cv2

    run_cli("sl", "generate", "-o", tmp_path / "pat", "--width", "1024", "--height", "768", check=True)
    ps = PatternSet.load(tmp_path / "pat" / "patterns.json")
    assert ps.columns.bits == 10 and len(list((tmp_path / "pat").glob("*.png"))) == 26
    img = cv2.imread(str(tmp_path / "pat" / "col_gray_00.png"), cv2.IMREAD_UNCHANGED)
    assert img.shape == (768, 1024) and img[0, 0] == 0 and img[0, 1023] == 255
    p = run_cli("sl", "generate", "-o", tmp_path / "p2", "--width", "2000", "--height", "10", "--bits", "10")
    assert p.returncode == 2 and "1024 columns" in p.stderr
    run_cli("sl", "simulate", "-o", tmp_path / "cap", check=True)
    run_cli("sl", "decode", tmp_path / "cap", "-o", tmp_path / "out", check=True)
    from depth3d.io.clouds import read_cloud
    from depth3d.io.depth_png import read_depth_png

    d = read_depth_png(tmp_path / "out" / "depth.png").astype(np.float32) / 1000
    gt = read_depth_png(tmp_path / "cap" / "gt_depth.png").astype(np.float32) / 1000
    m = (d > 0) & (gt > 0)
    assert m.mean() > 0.6 and np.median(np.abs(d - gt)[m]) < 0.01
    cloud = read_cloud(tmp_path / "out" / "cloud.ply")
    assert len(cloud.points) == int((d > 0).sum())
    p = run_cli("sl", "decode", tmp_path / "pat", "-o", tmp_path / "o2")
    assert p.returncode != 0 and "calibration" in p.stderr


def test_projector_calibration_from_simulated_board():
    """Board corners -> projector coordinates by local homographies -> cv2.stereoCalibrate recovers the rig."""
    from depth3d.sim.structured_light_sensor import StructuredLightRig, simulated_board_views
    from depth3d.structured_light.calibrate import board_object_points, calibrate_projector_camera

    rig = StructuredLightRig(patterns=PatternSet.default(800, 600, rows=True), power=300)
    obj = board_object_points(8, 6, 0.05)
    cams, prjs = simulated_board_views(rig, 5, 8, 6, 0.05)
    assert len(cams) == len(prjs) == 5  # every view usable: board found, every corner decoded
    res = calibrate_projector_camera(obj, cams, prjs, (640, 480), (800, 600))
    cal, gt = res.calibration, rig.calibration
    assert res.stereo_rms < 1.0
    assert cal.camera.fx == pytest.approx(gt.camera.fx, rel=0.03)
    assert cal.projector.fx == pytest.approx(gt.projector.fx, rel=0.03)
    assert np.linalg.norm(cal.t - gt.t) < 0.01
    angle = np.degrees(np.arccos(np.clip((np.trace(cal.R.T @ gt.R) - 1) / 2, -1, 1)))
    assert angle < 0.5


@pytest.mark.parametrize("damage, reason", [
    (lambda d: d["columns"].update(code="morse"), "columns.code must be 'gray' or 'binary'"),
    (lambda d: d["columns"].update(period=0), "columns.period must be a whole number >= 2"),
    (lambda d: d["columns"].update(bits=3), "columns.bits 3 code only 8 of 800 pixels"),
    (lambda d: d.pop("columns"), "missing columns"),
    (lambda d: d.update(width="wide"), "width must be a whole number >= 2"),
])
def test_sl_decode_refuses_a_wrong_patterns_json(tmp_path, run_cli, damage, reason):
    """A patterns.json that is not a pattern description fails with one line naming it and the keys."""
    from depth3d.structured_light.capture import write_capture

    ps = PatternSet.default(800, 600)
    images = {name: np.zeros((24, 32), np.uint8) for name in ps.names()}
    folder = write_capture(tmp_path / "cap", images, ps)
    d = json.loads((folder / "patterns.json").read_text())
    damage(d)
    (folder / "patterns.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match=re.escape(reason)):
        PatternSet.load(folder / "patterns.json")
    p = run_cli("sl", "decode", folder, "-o", tmp_path / "out")
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(lines) == 1, p.stderr
    assert str(folder / "patterns.json") in lines[0] and reason in lines[0]
    assert "expected keys width, height, columns{code, bits, steps, period}, rows" in lines[0]
