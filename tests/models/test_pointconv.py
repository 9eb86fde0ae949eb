"""PointConv: kernel density, DensityNet/WeightNet, the efficient formulation, deconvolution, heads."""

from __future__ import annotations

import math
import warnings

import torch

from depth3d.models.pointconv import (DensityNet, PointConv, PointConvCls, PointConvDeconv, PointConvSeg,
                                      kernel_density)

warnings.filterwarnings("ignore", category=RuntimeWarning)
torch.set_num_threads(2)


def _cloud(b=2, n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, n, 3, generator=g) - 0.5


def test_kernel_density_matches_bruteforce():
    x = _cloud(1, 20)
    h = 0.1
    d = kernel_density(x, h)
    ref = torch.zeros(20)
    for i in range(20):
        for j in range(20):
            ref[i] += math.exp(-float(((x[0, i] - x[0, j]) ** 2).sum()) / (2 * h * h)) / (2.5 * h)
    torch.testing.assert_close(d[0], ref / 20, rtol=1e-4, atol=1e-5)
    # denser regions get higher density
    dense = torch.cat([torch.zeros(1, 10, 3) + 0.01 * torch.randn(1, 10, 3), torch.ones(1, 1, 3)], 1)
    kd = kernel_density(dense, 0.1)
    assert kd[0, :10].min() > kd[0, 10]


def test_densitynet_range():
    out = DensityNet()(torch.rand(2, 1, 8, 5))
    assert out.shape == (2, 1, 8, 5) and (out > 0).all() and (out < 1).all()


def test_efficient_formulation_equals_naive_convolution():
    """sum over neighbours of (W(x_k) outer F_k) then linear == matmul form used in the layer."""
    torch.manual_seed(0)
    B, S, K, C, Cw = 2, 3, 5, 4, 16
    F_ = torch.randn(B, C, K, S)
    W = torch.randn(B, Cw, K, S)
    eff = torch.matmul(F_.permute(0, 3, 1, 2), W.permute(0, 3, 2, 1)).flatten(2)  # as in PointConv.forward
    naive = torch.zeros(B, S, C, Cw)
    for k in range(K):
        naive += F_[:, :, k, :].permute(0, 2, 1)[..., None] * W[:, :, k, :].permute(0, 2, 1)[:, :, None, :]
    torch.testing.assert_close(eff, naive.flatten(2), rtol=1e-5, atol=1e-5)


def test_layer_shapes_and_group_all_invariance():
    x = _cloud(2, 96)
    f = torch.randn(2, 6, 96)
    layer = PointConv([6, 16, 32], 24, 8, 0.1)
    new_xyz, y = layer(x, f)
    assert new_xyz.shape == (2, 24, 3) and y.shape == (2, 32, 24)
    assert layer.linear.in_features == 32 * 16 and layer.linear.out_features == 32
    ga = PointConv([6, 16, 32], None, None, 0.2).eval()
    perm = torch.randperm(96)
    torch.testing.assert_close(ga(x, f)[1], ga(x[:, perm], f[:, :, perm])[1], atol=1e-4, rtol=1e-4)


def test_deconv_and_models():
    dense, sparse = _cloud(2, 64), _cloud(2, 16, seed=1)
    dec = PointConvDeconv(8 + 4, [16, 8], nsample=8)
    assert dec(dense, sparse, torch.randn(2, 4, 64), torch.randn(2, 8, 16)).shape == (2, 8, 64)
    m = PointConvCls(5, npoint=(32, 8), nsample=(8, 8), width=0.25)
    assert m(_cloud(2, 64)).shape == (2, 5)
    assert PointConvCls(40).sa3.linear.in_features == 1024 * 16  # reference configuration
    seg = PointConvSeg(3, npoints=(32, 16, 8, 4))
    assert seg(_cloud(2, 64)).shape == (2, 3, 64)
