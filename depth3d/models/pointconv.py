"""PointConv (Wu, Qi, Fuxin, CVPR 2019), following the reference code (DylanWusee/pointconv_pytorch and
the TF release) on :mod:`depth3d.ops`:

* kNN grouping around FPS centroids;
* kernel density estimate per point (Gaussian, ``bandwidth``) -> inverse density, normalised by its
  maximum in each neighbourhood -> **DensityNet** (1 -> 16 -> 8 -> 1, sigmoid) -> per-neighbour scale;
* **WeightNet** on the neighbours' relative coordinates (3 -> 8 -> 8 -> 16), the continuous kernel;
* the memory-efficient formulation (paper Sec. 3.3): the density-scaled, MLP-transformed neighbour
  features ``F (C x K)`` are multiplied by the weights ``W (K x 16)`` (one matmul per centroid), and a
  linear layer maps the ``C * 16`` result to ``C_out``;
* **PointConv deconvolution** (feature propagation for segmentation): 3-NN inverse-distance interpolation,
  concatenation with skip features, then a stride-1 PointConv on the dense points, then a shared MLP.

Layout: xyz ``(B, N, 3)``, features ``(B, C, N)`` channels-first (as the PointNet++ modules).
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn

from depth3d import ops
from depth3d.models.pointnet2.cls import split_input


def _mlp2d(channels: Sequence[int], last_act: Optional[nn.Module] = None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(channels) - 1):
        layers += [nn.Conv2d(channels[i], channels[i + 1], 1), nn.BatchNorm2d(channels[i + 1])]
        last = i == len(channels) - 2
        layers.append(last_act if (last and last_act is not None) else nn.ReLU(True))
    return nn.Sequential(*layers)


class WeightNet(nn.Module):
    """MLP on relative coordinates (B, 3, K, S) -> kernel weights (B, out, K, S) (3 -> 8 -> 8 -> out)."""

    def __init__(self, out_channels: int = 16, hidden: Sequence[int] = (8, 8)) -> None:
        super().__init__()
        self.net = _mlp2d([3, *hidden, out_channels])

    def forward(self, rel_xyz: torch.Tensor) -> torch.Tensor:
        return self.net(rel_xyz)


class DensityNet(nn.Module):
    """MLP on normalised inverse density (B, 1, K, S) -> density scale in (0, 1) (1 -> 16 -> 8 -> 1, sigmoid)."""

    def __init__(self, hidden: Sequence[int] = (16, 8)) -> None:
        super().__init__()
        self.net = _mlp2d([1, *hidden, 1], last_act=nn.Sigmoid())

    def forward(self, density: torch.Tensor) -> torch.Tensor:
        return self.net(density)


def kernel_density(xyz: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Gaussian kernel density estimate at every point of each cloud: (B, N, 3) -> (B, N).

    density_i = mean_j exp(-|x_i - x_j|^2 / (2 h^2)) / (2.5 h)   (reference ``compute_density``)."""
    d2 = torch.cdist(xyz, xyz).pow(2)
    return torch.exp(-d2 / (2.0 * bandwidth * bandwidth)).mean(-1) / (2.5 * bandwidth)


