"""PointNet++ building blocks on :mod:`depth3d.ops`, with the module/parameter names of the official
PyTorch code (erikwijmans/Pointnet2_PyTorch as used by facebookresearch/votenet). The one module set of
the toolkit: the classifiers, the segmentation net and VoteNet (:mod:`depth3d.models.votenet`) use it, and
the released VoteNet state dicts load into it by name (no key renaming):

* ``SharedMLP`` is an ``nn.Sequential`` of ``layer{i}`` blocks, each holding ``conv`` (1x1 ``nn.Conv2d``,
  no bias when batch norm follows), ``bn`` (wrapper whose child ``bn`` is the ``nn.BatchNorm2d``) and
  ``activation``: parameters are ``mlp_module.layer0.conv.weight``, ``mlp_module.layer0.bn.bn.weight``.
* single-scale SA keeps its MLP in ``mlp_module`` (VoteNet naming), multi-scale SA in ``mlps.{i}``, FP in
  ``mlp``.

Tensor layout (as in the reference code): xyz ``(B, N, 3)`` float32 (any consistent unit; the paper's
radii assume clouds normalised to the unit sphere), features ``(B, C, N)`` channels-first.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn

from depth3d import ops


class _BNBase(nn.Sequential):
    """Batch norm wrapped once more so its parameters are named ``bn.bn.*`` (reference layout)."""

    def __init__(self, in_size: int, batch_norm=nn.BatchNorm2d) -> None:
        super().__init__()
        self.add_module("bn", batch_norm(in_size))
        nn.init.constant_(self[0].weight, 1.0)
        nn.init.constant_(self[0].bias, 0)


class MLPLayer(nn.Sequential):
    """1x1 ``conv`` (``nn.Conv2d``) + optional ``bn`` + ``activation``: one layer of a :class:`SharedMLP`
    (reference ``pytorch_utils.Conv2d``; children named as there)."""

    def __init__(self, in_size: int, out_size: int, *, bn: bool = True,
                 activation: Optional[nn.Module] = None) -> None:
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
    """Point-wise MLP on ``(B, C, M, K)``: ``layer{i}`` = Conv2d(args[i] -> args[i+1]) + BN + ReLU."""

    def __init__(self, args: Sequence[int], *, bn: bool = True) -> None:
        super().__init__()
        for i in range(len(args) - 1):
            self.add_module(f"layer{i}", MLPLayer(args[i], args[i + 1], bn=bn, activation=nn.ReLU(inplace=True)))


def sample_and_group(xyz: torch.Tensor, features: Optional[torch.Tensor], new_xyz: torch.Tensor,
                     radius: float, nsample: int, use_xyz: bool = True,
                     normalize_xyz: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Ball-query grouping (PointNet++ ``QueryAndGroup``).

    Args:
        xyz: (B, N, 3) points; features: (B, C, N) or None; new_xyz: (B, M, 3) centroids.
    Returns:
        grouped (B, 3 + C (use_xyz) or C, M, nsample) with xyz relative to the centroid (divided by
        ``radius`` when ``normalize_xyz``), and idx (B, M, nsample) int64.
    """
    _, idx = ops.ball_query(new_xyz.contiguous(), xyz.contiguous(), radius, nsample)
    # rows without any neighbour are -1: index 0 as the reference CUDA kernel (a centroid taken from xyz
    # always finds itself, so this only happens for centroids given from elsewhere)
    idx = idx.clamp_min(0)
    g_xyz = ops.group(xyz, idx) - new_xyz.unsqueeze(2)  # (B, M, K, 3)
    if normalize_xyz:
        g_xyz = g_xyz / radius
    parts = [g_xyz] if use_xyz or features is None else []
    if features is not None:
        parts.append(ops.group(features.transpose(1, 2).contiguous(), idx))  # (B, M, K, C)
    return torch.cat(parts, -1).permute(0, 3, 1, 2).contiguous(), idx


def group_all(xyz: torch.Tensor, features: Optional[torch.Tensor], use_xyz: bool = True) -> torch.Tensor:
    """All points in one group (``GroupAll``): (B, 3 + C, 1, N); xyz are NOT centred (as in the reference)."""
    parts = [xyz.transpose(1, 2).unsqueeze(2)] if use_xyz or features is None else []
    if features is not None:
        parts.append(features.unsqueeze(2))
    return torch.cat(parts, 1)


