"""PointNet++ building blocks with the module and parameter names of facebookresearch/votenet
(``pointnet2/pytorch_utils.py`` and ``pointnet2/pointnet2_modules.py``), on :mod:`depth3d` ops.

Names matter: a ``SharedMLP`` is an ``nn.Sequential`` of ``layer{i}`` blocks, each an ``nn.Sequential``
holding ``conv`` (``nn.Conv2d`` 1x1, no bias when batch norm follows), ``bn`` (a ``_BNBase`` wrapper whose
only child is ``bn``: ``nn.BatchNorm2d``) and ``activation``; so parameters are called
``mlp_module.layer0.conv.weight`` and ``mlp_module.layer0.bn.bn.running_mean`` exactly as in the
released VoteNet checkpoints.

Tensor layout (as in the reference): xyz (B, N, 3) float32 metres, features (B, C, N) channels-first.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from depth3d.models.votenet import _ops


class _BNBase(nn.Sequential):
    """Batch norm wrapped once more so its parameters are named ``bn.bn.*`` (reference layout)."""

    def __init__(self, in_size: int, batch_norm=nn.BatchNorm2d) -> None:
        super().__init__()
        self.add_module("bn", batch_norm(in_size))
        nn.init.constant_(self[0].weight, 1.0)
        nn.init.constant_(self[0].bias, 0)


class Conv2d(nn.Sequential):
    """1x1 ``conv`` + optional ``bn`` + ``activation`` (reference ``pytorch_utils.Conv2d``)."""

    def __init__(self, in_size: int, out_size: int, *, bn: bool = False,
                 activation: nn.Module | None = None) -> None:
        super().__init__()
        conv = nn.Conv2d(in_size, out_size, kernel_size=(1, 1), bias=not bn)
        nn.init.kaiming_normal_(conv.weight)
        if not bn:
            nn.init.constant_(conv.bias, 0)
        self.add_module("conv", conv)
        if bn:
            self.add_module("bn", _BNBase(out_size))
        if activation is not None:
            self.add_module("activation", activation)


class SharedMLP(nn.Sequential):
    """Point-wise MLP on (B, C, M, K) tensors: ``layer{i}`` = Conv2d(args[i], args[i+1]) + BN + ReLU."""

    def __init__(self, args: Sequence[int], *, bn: bool = True) -> None:
        super().__init__()
        for i in range(len(args) - 1):
            self.add_module(f"layer{i}", Conv2d(args[i], args[i + 1], bn=bn, activation=nn.ReLU(inplace=True)))


class PointnetSAModuleVotes(nn.Module):
    """Set abstraction: FPS ``npoint`` centres, ball query (``radius``, ``nsample``), shared MLP on
    [relative xyz / radius, features], max pool. Returns (new_xyz (B, npoint, 3), new_features
    (B, mlp[-1], npoint), inds (B, npoint) int64 into the input points).

    ``inds`` may be given to skip sampling. ``prefix_fps=True`` declares that the input points are already in
    furthest-point order starting at index 0 (the output of an earlier SA module): FPS then provably
    returns ``0..npoint-1`` (greedy FPS on a prefix-closed ordering), so it is skipped.
    """

    def __init__(self, *, mlp: Sequence[int], npoint: int | None = None, radius: float | None = None,
                 nsample: int | None = None, bn: bool = True, use_xyz: bool = True,
                 normalize_xyz: bool = False, prefix_fps: bool = False) -> None:
        super().__init__()
        self.npoint, self.radius, self.nsample = npoint, radius, nsample
        self.use_xyz, self.normalize_xyz, self.prefix_fps = use_xyz, normalize_xyz, prefix_fps
        spec = list(mlp)
        if use_xyz:
            spec[0] += 3
        self.mlp_module = SharedMLP(spec, bn=bn)

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None = None,
                inds: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, _ = xyz.shape
        if self.npoint is None:  # group all
            new_xyz = xyz.new_zeros(b, 1, 3)
            grouped_xyz = xyz.transpose(1, 2).unsqueeze(2)  # (B, 3, 1, N)
            parts = [grouped_xyz] if self.use_xyz else []
            if features is not None:
                parts.append(features.unsqueeze(2))
            new_features = self.mlp_module(torch.cat(parts, 1))
            return new_xyz, new_features.max(-1)[0], torch.zeros(b, 1, dtype=torch.long, device=xyz.device)
        if inds is None:
            if self.prefix_fps and n >= self.npoint:
                inds = torch.arange(self.npoint, device=xyz.device).expand(b, -1)
            else:
                inds = _ops.furthest_point_sample(xyz, self.npoint)
        inds = inds.long()
        new_xyz = _ops.gather(xyz, inds)  # (B, M, 3)
        idx = _ops.ball_query(self.radius, self.nsample, xyz, new_xyz)  # (B, M, K)
        grouped_xyz = _ops.gather(xyz, idx) - new_xyz.unsqueeze(2)  # (B, M, K, 3)
        if self.normalize_xyz:
            grouped_xyz = grouped_xyz / self.radius
        parts = [grouped_xyz] if self.use_xyz else []
        if features is not None:
            parts.append(_ops.gather(features.transpose(1, 2).contiguous(), idx))  # (B, M, K, C)
        grouped = torch.cat(parts, -1).permute(0, 3, 1, 2).contiguous()  # (B, C, M, K)
        new_features = self.mlp_module(grouped)
        new_features = F.max_pool2d(new_features, kernel_size=[1, new_features.size(3)]).squeeze(-1)
        return new_xyz, new_features, inds


class PointnetFPModule(nn.Module):
    """Feature propagation: inverse-distance interpolation from the 3 nearest ``known`` points
    (weights 1/(d + 1e-8), d Euclidean), concatenated with the skip features, then a shared MLP."""

    def __init__(self, *, mlp: Sequence[int], bn: bool = True) -> None:
        super().__init__()
        self.mlp = SharedMLP(mlp, bn=bn)

    def forward(self, unknown: torch.Tensor, known: torch.Tensor, unknow_feats: torch.Tensor | None,
                known_feats: torch.Tensor) -> torch.Tensor:
        """unknown (B, n, 3), known (B, m, 3), unknow_feats (B, C1, n), known_feats (B, C2, m) ->
        (B, mlp[-1], n)."""
        d2, idx = _ops.three_nn(unknown, known)
        dist_recip = 1.0 / (torch.sqrt(d2.clamp_min(0)) + 1e-8)
        weight = dist_recip / dist_recip.sum(dim=2, keepdim=True)
        interp = _ops.three_interpolate(known_feats.transpose(1, 2).contiguous(), idx, weight)
        interp = interp.transpose(1, 2)
        new = torch.cat([interp, unknow_feats], 1) if unknow_feats is not None else interp
        return self.mlp(new.unsqueeze(-1)).squeeze(-1)
