"""PointNet++ blocks: shapes, ball-query grouping semantics, permutation invariance, FP interpolation,
official parameter names."""

from __future__ import annotations

import warnings

import pytest
import torch

from depth3d.models.pointnet2 import (PointNet2ClsMSG, PointNet2ClsSSG, PointNet2SemSegSSG, PointnetFPModule,
                                      PointnetSAModule, PointnetSAModuleMSG)
from depth3d.models.pointnet2.modules import sample_and_group

warnings.filterwarnings("ignore", category=RuntimeWarning)
torch.set_num_threads(2)


def _cloud(b=2, n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, n, 3, generator=g) * 2 - 1
    return x / x.norm(dim=-1).max()


def test_grouping_semantics():
    xyz = _cloud(1, 64)
    centres = xyz[:, :4]
    grouped, idx = sample_and_group(xyz, None, centres, 0.5, 8)
    assert grouped.shape == (1, 3, 4, 8) and idx.shape == (1, 4, 8)
    rel = grouped.permute(0, 2, 3, 1)
    # relative coordinates of grouped points lie inside the ball and equal point - centre
    assert (rel.norm(dim=-1) < 0.5 + 1e-6).all()
    torch.testing.assert_close(rel, xyz[0][idx[0]].unsqueeze(0) - centres.unsqueeze(2))
    # PointNet++ semantics: the first hits in index order
    d = (xyz[0, None] - centres[0, :, None]).norm(dim=-1)
    for m in range(4):
        hits = torch.nonzero(d[m] < 0.5).flatten()[:8]
        assert idx[0, m, :len(hits)].tolist() == hits.tolist()
    # normalize_xyz divides by the radius (VoteNet)
    g2, _ = sample_and_group(xyz, None, centres, 0.5, 8, normalize_xyz=True)
    torch.testing.assert_close(g2, grouped / 0.5)


def test_sa_shapes_and_channels():
    xyz = _cloud(2, 128)
    feats = torch.randn(2, 5, 128)
    sa = PointnetSAModule([5, 16, 32], npoint=32, radius=0.3, nsample=8)
    new_xyz, f, idx = sa(xyz, feats)
    assert new_xyz.shape == (2, 32, 3) and f.shape == (2, 32, 32) and idx.shape == (2, 32)
    torch.testing.assert_close(new_xyz, torch.gather(xyz, 1, idx[..., None].expand(-1, -1, 3)))
    msg = PointnetSAModuleMSG(16, [0.2, 0.4], [8, 16], [[5, 8, 16], [5, 8, 24]])
    _, f, _ = msg(xyz, feats)
    assert f.shape == (2, 16 + 24, 16)
    _, fall, _ = PointnetSAModule([5, 16, 64])(xyz, feats)
    assert fall.shape == (2, 64, 1)


def test_permutation_invariance():
    xyz = _cloud(1, 96, seed=3)
    perm = torch.cat([torch.zeros(1, dtype=torch.long), torch.randperm(95) + 1])  # FPS starts at point 0
    sa = PointnetSAModule([0, 16, 32], npoint=24, radius=0.5, nsample=96).eval()  # every hit is grouped
    a = sa(xyz)
    b = sa(xyz[:, perm])
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1], atol=1e-5, rtol=1e-5)
    ga = PointnetSAModule([0, 16, 32]).eval()
    torch.testing.assert_close(ga(xyz)[1], ga(xyz[:, torch.randperm(96)])[1], atol=1e-5, rtol=1e-5)


def test_fp_interpolation_exact_at_known_points():
    known = _cloud(1, 16)
    kf = torch.randn(1, 4, 16)
    fp = PointnetFPModule([4, 8])
    from depth3d import ops

    d2, idx = ops.three_nn(known, known)
    w = 1.0 / (d2.sqrt() + 1e-8)
    w = w / w.sum(-1, keepdim=True)
    interp = ops.three_interpolate(kf.transpose(1, 2).contiguous(), idx, w)
    torch.testing.assert_close(interp.transpose(1, 2), kf, atol=1e-5, rtol=1e-5)
    fp2 = PointnetFPModule([4 + 3, 8])
    assert fp2(_cloud(1, 40), known, torch.randn(1, 3, 40), kf).shape == (1, 8, 40)
    # from a group-all layer the global feature is broadcast
    assert fp(_cloud(1, 40), None, None, torch.randn(1, 4, 1)).shape == (1, 8, 40)


def test_official_parameter_names():
    sd = PointNet2ClsSSG(10).state_dict()
    for k in ("sa1.mlp_module.layer0.conv.weight", "sa1.mlp_module.layer2.bn.bn.weight",
              "sa1.mlp_module.layer0.bn.bn.running_mean", "sa3.mlp_module.layer2.conv.weight"):
        assert k in sd, k
    assert "sa1.mlp_module.layer0.conv.bias" not in sd  # no bias before BN, as in the reference
    assert sd["sa1.mlp_module.layer0.conv.weight"].shape == (64, 3, 1, 1)
    msd = PointNet2ClsMSG(10).state_dict()
    assert msd["sa1.mlps.2.layer1.conv.weight"].shape == (96, 64, 1, 1)
    assert msd["sa2.mlps.0.layer0.conv.weight"].shape == (64, 320 + 3, 1, 1)
    assert "fp1.mlp.layer0.conv.weight" in PointNet2SemSegSSG(4).state_dict()