class PointnetSAModule(nn.Module):
    """Single-scale-grouping set abstraction: FPS ``npoint`` centroids, ball query (``radius``,
    ``nsample``), shared MLP ``mlp`` (input channel count first, WITHOUT the +3 for xyz), max pool
    (reference ``PointnetSAModule`` / VoteNet's ``PointnetSAModuleVotes``; MLP in ``mlp_module``).

    ``npoint=None`` groups all points (the last classification layer). ``prefix_fps=True`` declares that
    the input points are already in furthest-point order starting at index 0 (the output of an earlier SA
    module): FPS then provably returns ``0..npoint-1`` (greedy FPS on a prefix-closed ordering) and is
    skipped.

    forward(xyz (B, N, 3), features (B, C, N) or None, inds (B, npoint) int64 or None: centroids given
    instead of sampled) -> (new_xyz (B, npoint, 3) or None, new_features (B, mlp[-1], npoint or 1),
    inds (B, npoint) int64 into the input points, or None for group-all)."""

    def __init__(self, mlp: Sequence[int], npoint: Optional[int] = None, radius: Optional[float] = None,
                 nsample: Optional[int] = None, bn: bool = True, use_xyz: bool = True,
                 normalize_xyz: bool = False, prefix_fps: bool = False) -> None:
        super().__init__()
        if npoint is not None and (radius is None or nsample is None):
            raise ValueError("PointnetSAModule: npoint needs radius and nsample")
        self.npoint, self.radius, self.nsample = npoint, radius, nsample
        self.use_xyz, self.normalize_xyz, self.prefix_fps = use_xyz, normalize_xyz, prefix_fps
        spec = list(mlp)
        if use_xyz:
            spec[0] += 3
        self.mlp_module = SharedMLP(spec, bn=bn)

    def forward(self, xyz: torch.Tensor, features: Optional[torch.Tensor] = None,
                inds: Optional[torch.Tensor] = None):
        if self.npoint is None:
            grouped = group_all(xyz, features, self.use_xyz)
            return None, self.mlp_module(grouped).amax(-1), None
        b, n, _ = xyz.shape
        if inds is None:
            if self.prefix_fps and n >= self.npoint:
                inds = torch.arange(self.npoint, device=xyz.device).expand(b, -1)
            else:
                # TODO(ops): the official PointNet++ CUDA FPS skips points with |p| <= 1e-3 (e.g. zero
                # padding at the origin); depth3d.ops.furthest_point_sample has no such option yet, so such
                # points can be sampled here
                inds = ops.furthest_point_sample(xyz.detach().contiguous(), self.npoint)
        inds = inds.long()
        new_xyz = ops.gather(xyz, inds)
        grouped, _ = sample_and_group(xyz, features, new_xyz, self.radius, self.nsample, self.use_xyz,
                                      self.normalize_xyz)
        return new_xyz, self.mlp_module(grouped).amax(-1), inds


class PointnetSAModuleMSG(nn.Module):
    """Multi-scale-grouping set abstraction: one FPS, then per scale i a ball query (radii[i],
    nsamples[i]) and shared MLP ``mlps[i]`` (``mlps.{i}.layer{j}...``); scale features are concatenated.

    forward(xyz (B, N, 3), features (B, C, N) or None) -> (new_xyz (B, npoint, 3),
    new_features (B, sum(mlp[-1]), npoint), fps_idx)."""

    def __init__(self, npoint: int, radii: Sequence[float], nsamples: Sequence[int],
                 mlps: Sequence[Sequence[int]], bn: bool = True, use_xyz: bool = True,
                 normalize_xyz: bool = False) -> None:
        super().__init__()
        if not (len(radii) == len(nsamples) == len(mlps)):
            raise ValueError("PointnetSAModuleMSG: radii, nsamples and mlps must have one entry per scale")
        self.npoint, self.radii, self.nsamples = npoint, list(radii), list(nsamples)
        self.use_xyz, self.normalize_xyz = use_xyz, normalize_xyz
        self.mlps = nn.ModuleList()
        for spec in mlps:
            spec = list(spec)
            if use_xyz:
                spec[0] += 3
            self.mlps.append(SharedMLP(spec, bn=bn))

    def forward(self, xyz: torch.Tensor, features: Optional[torch.Tensor] = None):
        fps_idx = ops.furthest_point_sample(xyz.detach(), self.npoint)
        new_xyz = ops.gather(xyz, fps_idx)
        outs = []
        for r, k, mlp in zip(self.radii, self.nsamples, self.mlps):
            grouped, _ = sample_and_group(xyz, features, new_xyz, r, k, self.use_xyz, self.normalize_xyz)
            outs.append(mlp(grouped).amax(-1))
        return new_xyz, torch.cat(outs, 1), fps_idx


class PointnetFPModule(nn.Module):
    """Feature propagation: inverse-distance interpolation from the three nearest known points, concat
    with skip features, shared MLP ``mlp`` (first entry = interpolated C2 + skip C1 channels).

    forward(unknown (B, n, 3), known (B, m, 3) or None, unknow_feats (B, C1, n) or None,
    known_feats (B, C2, m)) -> (B, mlp[-1], n)."""

    def __init__(self, mlp: Sequence[int], bn: bool = True) -> None:
        super().__init__()
        self.mlp = SharedMLP(list(mlp), bn=bn)

    def forward(self, unknown: torch.Tensor, known: Optional[torch.Tensor],
                unknow_feats: Optional[torch.Tensor], known_feats: torch.Tensor) -> torch.Tensor:
        if known is None:  # from a group-all layer: broadcast the global feature
            interp = known_feats.expand(-1, -1, unknown.shape[1])
        else:
            d2, idx = ops.three_nn(unknown, known)
            w = 1.0 / (d2.clamp_min(0).sqrt() + 1e-8)
            w = w / w.sum(-1, keepdim=True)
            interp = ops.three_interpolate(known_feats.transpose(1, 2).contiguous(), idx, w).transpose(1, 2)
        x = torch.cat([interp, unknow_feats], 1) if unknow_feats is not None else interp
        return self.mlp(x.unsqueeze(-1)).squeeze(-1)
