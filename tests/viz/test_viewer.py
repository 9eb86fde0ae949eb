import shutil

import numpy as np
import pytest

from depth3d.core import Intrinsics, PointCloud
from depth3d.io import write_cloud

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None and not __import__("os").environ.get("DISPLAY"),
                                reason="needs Xvfb or a display")


def test_view_screenshot_shows_the_cloud(tmp_path, run_cli):
    """`depth3d view --screenshot` renders a real Open3D window; the cloud's pixels differ from the background."""
    rng = np.random.default_rng(0)
    # a red square patch of points 2 m in front of the camera, left half of the view
    pts = np.stack([rng.uniform(-0.8, -0.1, 20000), rng.uniform(-0.35, 0.35, 20000), np.full(20000, 2.0)], 1)
    cols = np.tile([[1.0, 0.0, 0.0]], (20000, 1))
    # two tiny anchor points fix the bounding box so the view is centred on x = 0
    pts = np.concatenate([pts, [[0.8, 0.0, 2.0], [-0.8, 0.0, 2.0]]])
    cols = np.concatenate([cols, [[1, 1, 1], [1, 1, 1]]])
    write_cloud(tmp_path / "c.ply", PointCloud(pts.astype(np.float32), cols.astype(np.float32)))
    png = tmp_path / "shot.png"
    proc = run_cli("view", tmp_path / "c.ply", "--screenshot", png, "--width", "640", "--height", "480")
    assert proc.returncode == 0, proc.stderr
    import cv2

    img = cv2.imread(str(png))[..., ::-1]
    assert img.shape == (480, 640, 3)
    red = (img[..., 0] > 150) & (img[..., 1] < 100) & (img[..., 2] < 100)
    assert red.sum() > 2000  # the patch is visible ...
    ys, xs = np.nonzero(red)
    assert xs.mean() < 320  # ... on the left, where it projects
    assert (img[:20, :20] > 240).all()  # background stays white


def test_view_boxes_and_errors(tmp_path, run_cli):
    from depth3d.viz.boxes import box_dict_corners, write_boxes

    c = box_dict_corners({"center": [0, 0, 0], "size": [2, 1, 0.5], "heading": np.pi / 2})
    assert np.allclose(np.ptp(c, axis=0), [1, 2, 0.5])
    write_boxes(tmp_path / "b.json", [{"class": "chair", "center": [0, 0, 2], "size": [0.5, 0.5, 0.5],
                                       "heading": 0.3}])
    write_cloud(tmp_path / "c.ply", PointCloud(np.random.default_rng(1).normal(size=(100, 3)).astype(np.float32)
                                               + [0, 0, 2]))
    proc = run_cli("view", tmp_path / "c.ply", tmp_path / "b.json", "--screenshot", tmp_path / "s.png")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "s.png").stat().st_size > 1000
    proc = run_cli("view", tmp_path / "missing.ply", "--screenshot", tmp_path / "x.png")
    assert proc.returncode == 1 and "missing.ply" in proc.stderr


def test_live_viewer_updates_in_place(tmp_path):
    from depth3d.viz.viewer import LiveViewer

    with LiveViewer(width=320, height=240, headless=True) as v:
        for i in range(3):
            pts = np.random.default_rng(i).normal(size=(1000, 3)).astype(np.float32) + [0, 0, 3]
            assert v.update(PointCloud(pts, np.ones_like(pts)))
        assert len(v.pcd.points) == 1000
        v.screenshot(tmp_path / "live.png")
    assert (tmp_path / "live.png").is_file()
    assert Intrinsics(4, 3, 1, 1, 1, 1).width == 4


def test_box_labels_stand_above_their_boxes_in_class_colour():
    from depth3d.viz.boxes import box_label, boxes_to_labels, class_color

    boxes = [{"class": "chair", "class_id": 2, "score": 0.93, "center": [1.0, 3.0, 0.5], "size": [0.6, 0.5, 1.0],
              "heading": 0.4},
             {"class": "table", "center": [-1.0, 2.0, 0.4], "size": [1.2, 0.8, 0.8]}]
    assert box_label(boxes[0]) == "chair 0.93" and box_label(boxes[1]) == "table"
    mesh = boxes_to_labels(boxes, letter_height=0.1)
    v, col = np.asarray(mesh.vertices), np.asarray(mesh.vertex_colors)
    assert len(mesh.triangles) > 20
    first = np.all(np.isclose(col, class_color(2)), axis=1)  # the chair's text
    assert first.any() and (~first).any()
    for sel, b in ((first, boxes[0]), (~first, boxes[1])):
        top = b["center"][2] + b["size"][2] / 2
        assert v[sel, 2].min() > top and v[sel, 2].max() < top + 0.3  # just above the box
        assert abs(v[sel, 0].mean() - b["center"][0]) < 0.2 and np.allclose(v[sel, 1], b["center"][1])  # facing -y
    assert len(boxes_to_labels([]).vertices) == 0
