import json

import numpy as np
import pytest

from depth3d.cli import build_parser


def verbs():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


def test_every_verb_has_help(run_cli):
    names = verbs()
    assert {"view", "convert", "info", "demo"} <= set(names)
    for name in names:
        proc = run_cli(name, "--help")
        assert proc.returncode == 0 and "usage: depth3d " + name in proc.stdout, (name, proc.stderr)
    assert run_cli().returncode == 2
    assert run_cli("nonsense").returncode == 2


def test_convert_depth_to_cloud_and_voxels(tmp_path, run_cli, repo_root):
    sample = repo_root / "data" / "sample_rgbd"
    out = tmp_path / "c.ply"
    proc = run_cli("convert", sample / "depth.png", "--color", sample / "color.jpg", "-o", out, "--voxel", "0.05")
    assert proc.returncode == 0, proc.stderr
    from depth3d.io import read_cloud

    c = read_cloud(out)
    assert 1000 < len(c) < 280358 and c.colors is not None
    proc = run_cli("convert", sample / "depth.png", "-o", tmp_path / "v.npz", "--voxel", "0.1", "--voxels")
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "v.npz") as z:
        assert z["coords"].shape[1] == 3 and float(z["voxel_size"]) == pytest.approx(0.1)
    proc = run_cli("convert", sample / "depth.png", "-o", tmp_path / "v.ply", "--voxel", "0.1", "--voxels")
    assert proc.returncode == 0, proc.stderr
    info = run_cli("info", "--json", out, sample / "depth.png")
    d = json.loads(info.stdout)
    assert d[str(out)]["points"] == len(c)
    assert d[str(sample / "depth.png")]["kind"].startswith("depth image")
    ckpt = repo_root / "data" / "votenet_synthetic.pt"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    info = run_cli("info", "--json", ckpt, bad)
    assert info.returncode == 1
    d = json.loads(info.stdout)
    assert d[str(ckpt)]["kind"] == "VoteNet checkpoint" and len(d[str(ckpt)]["classes"]) == 10
    assert d[str(ckpt)]["parameters"] > 10000 and "bad.pt" in d[str(bad)]["error"]
    assert d[str(ckpt)]["metrics"]["test/mAP@0.25"] >= 0.6  # the shipped model meets the issue-9 goal


def test_convert_errors(tmp_path, run_cli, repo_root):
    import cv2

    cv2.imwrite(str(tmp_path / "d8.png"), np.zeros((48, 64), np.uint8))
    (tmp_path / "intrinsics.json").write_text(json.dumps({"width": 64, "height": 48, "fx": 50}))
    proc = run_cli("convert", tmp_path / "d8.png", "-o", tmp_path / "o.ply")
    assert proc.returncode == 1 and "d8.png: expected a 16-bit depth PNG" in proc.stderr
    cv2.imwrite(str(tmp_path / "d16.png"), np.ones((48, 64), np.uint16))
    proc = run_cli("convert", tmp_path / "d16.png", "-o", tmp_path / "o.ply")
    assert proc.returncode == 1 and "intrinsics.json" in proc.stderr and "missing key" in proc.stderr
    proc = run_cli("convert", tmp_path / "nothere.ply", "-o", tmp_path / "o.ply")
    assert proc.returncode == 1 and "nothere.ply" in proc.stderr
    proc = run_cli("convert", repo_root / "data" / "sample_rgbd" / "depth.png", "-o", tmp_path / "o.xyz")
    assert proc.returncode == 2 and "o.xyz" in proc.stderr


def test_demo_replays_detects_and_renders(tmp_path, run_cli):
    import json

    proc = run_cli("demo", "-o", tmp_path / "demo")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "demo"
    res = json.loads((out / "boxes.json").read_text())
    assert res["frame"] == "upright" and [f["index"] for f in res["frames"]] == [0, 5, 10, 15, 20, 25]
    for f in res["frames"]:
        R = np.asarray(f["camera_to_upright"])
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-6)
        for b in f["boxes"]:
            assert len(b["corners"]) == 8 and 0.5 <= b["score"] <= 1 and all(s > 0 for s in b["size"])
    # the shipped model finds furniture of the room in the bundled recording
    assert sum(len(f["boxes"]) for f in res["frames"]) >= 3
    assert len(list(out.glob("frame_*_cloud.ply"))) == 1 and len(list(out.glob("frame_*_boxes.ply"))) == 1
    assert (out / "demo_view.png").stat().st_size > 10000


def test_library_errors_are_one_line(run_cli, tmp_path):
    """A Depth3DError from the library (here DeviceError from depth3d.core.device, or InputError from a source
    spec) is one line on stderr with exit code 1, no traceback."""
    import torch

    p = run_cli("stream", "--source", "tof:demo?bogus=1", "--max-frames", "1", timeout=120)
    assert p.returncode == 1 and p.stderr.strip().splitlines() == [
        "depth3d stream: error: tof source: unknown option 'bogus' for the simulator; expected one of "
        "['flying', 'fps', 'frames', 'height', 'max_residual', 'min_amplitude', 'multipath', 'noise', 'seed', "
        "'width']"]
    if not torch.cuda.is_available():
        p = run_cli("tof", "decode", tmp_path, "-o", tmp_path / "out", "--device", "cuda", timeout=120)
        assert p.returncode == 1 and "Traceback" not in p.stderr
        assert p.stderr.startswith("depth3d tof: error: --device cuda requested but torch has no usable CUDA")

