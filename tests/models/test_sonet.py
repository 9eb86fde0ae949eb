"""SO-Net: batched SOM, point-to-node kNN, scatter-max node features, permutation invariance, heads."""

from __future__ import annotations

import warnings

import torch

from depth3d import ops
from depth3d.models.sonet import SONetCls, SONetEncoder, SONetSeg, fit_som, scatter_max

warnings.filterwarnings("ignore", category=RuntimeWarning)
torch.set_num_threads(2)


def _cloud(b=2, n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, 3, generator=g)
    return x / x.norm(dim=-1).max() * 0.8


def test_som_fits_each_cloud_and_batches_independently():
    x = _cloud(3, 200)
    nodes = fit_som(x, 8, 8, iters=10)
    assert nodes.shape == (3, 64, 3)
    init = fit_som(x, 8, 8, iters=0)
    d_fit = ops.knn(x, nodes, 1)[0].mean()
    d_init = ops.knn(x, init, 1)[0].mean()
    assert d_fit < 0.5 * d_init  # the map moved onto the points
    # batched == one cloud at a time
    for b in range(3):
        torch.testing.assert_close(fit_som(x[b:b + 1], 8, 8, iters=10)[0], nodes[b], atol=1e-5, rtol=1e-5)
    # order of points does not matter (batch SOM update is a weighted mean)
    perm = torch.randperm(200)
    torch.testing.assert_close(fit_som(x[:, perm], 8, 8, iters=10), nodes, atol=1e-4, rtol=1e-4)


def test_scatter_max_semantics_and_gradient():
    v = torch.randn(10, 4, requires_grad=True)
    idx = torch.tensor([0, 0, 1, 3, 3, 3, 1, 0, 3, 1])
    out = scatter_max(v, idx, 5)
    for n in range(5):
        sel = v[idx == n]
        ref = sel.max(0).values if len(sel) else torch.zeros(4)
        torch.testing.assert_close(out[n], ref)
    out.sum().backward()
    assert v.grad.sum() == 4 * 3  # one arg-max row per channel for each non-empty node


def test_encoder_assignment_and_permutation_invariance():
    enc = SONetEncoder(point_mlp=(16, 32), knn_mlp=(32,), node_mlp=(32, 64), k=3, node_k=4, som_iters=4).eval()
    x = _cloud(2, 100)
    e = enc(x)
    assert e["global"].shape == (2, 64) and e["nodes"].shape == (2, 64, 3) and e["assign"].shape == (2, 100, 3)
    # each point's k nodes are its k nearest
    d = torch.cdist(x, e["nodes"])
    torch.testing.assert_close(d.topk(3, largest=False).indices.sort(-1).values, e["assign"].sort(-1).values)
    perm = torch.randperm(100)
    torch.testing.assert_close(enc(x[:, perm])["global"], e["global"], atol=1e-4, rtol=1e-4)


def test_heads():
    m = SONetCls(6, width=0.25, som_iters=3)
    assert m(_cloud(2, 64)).shape == (2, 6)
    seg = SONetSeg(4, point_mlp=(16, 32), knn_mlp=(32,), node_mlp=(32, 64), som_iters=3)
    assert seg(_cloud(2, 64)).shape == (2, 4, 64)
    assert SONetCls(40).encoder.rows * SONetCls(40).encoder.cols == 64
