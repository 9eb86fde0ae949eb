"""SO-Net (Li, Chen, Lee, CVPR 2018), following the paper and the reference code (lijx10/SO-Net):

1. **Self-organising map** (``som_rows x som_cols`` = 8 x 8 nodes) fitted to EACH cloud by the batch SOM
   rule, all clouds of a batch at once (on the cloud's device, so on the GPU when present): nodes start
   on a fixed grid, then for ``som_iters`` rounds every point finds its winner node and each node moves
   to the neighbourhood-weighted mean of the points, with a Gaussian grid neighbourhood whose width
   shrinks over the rounds. No gradients flow through the SOM.
2. **Point-to-node kNN**: each point is assigned to its ``k`` nearest nodes; each (point, node) pair gives
   the point's coordinates relative to that node.
3. A shared MLP on those pairs, then **node features by max pooling** over the pairs of each node (a
   scatter-max: :func:`depth3d.ops.voxel_reduce` with ``reduce="max"``).
4. **Node kNN**: each node gathers its ``node_k`` nearest nodes (relative node coordinates + their
   features), a shared MLP, max over the neighbours, concatenated to the node feature.
5. A node-level MLP and max over nodes -> the global feature (1024) -> classification head; the
   segmentation head concatenates per-point, node and global features.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from depth3d import ops
from depth3d.models.pointnet2.cls import split_input


def _mlp1d(channels: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv1d(a, b, 1), nn.BatchNorm1d(b), nn.ReLU(True)]
    return nn.Sequential(*layers)


@torch.no_grad()
def fit_som(xyz: torch.Tensor, rows: int = 8, cols: int = 8, iters: int = 10, sigma0: float = 2.0,
            sigma1: float = 0.5, init_radius: float = 0.6) -> torch.Tensor:
    """Batch self-organising map, one per cloud, all clouds at once.

    Args:
        xyz: (B, N, 3) points (float32/64, any device; clouds ~ unit sphere when ``init_radius`` is 0.6).
        rows, cols: SOM grid size (nodes ``rows * cols``).
        iters: batch-SOM rounds; sigma0 -> sigma1: neighbourhood width in grid cells (geometric decay).
    Returns:
        nodes (B, rows * cols, 3), node j at grid cell (j // cols, j % cols).

    Initialisation (deterministic, as in the reference): the grid laid out in the x-y plane through the
    cloud centroid, spanning ``init_radius`` times the cloud's xy extent."""
    B, N, _ = xyz.shape
    dev, dt = xyz.device, xyz.dtype
    gy, gx = torch.meshgrid(torch.arange(rows, device=dev, dtype=dt), torch.arange(cols, device=dev, dtype=dt),
                            indexing="ij")
    grid = torch.stack([gy.reshape(-1), gx.reshape(-1)], -1)  # (M, 2) grid coordinates
    g2 = torch.cdist(grid, grid).pow(2)  # (M, M)
    center = xyz.mean(1, keepdim=True)
    ext = (xyz - center).abs().amax(1, keepdim=True)[..., :2].clamp_min(1e-6)  # (B, 1, 2)
    u = torch.stack([gx.reshape(-1) / max(cols - 1, 1), gy.reshape(-1) / max(rows - 1, 1)], -1) * 2 - 1
    nodes = center.expand(B, rows * cols, 3).clone()
    nodes[..., :2] = center[..., :2] + init_radius * u.unsqueeze(0) * ext
    for t in range(iters):
        sigma = sigma0 * (sigma1 / sigma0) ** (t / max(iters - 1, 1))
        _, win = ops.knn(xyz, nodes, 1)  # (B, N, 1) winner node of each point
        h = torch.exp(-g2 / (2 * sigma * sigma))  # (M, M) neighbourhood in grid space
        hw = h[win.squeeze(-1)]  # (B, N, M): weight of point i for node j
        nodes = torch.einsum("bnm,bnc->bmc", hw, xyz) / hw.sum(1).unsqueeze(-1).clamp_min(1e-12)
    return nodes


def scatter_max(values: torch.Tensor, index: torch.Tensor, num: int) -> torch.Tensor:
    """Max of ``values (E, C)`` rows per ``index (E,)`` in [0, num) -> (num, C); empty slots are 0.
    Differentiable (gradient to the arg-max rows), via :func:`depth3d.ops.voxel_reduce`."""
    return ops.voxel_reduce(values, index, num, reduce="max")


class SONetEncoder(nn.Module):
    """SOM + point-to-node kNN + point MLP + node max pooling + node kNN + node MLP -> global feature.

    forward(points (B, N, 3 + C)) -> dict(global (B, 1024), node_feat (B, F, M), nodes (B, M, 3),
    point_feat (B, P, N), assign (B, N, k) node indices)."""

    def __init__(self, in_channels: int = 0, som_rows: int = 8, som_cols: int = 8, k: int = 3, node_k: int = 9,
                 som_iters: int = 10, point_mlp: Sequence[int] = (64, 64, 128, 384),
                 knn_mlp: Sequence[int] = (512, 512), node_mlp: Sequence[int] = (768, 1024)) -> None:
        super().__init__()
        self.rows, self.cols, self.k, self.node_k, self.som_iters = som_rows, som_cols, k, node_k, som_iters
        self.point_net = _mlp1d([3 + in_channels, *point_mlp])
        self.knn_net = nn.Sequential(*[m for a, b in zip([3 + point_mlp[-1], *knn_mlp[:-1]], knn_mlp)
                                       for m in (nn.Conv2d(a, b, 1), nn.BatchNorm2d(b), nn.ReLU(True))])
        self.node_net = _mlp1d([3 + point_mlp[-1] + knn_mlp[-1], *node_mlp])
        self.out_channels = node_mlp[-1]

    def forward(self, points: torch.Tensor) -> dict:
        xyz, feats = split_input(points)
        B, N, _ = xyz.shape
        M = self.rows * self.cols
        nodes = fit_som(xyz.detach(), self.rows, self.cols, self.som_iters)  # (B, M, 3)
        _, assign = ops.knn(xyz, nodes, self.k)  # (B, N, k) point -> its k nearest nodes
        rel = xyz.unsqueeze(2) - ops.group(nodes, assign)  # (B, N, k, 3) point relative to its nodes
        x = rel.permute(0, 3, 1, 2).reshape(B, 3, N * self.k)
        if feats is not None:
            x = torch.cat([x, feats.unsqueeze(-1).expand(-1, -1, -1, self.k).reshape(B, -1, N * self.k)], 1)
        pf = self.point_net(x)  # (B, P, N*k)
        P = pf.shape[1]
        seg = (assign + torch.arange(B, device=xyz.device).view(B, 1, 1) * M).reshape(-1)  # (B*N*k,)
        node_feat = scatter_max(pf.permute(0, 2, 1).reshape(-1, P), seg, B * M).reshape(B, M, P)
        # node kNN: each node and its node_k nearest nodes (itself included)
        _, nidx = ops.knn(nodes, nodes, min(self.node_k, M))
        g = torch.cat([ops.group(nodes, nidx) - nodes.unsqueeze(2), ops.group(node_feat, nidx)], -1)
        knn_feat = self.knn_net(g.permute(0, 3, 1, 2)).amax(-1)  # (B, Kf, M)
        nf = torch.cat([nodes.transpose(1, 2), node_feat.transpose(1, 2), knn_feat], 1)
        nf = self.node_net(nf)  # (B, 1024, M)
        return {"global": nf.amax(-1), "node_feat": nf, "nodes": nodes, "point_feat": pf.reshape(B, P, N, self.k),
                "assign": assign}


class SONetCls(nn.Module):
    """SO-Net classifier: encoder -> FC 1024-512-256-classes (BN, ReLU, dropout).

    forward(points (B, N, 3 + C)) -> logits (B, num_classes)."""

    def __init__(self, num_classes: int, in_channels: int = 0, dropout: float = 0.4, width: float = 1.0,
                 **encoder_kw) -> None:
        super().__init__()
        w = lambda c: max(8, int(round(c * width)))  # noqa: E731
        if width != 1.0:
            encoder_kw.setdefault("point_mlp", tuple(w(c) for c in (64, 64, 128, 384)))
            encoder_kw.setdefault("knn_mlp", tuple(w(c) for c in (512, 512)))
            encoder_kw.setdefault("node_mlp", tuple(w(c) for c in (768, 1024)))
        self.encoder = SONetEncoder(in_channels, **encoder_kw)
        c = self.encoder.out_channels
        self.head = nn.Sequential(
            nn.Linear(c, w(512)), nn.BatchNorm1d(w(512)), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(w(512), w(256)), nn.BatchNorm1d(w(256)), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(w(256), num_classes))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(points)["global"])


class SONetSeg(nn.Module):
    """SO-Net segmentation head: per point, its pair features max-pooled over its k nodes, the feature of
    its nearest node and the global feature are concatenated -> MLP -> classes.

    forward(points (B, N, 3 + C)) -> per-point logits (B, num_classes, N)."""

    def __init__(self, num_classes: int, in_channels: int = 0, **encoder_kw) -> None:
        super().__init__()
        self.encoder = SONetEncoder(in_channels, **encoder_kw)
        p = 384 if "point_mlp" not in encoder_kw else encoder_kw["point_mlp"][-1]
        c = self.encoder.out_channels
        self.head = nn.Sequential(_mlp1d([p + 2 * c, 512, 256]), nn.Conv1d(256, num_classes, 1))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        e = self.encoder(points)
        B, _, N, _ = e["point_feat"].shape
        pf = e["point_feat"].amax(-1)  # (B, P, N)
        nearest = e["assign"][..., 0]  # (B, N)
        nf = torch.gather(e["node_feat"], 2, nearest.unsqueeze(1).expand(-1, e["node_feat"].shape[1], -1))
        g = e["global"].unsqueeze(-1).expand(-1, -1, N)
        return self.head(torch.cat([pf, nf, g], 1))
