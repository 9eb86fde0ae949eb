"""Detection datasets: real SUN RGB-D frames (boxes contain their points, votes), synthetic scans, ScanNet
layout, augmentation consistency."""

import numpy as np
import pytest
import torch

from depth3d.datasets.votenet_detection import (ScanNetVoteNetDataset, SunRGBDFrameDataset,
                                                SunRGBDVoteNetDataset, compute_votes, make_sample)
from depth3d.geometry.boxes import points_in_box
from depth3d.detection.decode import parse_groundtruths
from depth3d.models.votenet import sunrgbd_config

# boxes of the ten VoteNet classes in the two bundled frames and the least number of points (of the
# 50,000-point sub-sample) each must contain; ottoman, dresser_mirror and lamp are not VoteNet classes
EXPECTED = {"000001": [("bed", 2000), ("night_stand", 40), ("dresser", 8000)],
            "000002": [("bed", 15000), ("night_stand", 2000)]}


def test_sunrgbd_frames_boxes_contain_their_points(shared_data):
    ds = SunRGBDFrameDataset(shared_data / "sunrgbd")
    cfg = sunrgbd_config()
    assert ds.ids == ["000001", "000002"]
    counts = [0, 0]  # points inside all boxes with VoteNet's heading convention / with the mirrored heading
    for i, fid in enumerate(ds.ids):
        pc, bb, votes = ds.load_raw(i)
        assert [cfg.classes[int(c)] for c in bb[:, 7]] == [c for c, _ in EXPECTED[fid]]
        for b, (_, least) in zip(bb, EXPECTED[fid]):
            inside = points_in_box(pc, b[0:3], 2 * b[3:6], b[6])
            assert inside.sum() >= least
            # the points inside vote for the box centre
            v = votes[inside]
            assert (v[:, 0] == 1).all()
            hits = np.isclose(pc[inside, :3] + v[:, 1:4], b[0:3], atol=1e-4).all(1)
            hits |= np.isclose(pc[inside, :3] + v[:, 4:7], b[0:3], atol=1e-4).all(1)
            assert hits.all()
            counts[0] += inside.sum()
            counts[1] += points_in_box(pc, b[0:3], 2 * b[3:6], -b[6]).sum()
        assert (votes[:, 0] == 0).sum() > 0
        s = ds[i]
        assert s["point_clouds"].shape == (20000, 4)
        gt = parse_groundtruths({k: v[None] for k, v in s.items()}, cfg)[0]
        assert len(gt) == len(EXPECTED[fid])
        z = s["point_clouds"][:, 2].numpy()
        assert abs(np.percentile(z - s["point_clouds"][:, 3].numpy(), 50) - np.percentile(z, 0.99)) < 0.05
    assert counts[0] > 1.2 * counts[1]  # the labels follow rotz(-heading) (VoteNet), not rotz(+heading)


def test_vote_labels_up_to_three():
    pts = np.array([[0.0, 0, 0], [5, 5, 5]])
    bb = np.array([[0.1, 0, 0, 1, 1, 1, 0, 0], [-0.1, 0, 0, 1, 1, 1, 0, 1], [0, 0.2, 0, 1, 1, 1, 0.3, 2],
                   [0, -0.2, 0, 1, 1, 1, 0, 3]], np.float32)
    v = compute_votes(pts, bb)
    assert v[0, 0] == 1 and v[1].tolist() == [0] * 10
    assert np.allclose(v[0, 1:4], [0.1, 0, 0]) and np.allclose(v[0, 4:7], [-0.1, 0, 0])
    assert np.allclose(v[0, 7:10], [0, -0.2, 0])  # the 4th box overwrites the 3rd slot as the reference


def test_augmentation_keeps_points_votes_and_boxes_consistent():
    rng = np.random.default_rng(0)
    cfg = sunrgbd_config()
    pts = np.concatenate([rng.uniform(-0.4, 0.4, (500, 3)) + [1, 3, 0], rng.uniform(-3, 3, (500, 3))])
    pc = np.concatenate([pts, np.full((1000, 3), 0.5)], 1).astype(np.float32)
    bb = np.array([[1, 3, 0, 0.45, 0.45, 0.45, 0.3, 3]], np.float32)
    votes = compute_votes(pc, bb)
    for seed in range(5):
        s = make_sample(pc, bb, votes, cfg, 800, np.random.default_rng(seed), augment=True)
        p = s["point_clouds"].numpy()
        m = s["vote_label_mask"].numpy().astype(bool)
        centre = s["center_label"][0].numpy()
        assert np.allclose(p[m, :3] + s["vote_label"].numpy()[m, 0:3], centre, atol=1e-4)
        gt = parse_groundtruths({k: v[None] for k, v in s.items()}, cfg)[0][0][1]
        hv = cfg.class2angle(int(s["heading_class_label"][0]), float(s["heading_residual_label"][0]))
        size = cfg.mean_size_arr[3] + s["size_residual_label"][0].numpy()
        assert points_in_box(p[m], centre, size * 1.0001, hv).all()
        assert gt.shape == (8, 3)


def test_synthetic_scans_and_layout(tmp_path):
    from depth3d.sim.dataset import ScanOptions, write_scans

    write_scans(tmp_path, 3, seed=5, options=ScanOptions(width=320, height=240, min_points=40), progress=False)
    ds = SunRGBDVoteNetDataset(tmp_path, num_points=4096)
    assert len(ds) == 3
    for i in range(3):
        pc, bb, votes = ds.load_raw(i)
        assert pc.shape[1] == 6 and bb.shape[1] == 8 and votes.shape == (pc.shape[0], 10)
        assert pc[:, 2].min() < -0.9  # floor below the camera
        for b in bb:
            assert points_in_box(pc, b[:3], 2 * b[3:6], b[6]).sum() >= 40
        s = ds[i]
        assert s["point_clouds"].shape == (4096, 4)
        assert int(s["box_label_mask"].sum()) == len(bb)
    with pytest.raises(FileNotFoundError, match="no"):
        SunRGBDVoteNetDataset(tmp_path / "nothing")


def test_scannet_layout(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.uniform(-0.5, 0.5, (400, 3)) + [1, 1, 0.5]
    b = rng.uniform(-3, 3, (600, 3))
    verts = np.concatenate([np.concatenate([a, b]), rng.uniform(0, 255, (1000, 3))], 1)
    ins = np.r_[np.ones(400), np.zeros(600)].astype(np.int64)
    sem = np.r_[np.full(400, 5), np.zeros(600)].astype(np.int64)  # nyu40 5 = chair
    np.save(tmp_path / "scene0000_00_vert.npy", verts)
    np.save(tmp_path / "scene0000_00_ins_label.npy", ins)
    np.save(tmp_path / "scene0000_00_sem_label.npy", sem)
    np.save(tmp_path / "scene0000_00_bbox.npy", np.array([[1, 1, 0.5, 1, 1, 1, 5]]))
    ds = ScanNetVoteNetDataset(tmp_path, num_points=800, augment=True)
    s = ds[0]
    assert s["point_clouds"].shape == (800, 4)
    assert int(s["sem_cls_label"][0]) == 2 and int(s["box_label_mask"].sum()) == 1
    m = s["vote_label_mask"].bool()
    c = (s["point_clouds"][m, :3] + s["vote_label"][m, :3])
    assert torch.allclose(c, c[0].expand_as(c), atol=1e-5)
