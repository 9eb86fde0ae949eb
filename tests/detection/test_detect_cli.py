"""``depth3d detect`` end to end: real files in, boxes JSON and PLY out; bad scans give clear results."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from depth3d.detection.detect import Detector, camera_to_upright, load_scan
from depth3d.models.votenet import VoteNet, save_checkpoint, sunrgbd_config, tiny_config

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "votenet_synthetic.pt"


@pytest.fixture(scope="module")
def random_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    cfg = sunrgbd_config()
    net = VoteNet.from_dataset_config(cfg, input_feature_dim=1, **tiny_config())
    p = tmp_path_factory.mktemp("ckpt") / "random.pt"
    save_checkpoint(p, net, cfg, {"num_points": 4096})
    return p


def _scan(tmp_path, pc, name="scan"):
    p = tmp_path / f"{name}_pc.npz"
    np.savez(p, pc=pc)
    return p


def test_empty_nan_and_too_few_points(tmp_path, random_ckpt, run_cli):
    det = Detector(random_ckpt)
    r = det.detect(np.zeros((0, 3), np.float32))
    assert r.boxes == [] and "no points" in r.message
    r = det.detect(np.full((5000, 3), np.nan, np.float32))
    assert r.boxes == [] and "NaN" in r.message
    r = det.detect(np.random.rand(100, 3).astype(np.float32))
    assert r.boxes == [] and "100 valid points" in r.message and "512" in r.message
    pts = np.random.rand(6000, 3).astype(np.float32) * 3
    pts[::7] = np.nan
    r = det.detect(pts)
    assert "dropped" in r.message and isinstance(r.boxes, list)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        det.detect(np.zeros((10,), np.float32))
    # through the CLI: exit 0, an empty boxes file and a message naming the scan
    out = tmp_path / "out"
    for name, pc in (("empty", np.zeros((0, 6), np.float32)), ("nan", np.full((3000, 6), np.nan, np.float32)),
                     ("few", np.random.rand(50, 6).astype(np.float32))):
        p = _scan(tmp_path, pc, name)
        proc = run_cli("detect", p, "-o", out, "--checkpoint", random_ckpt)
        assert proc.returncode == 0, proc.stderr
        assert "nothing to detect" in proc.stderr and name in proc.stderr
        assert json.loads((out / f"{name}_pc_boxes.json").read_text())["boxes"] == []
        assert (out / f"{name}_pc_boxes.ply").read_text().startswith("ply")


def test_cli_usage_errors(tmp_path, run_cli, random_ckpt):
    proc = run_cli("detect", tmp_path / "missing.npz", "-o", tmp_path, "--checkpoint", random_ckpt)
    assert proc.returncode == 1 and "missing.npz" in proc.stderr
    proc = run_cli("detect", tmp_path / "x.npz", "-o", tmp_path, "--checkpoint", tmp_path / "nope.pt")
    assert proc.returncode == 1 and "nope.pt" in proc.stderr
    proc = run_cli("detect", "-o", tmp_path)
    assert proc.returncode == 2


def test_camera_to_upright():
    # a point 2 m straight ahead of a level camera is at y = 2 upright; pitched 90 deg down it is below
    p = np.array([[0.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
    assert np.allclose(camera_to_upright(p), [[0, 2, 0], [0, 0, -1]])
    assert np.allclose(camera_to_upright(p, 90.0, 1.5), [[0, 0, -0.5], [0, -1, 1.5]], atol=1e-6)


@pytest.mark.skipif(not SHIPPED.is_file(), reason="shipped weights not built yet")
def test_shipped_model_finds_synthetic_objects(tmp_path, run_cli):
    from depth3d.geometry.boxes import box3d_iou, box_corners
    from depth3d.sim.dataset import ScanOptions, write_scans

    # a held-out scan: the shipped model trained on seed 1's scans
    write_scans(tmp_path / "scans", 1, seed=12345, options=ScanOptions(width=320, height=240), progress=False)
    pc_path = tmp_path / "scans" / "000000_pc.npz"
    gt = np.load(tmp_path / "scans" / "000000_bbox.npy")
    out = tmp_path / "out"
    proc = run_cli("detect", pc_path, "-o", out, "--save-cloud", "--screenshot", out / "shot.png",
                   "--threshold", "0.05")
    assert proc.returncode == 0, proc.stderr
    boxes = json.loads((out / "000000_pc_boxes.json").read_text())["boxes"]
    assert boxes, proc.stdout
    for b in boxes:
        assert set(b) >= {"class", "score", "center", "size", "heading", "corners"} and len(b["corners"]) == 8
    best = [max(box3d_iou(np.array(b["corners"]), box_corners(g[:3], 2 * g[3:6], g[6]))[0] for b in boxes)
            for g in gt]
    # the shipped model is weak (mAP@0.25 recorded in benchmarks/results/detection.md): ask for localisation
    assert max(best) > 0.25, best
    ply = (out / "000000_pc_boxes.ply").read_text().splitlines()
    assert f"element vertex {8 * len(boxes)}" in ply and f"element edge {12 * len(boxes)}" in ply
    assert (out / "000000_pc_cloud.ply").stat().st_size > 0
    assert (out / "shot.png").stat().st_size > 1000


def test_sunrgbd_inputs(shared_data, tmp_path, random_ckpt, run_cli):
    root = shared_data / "sunrgbd"
    pts, frame = load_scan(f"sunrgbd:{root}:000001")
    assert frame == "upright" and pts.shape[1] == 6
    pts2, _ = load_scan(str(root / "depth" / "000002.mat"))
    assert pts2.shape[0] > 100000
    proc = run_cli("detect", f"sunrgbd:{root}:1", root / "depth" / "000002.mat", "-o", tmp_path,
                   "--checkpoint", random_ckpt)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sunrgbd_1_boxes.json").is_file() and (tmp_path / "000002_boxes.json").is_file()


def test_recording_every_nth_frame(tmp_path, run_cli, random_ckpt, repo_root):
    rec = repo_root / "data" / "sample.db3"
    if not rec.is_file():
        pytest.skip("bundled recording data/sample.db3 absent")
    proc = run_cli("detect", rec, "-o", tmp_path, "--checkpoint", random_ckpt, "--every", "3", "--max-frames", "2",
                   "--tilt", "15")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "sample_boxes.json").read_text())
    assert [f["index"] for f in data["frames"]] == [0, 3]
    for f in data["frames"]:
        assert (tmp_path / f"sample_f{f['index']:06d}_boxes.ply").is_file()
        assert all(len(b["corners"]) == 8 for b in f["boxes"])


def test_shipped_model_accuracy_on_unseen_scans(tmp_path, run_cli):
    """`eval det` of the shipped model on 60 freshly simulated scans of a seed it never saw: the issue-9
    goal is mAP@0.25 >= 0.6 (0.62 on 500 scans in benchmarks/results/detection.md); 60 scans vary by a
    few points, so the bound here is looser."""
    from depth3d.sim.dataset import ScanOptions, write_scans

    write_scans(tmp_path / "scans", 60, seed=4242, options=ScanOptions(width=320, height=240), progress=False)
    out = tmp_path / "eval.json"
    proc = run_cli("eval", "det", SHIPPED, "--data", tmp_path / "scans", "--split", "all", "-o", out)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    print("shipped model on 60 unseen scans:", res["mAP@0.25"], res["AR@0.25"])
    assert res["scans"] == 60 and res["layout"] == "votenet"
    assert res["mAP@0.25"] >= 0.5 and res["AR@0.25"] >= 0.75


def test_folded_batchnorm_gives_the_same_boxes():
    from depth3d.sim.dataset import ScanOptions, make_scan

    pc = make_scan(12345, 1, ScanOptions(width=320, height=240))["pc"][:, :3]
    a = Detector(SHIPPED, fold_bn=False).detect(pc).boxes
    b = Detector(SHIPPED).detect(pc).boxes
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert x["class"] == y["class"]
        np.testing.assert_allclose(x["center"], y["center"], atol=1e-4)
        np.testing.assert_allclose(x["size"], y["size"], atol=1e-4)
        assert abs(x["score"] - y["score"]) < 1e-4
    from depth3d.models.votenet import fold_batchnorm
    net = Detector(SHIPPED, fold_bn=False).net
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in fold_batchnorm(net).modules())
    assert any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())  # untouched
