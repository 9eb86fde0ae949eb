"""``depth3d stream --detect``: detection on exactly the cloud shown, boxes streamed to --boxes, bad --boxes
paths refused before any frame; ``detect`` tells an upright scan from a camera-frame one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "votenet_synthetic.pt"
pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="shipped weights absent")


@pytest.fixture
def tum_folder(shared_data, tmp_path) -> Path:
    """The real TUM desk frame (depth up to 9.3 m) laid out as a one-frame TUM RGB-D folder."""
    from depth3d.capture.tum import tum_folder_of_pair

    src = shared_data / "real" / "rgbd-frames"
    if not (src / "TUM_depth.png").is_file():
        pytest.skip(f"{src} absent")
    return tum_folder_of_pair(src / "TUM_color.png", src / "TUM_depth.png", tmp_path / "tum")


def _shown_cloud(source: str, voxel, max_depth: float) -> int:
    from depth3d.capture.pipeline import StreamPipeline
    from depth3d.capture.source import open_source

    with open_source(source) as src:
        frame = next(iter(src))
    return len(StreamPipeline(voxel, 0.0, max_depth).cloud(frame).points)


@pytest.mark.parametrize("voxel", [None, 0.03])
def test_stream_detects_on_the_depth_limited_cloud(tum_folder, tmp_path, run_cli, voxel):
    from depth3d.capture.source import open_source
    from depth3d.detection.detect import camera_points

    with open_source(str(tum_folder)) as src:
        far = camera_points(next(iter(src)))[:, 2]
    assert (far > 4.0).sum() > 1000  # the frame does hold points beyond the limit
    out = tmp_path / "boxes.json"
    args = ["stream", "--source", tum_folder, "--detect", "--max-depth", "4", "--boxes", out, "--quiet"]
    p = run_cli(*args, *(["--voxel", str(voxel)] if voxel else []), timeout=300)
    assert p.returncode == 0, p.stderr
    rec = json.loads(out.read_text())["frames"][0]
    # the detector saw exactly the points of the shown cloud
    assert rec["num_points"] == _shown_cloud(str(tum_folder), voxel, 4.0)
    assert rec["boxes"], "the shipped model finds furniture on this desk frame"
    for b in rec["boxes"]:  # upright frame, camera at the origin: distance = depth-ish range
        assert np.linalg.norm(b["center"]) < 4.0, b
        assert np.linalg.norm(np.asarray(b["corners"]), axis=1).min() < 4.0


def test_stream_boxes_path_checked_before_the_run(tmp_path, run_cli, repo_root):
    rec = repo_root / "data" / "sample.db3"
    if not rec.is_file():
        pytest.skip("bundled recording absent")
    (tmp_path / "d.json").mkdir()
    for bad, why in ((tmp_path / "d.json", "is a folder"), (tmp_path / "nope" / "b.json", "does not exist"),
                     (tmp_path / "b.txt", "expected a .json")):
        p = run_cli("stream", "--source", rec, "--detect", "--boxes", bad, "--max-frames", "1", timeout=120)
        assert p.returncode == 2 and str(bad) in p.stderr and why in p.stderr, p.stderr
        assert "Traceback" not in p.stderr and "frames" not in p.stdout
    p = run_cli("stream", "--source", rec, "--boxes", tmp_path / "b.json", "--max-frames", "1", timeout=120)
    assert p.returncode == 2 and "needs --detect" in p.stderr


def test_stream_boxes_streamed_and_complete(tmp_path, run_cli, repo_root):
    rec = repo_root / "data" / "sample.db3"
    if not rec.is_file():
        pytest.skip("bundled recording absent")
    out = tmp_path / "b.json"
    out.write_text("old")
    p = run_cli("stream", "--source", rec, "--detect", "--detect-every", "3", "--max-frames", "7", "--boxes", out,
                "--no-cloud", timeout=300)
    assert p.returncode == 0, p.stderr
    assert "will be replaced" in p.stderr and "wrote the boxes of 3 frames" in p.stdout
    data = json.loads(out.read_text())
    assert data["frame"] == "upright" and [f["index"] for f in data["frames"]] == [0, 3, 6]
    assert not list(tmp_path.glob(".b.json.*"))  # no temporary file left behind


def test_frame_detector_keeps_no_records_unless_asked(repo_root):
    from depth3d.capture.source import open_source
    from depth3d.detection.detect import FrameDetector

    det = FrameDetector(str(SHIPPED), every=2)
    kept = FrameDetector(str(SHIPPED), every=2, keep_records=True)
    with open_source("sim:room?seed=3&frames=5&width=160&height=120&trajectory=walk") as src:
        for i, f in enumerate(src):
            det.process(i, f)
            kept.process(i, f)
    assert det.records == [] and det.processed == 3 and det.last_record["index"] == 4
    assert [r["index"] for r in kept.records] == [0, 2, 4]
    assert det.last_record["boxes"] == kept.records[-1]["boxes"]


def test_detect_tells_an_upright_scan_from_a_camera_frame_one(tmp_path, run_cli):
    from depth3d.core.cloud import PointCloud
    from depth3d.io.clouds import write_cloud
    from depth3d.sim.dataset import ScanOptions, make_scan

    scan = make_scan(12345, 0, ScanOptions(width=320, height=240))
    up, rgb = scan["pc"][:, :3], scan["pc"][:, 3:6]
    np.savez(tmp_path / "ref_pc.npz", pc=scan["pc"])  # VoteNet format: upright by definition
    write_cloud(tmp_path / "up.ply", PointCloud(up, rgb))
    cam_to_up = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
    write_cloud(tmp_path / "cam.ply", PointCloud((up @ cam_to_up).astype(np.float32), rgb))  # level camera
    out = tmp_path / "out"
    p = run_cli("detect", tmp_path / "ref_pc.npz", tmp_path / "up.ply", tmp_path / "cam.ply", "-o", out,
                "--threshold", "0.05", "--tilt", "0", "--save-cloud")
    assert p.returncode == 0, p.stderr
    assert "up.ply: read as the upright frame" in p.stderr and "cam.ply: read as the camera frame" in p.stderr
    assert "ref_pc.npz: read as the upright frame (the format is upright by definition)" in p.stderr
    ref = json.loads((out / "ref_pc_boxes.json").read_text())["boxes"]
    assert ref
    for name in ("up", "cam"):  # the same boxes, not rotated by a wrong frame
        boxes = json.loads((out / f"{name}_boxes.json").read_text())["boxes"]
        assert len(boxes) == len(ref)
        for a, b in zip(boxes, ref):
            assert a["class"] == b["class"]
            np.testing.assert_allclose(a["center"], b["center"], atol=1e-3)
    # saved clouds keep the scan's colours
    from depth3d.io.clouds import read_cloud

    c = read_cloud(out / "up_cloud.ply")
    assert c.colors is not None and np.allclose(np.sort(c.colors.ravel())[-50:], np.sort(rgb.ravel())[-50:], atol=0.01)
    p = run_cli("detect", tmp_path / "up.ply", "-o", out, "--frame", "camera", "--tilt", "0", "--force")
    assert "read as the camera frame (as given by --frame)" in p.stderr