class PointConv(nn.Module):
    """One PointConv layer (with density): ``npoint`` FPS centroids (None = all points as one group, or
    ``stride1=True`` to keep every point as a centroid), ``nsample`` kNN neighbours, shared MLP ``mlp``
    (input channels WITHOUT the +3 for relative xyz), WeightNet (``weight_channels``), DensityNet, then
    ``Linear(mlp[-1] * weight_channels -> mlp[-1])`` + BN + ReLU.

    forward(xyz (B, N, 3), features (B, C, N) or None) -> (new_xyz (B, S, 3), new_features (B, mlp[-1], S)).
    """

    def __init__(self, mlp: Sequence[int], npoint: Optional[int], nsample: Optional[int], bandwidth: float,
                 weight_channels: int = 16, stride1: bool = False) -> None:
        super().__init__()
        self.npoint, self.nsample, self.bandwidth, self.stride1 = npoint, nsample, bandwidth, stride1
        self.group_all = npoint is None and not stride1
        spec = list(mlp)
        spec[0] += 3
        self.mlp_convs = _mlp2d(spec)
        self.weightnet = WeightNet(weight_channels)
        self.densitynet = DensityNet()
        self.linear = nn.Linear(weight_channels * spec[-1], spec[-1])
        self.bn_linear = nn.BatchNorm1d(spec[-1])

    def forward(self, xyz: torch.Tensor, features: Optional[torch.Tensor] = None):
        B, N, _ = xyz.shape
        inv_density = 1.0 / kernel_density(xyz.detach(), self.bandwidth)  # (B, N)
        if self.group_all:
            new_xyz = xyz.new_zeros(B, 1, 3)
            g_xyz = xyz.unsqueeze(1)  # (B, 1, N, 3): raw xyz relative to the origin, as in the reference
            g_den = inv_density.reshape(B, 1, N, 1)
            g_feat = features.transpose(1, 2).unsqueeze(1) if features is not None else None
        else:
            if self.stride1:
                new_xyz = xyz
            else:
                new_xyz = ops.gather(xyz, ops.furthest_point_sample(xyz.detach(), self.npoint))
            _, idx = ops.knn(new_xyz, xyz, min(self.nsample, N))
            idx = idx.clamp_min(0)
            g_xyz = ops.group(xyz, idx) - new_xyz.unsqueeze(2)  # (B, S, K, 3)
            g_den = ops.group(inv_density.unsqueeze(-1), idx)  # (B, S, K, 1)
            g_feat = ops.group(features.transpose(1, 2).contiguous(), idx) if features is not None else None
        x = torch.cat([g_xyz, g_feat], -1) if g_feat is not None else g_xyz  # (B, S, K, 3 + C)
        x = self.mlp_convs(x.permute(0, 3, 2, 1))  # (B, C, K, S)
        scale = g_den / g_den.amax(2, keepdim=True)  # normalised inverse density in (0, 1]
        x = x * self.densitynet(scale.permute(0, 3, 2, 1))
        w = self.weightnet(g_xyz.permute(0, 3, 2, 1))  # (B, 16, K, S)
        # memory-efficient PointConv: (S, C, K) @ (S, K, 16) -> (S, C * 16) -> linear
        y = torch.matmul(x.permute(0, 3, 1, 2), w.permute(0, 3, 2, 1)).flatten(2)  # (B, S, C*16)
        y = self.linear(y)  # (B, S, C_out)
        y = torch.relu(self.bn_linear(y.transpose(1, 2)))
        return new_xyz, y


class PointConvDeconv(nn.Module):
    """PointConv deconvolution (feature propagation): interpolate ``known_feats`` onto ``unknown`` points by
    inverse-distance 3-NN, concatenate ``unknown_feats``, a stride-1 PointConv (``nsample`` kNN) producing
    ``mlp[0]`` channels, then a shared MLP ``mlp[1:]``.

    forward(unknown (B, n, 3), known (B, m, 3), unknown_feats (B, C1, n) or None, known_feats (B, C2, m))
    -> (B, mlp[-1], n)."""

    def __init__(self, in_channels: int, mlp: Sequence[int], nsample: int = 16, bandwidth: float = 0.1) -> None:
        super().__init__()
        self.conv = PointConv([in_channels, mlp[0]], None, nsample, bandwidth, stride1=True)
        layers: list[nn.Module] = []
        for a, b in zip(mlp[:-1], mlp[1:]):
            layers += [nn.Conv1d(a, b, 1), nn.BatchNorm1d(b), nn.ReLU(True)]
        self.mlp = nn.Sequential(*layers)

    def forward(self, unknown: torch.Tensor, known: torch.Tensor, unknown_feats: Optional[torch.Tensor],
                known_feats: torch.Tensor) -> torch.Tensor:
        if known.shape[1] >= 3:
            d2, idx = ops.three_nn(unknown, known)
            w = 1.0 / (d2.clamp_min(0).sqrt() + 1e-8)
            w = w / w.sum(-1, keepdim=True)
            interp = ops.three_interpolate(known_feats.transpose(1, 2).contiguous(), idx, w).transpose(1, 2)
        else:
            interp = known_feats.mean(-1, keepdim=True).expand(-1, -1, unknown.shape[1])
        x = torch.cat([interp, unknown_feats], 1) if unknown_feats is not None else interp
        _, y = self.conv(unknown, x)
        return self.mlp(y)


