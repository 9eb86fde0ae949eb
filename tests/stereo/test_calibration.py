"""Stereo calibration on the real chessboard pairs, calibration files and their checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from depth3d.stereo.calibration import (Board, CalibrationFileError, StereoCalibration, calibrate_stereo,
                                        detect_pairs, find_corners, load_calibration, read_image_pairs)
from depth3d.stereo.rectify import Rectifier, draw_rectification


@pytest.fixture(scope="module")
def real_pairs(shared_data):
    d = shared_data / "stereo-chessboard"
    return read_image_pairs(str(d / "left*.jpg"), str(d / "right*.jpg"))


@pytest.fixture(scope="module")
def real_calib(real_pairs):
    L, R, names = real_pairs
    return calibrate_stereo(L, R, Board("chessboard", 7, 7), names=names)


def test_real_calibration_rms(real_calib):
    c = real_calib
    assert len(c.views) == 13 and c.dropped == ["left01.jpg (board not found)"]
    assert c.rms < 0.5, c.rms
    assert c.rms_left < 0.5 and c.rms_right < 0.5
    assert c.per_view_rms.shape == (13, 2) and np.all(c.per_view_rms < 0.5)
    # right camera sits along -x of the left one's T (X_r = R X_l + T): mostly horizontal baseline
    assert abs(c.T[0]) > 5 * max(abs(c.T[1]), abs(c.T[2]))


def test_real_rectification_rows_agree(real_calib, real_pairs):
    """After rectification the same corner has the same row left and right (< 0.5 px on average)."""
    L, R, _ = real_pairs
    board = Board()
    views, _, _ = detect_pairs(L, R, board)
    rect = Rectifier(real_calib)
    dy = []
    for v in views:
        pl = rect.rectify_points(v.left, "left")
        pr = rect.rectify_points(v.right, "right")
        dy.append(np.abs(pl[:, 1] - pr[:, 1]))
        assert np.all(pl[:, 0] - pr[:, 0] > 0)  # positive disparity everywhere
    dy = np.concatenate(dy)
    assert dy.mean() < 0.5, dy.mean()
    # the same holds for corners re-detected in the rectified *images* (maps applied, fixed point)
    found = []
    for i in range(1, len(L)):
        li, ri = rect(L[i], R[i])
        fl, fr = find_corners(li, board), find_corners(ri, board)
        if fl is not None and fr is not None:
            found.append(np.abs(fl[0][:, 0, 1] - fr[0][:, 0, 1]))
    assert len(found) >= 10  # alpha=0 crops: a board near the border can leave the image
    assert np.mean(np.concatenate(found)) < 0.5
    pic = draw_rectification(li, ri, points=(fl[0], fr[0]))
    assert pic.shape == (240, 640, 3)


def test_outlier_views_dropped(real_pairs):
    L, R, names = real_pairs
    c = calibrate_stereo(L, R, Board(), names=names, max_view_rms=0.45)
    outliers = [d for d in c.dropped if d.endswith("outlier)")]
    assert len(outliers) >= 1 and len(c.views) == 13 - len(outliers)
    for d in outliers:
        assert d.split(" ")[0] not in c.views
    assert np.all(c.per_view_rms.max(axis=1) <= 0.45) and c.rms < 0.5


def test_imperfect_set_calibrates_from_usable_pairs(shared_data, tmp_path):
    """Two unreadable (0-byte) images and a pair with the board in one image only: the rest calibrates, and
    every skipped pair is listed with its reason."""
    import shutil

    import cv2

    src = shared_data / "stereo-chessboard"
    for f in src.glob("*.jpg"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "left03.jpg").write_bytes(b"")
    (tmp_path / "right05.jpg").write_bytes(b"")
    blank = np.full((240, 320), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "right07.jpg"), blank)
    L, R, names = read_image_pairs(str(tmp_path / "left*.jpg"), str(tmp_path / "right*.jpg"))
    c = calibrate_stereo(L, R, Board(), names=names)
    assert "left03.jpg (unreadable left image)" in c.dropped
    assert "left05.jpg (unreadable right image)" in c.dropped
    assert "left07.jpg (board found in the left image only)" in c.dropped
    assert len(c.views) + len(c.dropped) == 14 and len(c.views) >= 10
    assert c.rms < 0.5
    rect = Rectifier(c)
    views, _, _ = detect_pairs(L, R, Board())
    dy = np.concatenate([np.abs(rect.rectify_points(v.left, "left")[:, 1] - rect.rectify_points(v.right, "right")[:, 1])
                         for v in views])
    print(f"imperfect set: {len(c.views)} pairs, stereo RMS {c.rms:.3f} px, mean row error {dy.mean():.3f} px; "
          f"dropped {c.dropped}")
    assert dy.mean() < 0.5


def test_committed_calibration_file(repo_root, real_calib):
    for ext in ("yaml", "json"):
        c = load_calibration(repo_root / "calib" / f"stereo-chessboard.{ext}", image_size=(320, 240))
        assert c.board["kind"] == "chessboard" and c.board["cols"] == 7
        assert np.allclose(c.Q, real_calib.Q, atol=1e-6) and c.rms < 0.5
    import cv2

    fs = cv2.FileStorage(str(repo_root / "calib" / "stereo-chessboard.yaml"), cv2.FILE_STORAGE_READ)
    assert fs.getNode("P2").mat().shape == (3, 4) and int(fs.getNode("image_width").real()) == 320
    fs.release()


def _synthetic() -> StereoCalibration:
    K = np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]])
    return StereoCalibration.from_extrinsics(K, np.zeros(5), K, np.zeros(5), np.eye(3), [-0.05, 0, 0], (320, 240),
                                             board={"kind": "synthetic"})


def test_save_load_roundtrip(tmp_path):
    c = _synthetic()
    files = c.save(tmp_path / "c.yaml")
    assert [f.name for f in files] == ["c.yaml", "c.json"]
    for f in files:
        d = load_calibration(f)
        for k in ("K1", "D1", "R", "T", "P1", "P2", "Q", "R1", "R2"):
            assert np.allclose(getattr(d, k), getattr(c, k)), k
        assert d.image_size == (320, 240)


def test_missing_matrix_clear_error(tmp_path, monkeypatch):
    c = _synthetic()
    c.save(tmp_path / "c.yaml")
    # JSON without Q
    d = json.loads((tmp_path / "c.json").read_text())
    del d["Q"]
    (tmp_path / "noq.json").write_text(json.dumps(d))
    # YAML without P2: drop its block
    text = (tmp_path / "c.yaml").read_text().split("\n")
    start = text.index(next(t for t in text if t.startswith("P2:")))
    end = next(i for i in range(start + 1, len(text)) if not text[i].startswith(" "))
    (tmp_path / "nop2.yaml").write_text("\n".join(text[:start] + text[end:]))

    # nothing may read an image before the calibration is checked
    import cv2

    def no_imread(*a, **k):
        raise AssertionError("an image was read before the calibration was checked")

    monkeypatch.setattr(cv2, "imread", no_imread)
    with pytest.raises(CalibrationFileError, match=r"noq\.json.*missing key 'Q'"):
        load_calibration(tmp_path / "noq.json")
    with pytest.raises(CalibrationFileError, match=r"nop2\.yaml.*missing key 'P2'"):
        load_calibration(tmp_path / "nop2.yaml")
    with pytest.raises(CalibrationFileError, match=r"c\.yaml.*image size mismatch.*320x240.*640x480"):
        load_calibration(tmp_path / "c.yaml", image_size=(640, 480))
    d = json.loads((tmp_path / "c.json").read_text())
    d["K1"] = [[1, 2], [3, 4]]
    (tmp_path / "badk.json").write_text(json.dumps(d))
    with pytest.raises(CalibrationFileError, match=r"badk\.json.*'K1' must be 3x3"):
        load_calibration(tmp_path / "badk.json")
    with pytest.raises(FileNotFoundError, match="nothere.yaml"):
        load_calibration(tmp_path / "nothere.yaml")


def test_cli_errors_before_images(tmp_path, run_cli, repo_root):
    c = _synthetic()
    c.save(tmp_path / "c.yaml")
    d = json.loads((tmp_path / "c.json").read_text())
    del d["R1"]
    (tmp_path / "bad.json").write_text(json.dumps(d))
    # images that do not exist: the calibration error must come first
    p = run_cli("stereo", tmp_path / "missing_l.png", tmp_path / "missing_r.png", "--calib", tmp_path / "bad.json",
                "-o", tmp_path / "out")
    assert p.returncode == 1 and "bad.json" in p.stderr and "missing key 'R1'" in p.stderr
    # right-size check: 320x240 calibration, 640x480 images
    import cv2

    img = np.zeros((480, 640), np.uint8)
    cv2.imwrite(str(tmp_path / "l.png"), img)
    cv2.imwrite(str(tmp_path / "r.png"), img)
    p = run_cli("stereo", tmp_path / "l.png", tmp_path / "r.png", "--calib", tmp_path / "c.yaml", "-o", tmp_path / "o")
    assert p.returncode == 1 and "c.yaml" in p.stderr and "image size mismatch" in p.stderr


def test_charuco_detection_synthetic():
    """ChArUco corners of a generated board image are found at the right places."""
    import cv2

    board = Board("charuco", 5, 7, square=0.04, marker=0.03)
    img = board.charuco().generateImage((500, 700), marginSize=20)
    found = find_corners(img, board)
    assert found is not None
    pts, ids = found
    assert len(ids) == 4 * 6
    obj = board.object_points()[ids]
    # image is an affine scaling of the board plane: fit and check residuals
    A = np.c_[obj[:, :2], np.ones(len(ids))]
    sol, *_ = np.linalg.lstsq(A, pts[:, 0, :], rcond=None)
    assert np.abs(A @ sol - pts[:, 0, :]).max() < 0.5
