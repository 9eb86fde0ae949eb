"""Augmentations, the ModelNet40 loader on a tiny fake tree, and the synthetic shapes set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depth3d.datasets import augment as A
from depth3d.datasets.modelnet import load_modelnet40
from depth3d.datasets.shapes import PointCloudClsDataset, generate_shapes, load_shapes


def test_augmentations():
    rng = np.random.default_rng(0)
    p = rng.standard_normal((50, 6)).astype(np.float32)
    p[:, 3:] /= np.linalg.norm(p[:, 3:], axis=1, keepdims=True)
    r = A.rotate_up(p, rng)
    np.testing.assert_allclose(r[:, 2], p[:, 2], atol=1e-6)  # z (up) unchanged
    np.testing.assert_allclose(np.linalg.norm(r[:, :2], axis=1), np.linalg.norm(p[:, :2], axis=1), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(r[:, 3:], axis=1), 1, rtol=1e-5)  # normals rotated too
    s = A.scale(p, rng, 2.0, 2.0)
    np.testing.assert_allclose(s[:, :3], 2 * p[:, :3], rtol=1e-6)
    np.testing.assert_array_equal(s[:, 3:], p[:, 3:])
    j = A.jitter(p, rng, 0.01, 0.02)
    assert np.abs(j[:, :3] - p[:, :3]).max() <= 0.02 + 1e-7
    d = A.dropout(p, np.random.default_rng(1), 0.875)
    assert d.shape == p.shape and all((row == p[0]).all() or (row == p[i]).all() for i, row in enumerate(d))
    aug = A.Augment.from_config({"rotate": False, "jitter_sigma": 0.0, "dropout_ratio": 0.0, "shift": 0.0,
                                 "scale_low": 1.0, "scale_high": 1.0})
    np.testing.assert_array_equal(aug(p, rng), p)
    assert A.Augment.from_config(False) is None
    with pytest.raises(ValueError, match="unknown keys"):
        A.Augment.from_config({"rotat": True})


def _fake_modelnet(root, n_pts=40):
    classes = ["airplane", "night_stand", "chair"]
    (root / "modelnet40_shape_names.txt").write_text("\n".join(classes) + "\n")
    train, test = [], []
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(1, 4):
            sid = f"{c}_{i:04d}"
            pts = rng.uniform(-3, 3, (n_pts, 6))
            np.savetxt(root / c / f"{sid}.txt", pts, delimiter=",", fmt="%.6f")
            (train if i < 3 else test).append(sid)
    (root / "modelnet40_train.txt").write_text("\n".join(train) + "\n")
    (root / "modelnet40_test.txt").write_text("\n".join(test) + "\n")


def test_modelnet40_loader(tmp_path):
    _fake_modelnet(tmp_path)
    tr = load_modelnet40(tmp_path, "train", num_points=32, progress=False)
    te = load_modelnet40(tmp_path, "test", num_points=32, use_normals=True, progress=False)
    assert len(tr) == 6 and len(te) == 3 and tr.classes == ["airplane", "night_stand", "chair"]
    x, y = te[1]
    assert x.shape == (32, 6) and int(y) == 1  # night_stand_0003 (class names with underscores)
    assert torch.linalg.norm(x[:, :3], dim=1).max() == pytest.approx(1.0, abs=1e-5)  # unit sphere
    x, y = tr[0]
    assert x.shape == (32, 3)
    with pytest.raises(ValueError, match="fewer than num_points"):
        load_modelnet40(tmp_path, "train", num_points=100, progress=False)
    (tmp_path / "chair" / "chair_0001.txt").write_text("1,2\n3,4\n")
    with pytest.raises(ValueError, match="chair_0001.txt"):
        load_modelnet40(tmp_path, "train", num_points=2, progress=False)
    with pytest.raises(FileNotFoundError, match="modelnet40_shape_names.txt"):
        load_modelnet40(tmp_path / "nothing", "train")


def test_synthetic_shapes(tmp_path):
    generate_shapes(tmp_path, train_per_class=3, test_per_class=2, num_points=256, scan_fraction=0.5,
                    classes=["chair", "bed"], progress=False)
    tr = load_shapes(tmp_path, "train", num_points=128, augment=A.Augment())
    te = load_shapes(tmp_path, "test", num_points=128)
    assert len(tr) == 6 and len(te) == 4 and tr.classes == ["chair", "bed"]
    z = np.load(tmp_path / "train.npz")
    assert z["points"].shape == (6, 256, 3) and set(z["source"]) <= {0, 1}
    assert np.abs(z["points"]).max() <= 1.0  # metric clouds / 1.5 m fit the unit cube
    a1, _ = tr[0]
    a2, _ = tr[0]
    torch.testing.assert_close(a1, a2)  # deterministic per (seed, epoch, index)
    tr.set_epoch(1)
    assert not torch.equal(tr[0][0], a1)
    torch.testing.assert_close(te[0][0], torch.from_numpy(np.load(tmp_path / "test.npz")["points"][0, :128]))
    with pytest.raises(ValueError, match="num_points"):
        PointCloudClsDataset(z["points"], z["labels"], ["a", "b"], 999, train=False)
    with pytest.raises(FileNotFoundError, match="train.npz"):
        load_shapes(tmp_path / "none", "train")