class PointConvCls(nn.Module):
    """PointConv classifier (reference ``PointConvDensityClsSsg``): PointConv(512 pts, 32 NN, [64,64,128],
    h=0.1) -> PointConv(128, 64 NN, [128,128,256], h=0.2) -> PointConv(all, [256,512,1024], h=0.4) ->
    FC 512-256-classes with BN, ReLU, dropout 0.4 (defaults = reference; ``npoint``, ``nsample``, ``width``
    shrink it for small CPU runs).  forward(points (B, N, 3 + C)) -> logits (B, classes)."""

    def __init__(self, num_classes: int, in_channels: int = 0, dropout: float = 0.4,
                 npoint: tuple[int, int] = (512, 128), nsample: tuple[int, int] = (32, 64),
                 width: float = 1.0) -> None:
        super().__init__()
        w = lambda c: max(8, int(round(c * width)))  # noqa: E731
        self.sa1 = PointConv([in_channels, w(64), w(64), w(128)], npoint[0], nsample[0], 0.1)
        self.sa2 = PointConv([w(128), w(128), w(128), w(256)], npoint[1], nsample[1], 0.2)
        self.sa3 = PointConv([w(256), w(256), w(512), w(1024)], None, None, 0.4)
        self.head = nn.Sequential(
            nn.Linear(w(1024), w(512)), nn.BatchNorm1d(w(512)), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(w(512), w(256)), nn.BatchNorm1d(w(256)), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(w(256), num_classes))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        xyz, f = split_input(points)
        xyz, f = self.sa1(xyz, f)
        xyz, f = self.sa2(xyz, f)
        _, f = self.sa3(xyz, f)
        return self.head(f.squeeze(-1))


class PointConvSeg(nn.Module):
    """PointConv segmentation (reference ScanNet layout, smaller): 4 PointConv down layers
    (npoints, 32 NN, bandwidths 0.05/0.1/0.2/0.4) and 4 deconvolutions, then conv -> classes.

    forward(points (B, N, 3 + C)) -> per-point logits (B, num_classes, N)."""

    def __init__(self, num_classes: int, in_channels: int = 0,
                 npoints: tuple[int, int, int, int] = (1024, 256, 64, 36), dropout: float = 0.5) -> None:
        super().__init__()
        c = in_channels
        self.sa1 = PointConv([c, 32, 32, 64], npoints[0], 32, 0.05)
        self.sa2 = PointConv([64, 64, 64, 128], npoints[1], 32, 0.1)
        self.sa3 = PointConv([128, 128, 128, 256], npoints[2], 32, 0.2)
        self.sa4 = PointConv([256, 256, 256, 512], npoints[3], 32, 0.4)
        self.fp4 = PointConvDeconv(512 + 256, [256, 256], 16, 0.4)
        self.fp3 = PointConvDeconv(256 + 128, [256, 256], 16, 0.2)
        self.fp2 = PointConvDeconv(256 + 64, [256, 128], 16, 0.1)
        self.fp1 = PointConvDeconv(128 + c, [128, 128, 128], 16, 0.05)
        self.head = nn.Sequential(nn.Conv1d(128, 128, 1), nn.BatchNorm1d(128), nn.ReLU(True), nn.Dropout(dropout),
                                  nn.Conv1d(128, num_classes, 1))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        xyz0, f0 = split_input(points)
        xyz1, f1 = self.sa1(xyz0, f0)
        xyz2, f2 = self.sa2(xyz1, f1)
        xyz3, f3 = self.sa3(xyz2, f2)
        xyz4, f4 = self.sa4(xyz3, f3)
        f3 = self.fp4(xyz3, xyz4, f3, f4)
        f2 = self.fp3(xyz2, xyz3, f2, f3)
        f1 = self.fp2(xyz1, xyz2, f1, f2)
        f0 = self.fp1(xyz0, xyz1, f0, f1)
        return self.head(f0)