def test_votenet_uses_these_modules_with_given_or_prefix_sampling():
    from depth3d.models.votenet import VoteNet, sunrgbd_config, tiny_config

    net = VoteNet.from_dataset_config(sunrgbd_config(), input_feature_dim=1, **tiny_config())
    assert isinstance(net.backbone_net.sa2, PointnetSAModule) and isinstance(net.backbone_net.fp1, PointnetFPModule)
    assert isinstance(net.pnet.vote_aggregation, PointnetSAModule)
    xyz = _cloud(2, 256)
    sa = PointnetSAModule([0, 8, 16], npoint=32, radius=0.4, nsample=8).eval()
    _, f_sampled, inds = sa(xyz)
    _, f_given, inds2 = sa(xyz, None, inds)  # centroids given: the same result
    assert torch.equal(inds, inds2) and torch.equal(f_sampled, f_given)
    ordered = torch.gather(xyz, 1, inds.unsqueeze(-1).expand(-1, -1, 3))  # FPS order: prefix_fps skips FPS
    pre = PointnetSAModule([0, 8, 16], npoint=16, radius=0.4, nsample=8, prefix_fps=True).eval()
    pre.load_state_dict(sa.state_dict())
    plain = PointnetSAModule([0, 8, 16], npoint=16, radius=0.4, nsample=8).eval()
    plain.load_state_dict(sa.state_dict())
    a, b = pre(ordered), plain(ordered)
    assert torch.equal(a[2], b[2]) and torch.equal(a[1], b[1])


def test_paper_configurations_and_outputs():
    m = PointNet2ClsSSG(7)
    assert (m.sa1.npoint, m.sa1.radius, m.sa1.nsample) == (512, 0.2, 32)
    assert (m.sa2.npoint, m.sa2.radius, m.sa2.nsample) == (128, 0.4, 64)
    assert m.sa3.npoint is None
    msg = PointNet2ClsMSG(7)
    assert msg.sa1.radii == [0.1, 0.2, 0.4] and msg.sa1.nsamples == [16, 32, 128]
    assert msg.sa2.radii == [0.2, 0.4, 0.8] and msg.sa2.nsamples == [32, 64, 128]
    small = dict(npoint=(32, 8), nsample=(8, 8), width=0.25)
    assert PointNet2ClsSSG(7, **small)(_cloud(2, 64)).shape == (2, 7)
    assert PointNet2ClsSSG(7, in_channels=3, **small)(torch.cat([_cloud(2, 64)] * 2, -1)).shape == (2, 7)
    msg_small = PointNet2ClsMSG(7, npoint=(32, 8), nsamples=((4, 8, 8), (4, 8, 8)), width=0.25)
    assert msg_small(_cloud(2, 64)).shape == (2, 7)
    seg = PointNet2SemSegSSG(5, npoints=(64, 16, 8, 4))
    assert seg(_cloud(2, 128)).shape == (2, 5, 128)
    with pytest.raises(ValueError, match="B, N, 3"):
        PointNet2ClsSSG(7, **small)(torch.zeros(2, 64))


@pytest.mark.parametrize("use_xyz, normalize_xyz, with_features", [(True, True, True), (True, False, False),
                                                                  (False, False, True)])
def test_channels_last_inference_path_equals_plain(use_xyz, normalize_xyz, with_features):
    """The fast inference path of the modules (``fast_inference``: channels-last matmuls, first SA layer
    before grouping, last ReLU after pooling, blocks of centroids) gives the plain path's outputs, for
    sampled and group-all SA and for FP (with and without known points); it needs bias convolutions
    (no batch norm): with batch norms it refuses to run."""
    torch.manual_seed(0)
    xyz = torch.rand(2, 700, 3)
    feats = torch.randn(2, 5, 700) if with_features else None
    cin = 5 if with_features else 0
    sa = PointnetSAModule([cin, 16, 24], npoint=300, radius=0.15, nsample=40, bn=False, use_xyz=use_xyz,
                          normalize_xyz=normalize_xyz).eval()
    glob = PointnetSAModule([24, 32, 48], bn=False).eval()
    fp_glob = PointnetFPModule([48 + 24, 32], bn=False).eval()
    fp = PointnetFPModule([32 + cin, 16, 8], bn=False).eval() if with_features else None
    for m in (sa, glob, fp_glob, fp):
        for p in (m.parameters() if m is not None else []):
            torch.nn.init.normal_(p, std=0.3)

    def run(fast: bool):
        for m in (sa, glob, fp_glob, fp):
            if m is not None:
                m.fast_inference = fast
        with torch.no_grad():
            new_xyz, f1, inds = sa(xyz, feats)
            _, g, _ = glob(new_xyz, f1)
            up = fp_glob(new_xyz, None, f1, g)
            out = fp(xyz, new_xyz, feats, up) if fp is not None else None
        return inds, f1, g, up, out

    plain, fast = run(False), run(True)
    assert torch.equal(plain[0], fast[0])
    for a, b in zip(plain[1:], fast[1:]):
        if a is not None:
            assert a.shape == b.shape
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    with_bn = PointnetSAModule([cin, 8], npoint=10, radius=0.2, nsample=4, use_xyz=use_xyz).eval()
    with_bn.fast_inference = True
    with pytest.raises(RuntimeError, match="batch norms folded"):
        with torch.no_grad():
            with_bn(xyz, feats)
