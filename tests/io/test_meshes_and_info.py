"""Meshes and array files as clouds (view/convert/info/detect share io.clouds.read_cloud), and ``info`` on
every real file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from depth3d.io.clouds import read_cloud
from depth3d.io.meshes import read_mesh


def _box_mesh() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(2.0, 1.0, 0.5))


def test_modelnet_off_with_glued_first_line(tmp_path):
    m = _box_mesh()
    good = tmp_path / "good.off"
    good.write_text(trimesh.exchange.off.export_off(m))
    lines = good.read_text().splitlines()
    assert lines[0] == "OFF"
    broken = tmp_path / "chair_0001.off"  # ModelNet40: "OFF14963 19985 0"
    broken.write_text("\n".join([f"OFF{lines[1]}"] + lines[2:]) + "\n")
    for p in (good, broken):
        r = read_mesh(p)
        assert (len(r.vertices), len(r.faces)) == (8, 12)
        np.testing.assert_allclose(r.bounds, m.bounds)
    c = read_cloud(broken, mesh_points=5000)
    pts = np.asarray(c.points)
    assert pts.shape == (5000, 3) and c.normals is not None
    # every sample lies on the box surface
    on_face = np.isclose(np.abs(pts), np.array([1.0, 0.5, 0.25]), atol=1e-5).any(axis=1)
    assert on_face.all()
    (tmp_path / "bad.off").write_text("OFF\n3 1 0\n0 0 0\n")
    with pytest.raises(ValueError, match="bad.off"):
        read_mesh(tmp_path / "bad.off")


@pytest.mark.parametrize("suffix", [".obj", ".stl"])
def test_obj_stl(tmp_path, suffix):
    m = _box_mesh()
    p = tmp_path / f"box{suffix}"
    m.export(p)
    r = read_mesh(p)
    assert len(r.faces) == 12
    np.testing.assert_allclose(r.bounds, m.bounds, atol=1e-6)
    assert len(read_cloud(p, mesh_points=1000)) == 1000


def test_arrays_as_clouds(tmp_path):
    rng = np.random.default_rng(0)
    xyz = rng.uniform(-1, 1, (100, 3)).astype(np.float32)
    rgb255 = rng.integers(0, 256, (100, 3)).astype(np.float32)
    np.save(tmp_path / "scene0000_00_vert.npy", np.concatenate([xyz, rgb255], 1))  # ScanNet VoteNet layout
    c = read_cloud(tmp_path / "scene0000_00_vert.npy")
    np.testing.assert_allclose(c.points, xyz)
    np.testing.assert_allclose(c.colors, rgb255 / 255, atol=1e-6)
    np.save(tmp_path / "xyz.npy", xyz)
    assert read_cloud(tmp_path / "xyz.npy").colors is None
    np.savez(tmp_path / "000001_pc.npz", pc=np.concatenate([xyz, rgb255 / 255], 1))  # VoteNet SUN RGB-D
    np.testing.assert_allclose(read_cloud(tmp_path / "000001_pc.npz").points, xyz)
    np.save(tmp_path / "bad.npy", np.zeros((5, 2)))
    with pytest.raises(ValueError, match="bad.npy.*N, 3..6"):
        read_cloud(tmp_path / "bad.npy")


def test_detect_reads_meshes_and_arrays(tmp_path):
    from depth3d.detection.detect import load_scan

    p = tmp_path / "box.off"
    p.write_text(trimesh.exchange.off.export_off(_box_mesh()))
    pts, _ = load_scan(str(p))
    assert pts.shape[1] >= 3 and len(pts) > 1000
    np.save(tmp_path / "s_vert.npy", np.ones((50, 6), np.float32))
    pts, _ = load_scan(str(tmp_path / "s_vert.npy"))
    assert pts.shape == (50, 3)


def test_convert_and_info_on_mesh(tmp_path, run_cli):
    p = tmp_path / "box.stl"
    _box_mesh().export(p)
    proc = run_cli("convert", p, "--mesh-points", "2000", "-o", tmp_path / "box.ply")
    assert proc.returncode == 0, proc.stderr
    assert len(read_cloud(tmp_path / "box.ply")) == 2000
    proc = run_cli("convert", p, "--depth-scale", "0.001", "-o", tmp_path / "x.ply")
    assert proc.returncode == 2 and "depth images only" in proc.stderr
    proc = run_cli("info", "--json", p)
    d = json.loads(proc.stdout)[str(p)]
    assert d["kind"] == "triangle mesh" and d["faces"] == 12


def test_info_goes_on_after_bad_files(tmp_path, run_cli, repo_root):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "broken.yaml").write_text("a: [1, 2\n")
    (tmp_path / "junk.mat").write_bytes(b"not matlab at all" * 10)
    good = repo_root / "calib" / "stereo-chessboard.yaml"
    files = [tmp_path / "empty.jpg", tmp_path / "broken.yaml", good, tmp_path / "junk.mat", tmp_path / "nope.ply"]
    proc = run_cli("info", "--json", *files)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert list(out) == [str(f) for f in files]
    assert out[str(good)]["kind"] == "stereo calibration"
    for f in files:
        if f != good:
            assert str(f) in out[str(f)]["error"]


def test_info_on_every_real_file(shared_data, run_cli):
    """info on every file of the real data folder: exit 0 or 1 and one entry per file, never a traceback."""
    files = sorted(str(p) for p in shared_data.rglob("*") if p.is_file())
    proc = run_cli("info", "--json", *files, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert sorted(out) == files
    by_name = {k.rsplit("/", 1)[-1]: v for k, v in out.items()}
    if "camera_primesense.json" in by_name:
        assert by_name["camera_primesense.json"]["kind"] == "camera intrinsics"
    if "SUN_depth.png" in by_name:
        assert by_name["SUN_depth.png"]["encoding"].startswith("SUN RGB-D")
        assert by_name["SUN_depth.png"]["depth_m"][2] < 10.5
