"""PointNet++ classification networks with the original configurations (Qi et al. 2017,
charlesq34/pointnet2 ``pointnet2_cls_ssg.py`` / ``pointnet2_cls_msg.py``)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from depth3d.models.pointnet2.modules import PointnetSAModule, PointnetSAModuleMSG


def _head(num_classes: int, dropout: float) -> nn.Sequential:
    """FC 1024-512-256-classes with BN, ReLU and dropout (reference: keep prob 0.5 -> dropout 0.5)."""
    return nn.Sequential(
        nn.Linear(1024, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(True), nn.Dropout(dropout),
        nn.Linear(512, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(True), nn.Dropout(dropout),
        nn.Linear(256, num_classes))


def split_input(points: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(B, N, 3 + C) -> xyz (B, N, 3) and features (B, C, N) or None (e.g. normals when C == 3)."""
    if points.dim() != 3 or points.shape[-1] < 3:
        raise ValueError(f"points must be (B, N, 3 + C), got {tuple(points.shape)}")
    xyz = points[..., :3].contiguous()
    feats = points[..., 3:].transpose(1, 2).contiguous() if points.shape[-1] > 3 else None
    return xyz, feats


class PointNet2ClsSSG(nn.Module):
    """SSG: SA(512, 0.2, 32, [64,64,128]) -> SA(128, 0.4, 64, [128,128,256]) -> SA(all, [256,512,1024]) -> FC.

    forward(points (B, N, 3 + in_channels)) -> logits (B, num_classes). Clouds are expected centred and
    scaled into the unit sphere (radii in those units)."""

    def __init__(self, num_classes: int, in_channels: int = 0, dropout: float = 0.5) -> None:
        super().__init__()
        self.sa1 = PointnetSAModule([in_channels, 64, 64, 128], npoint=512, radius=0.2, nsample=32)
        self.sa2 = PointnetSAModule([128, 128, 128, 256], npoint=128, radius=0.4, nsample=64)
        self.sa3 = PointnetSAModule([256, 256, 512, 1024])
        self.head = _head(num_classes, dropout)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        xyz, f = split_input(points)
        xyz, f, _ = self.sa1(xyz, f)
        xyz, f, _ = self.sa2(xyz, f)
        _, f, _ = self.sa3(xyz, f)
        return self.head(f.squeeze(-1))


class PointNet2ClsMSG(nn.Module):
    """MSG: SA(512, radii 0.1/0.2/0.4, 16/32/128, [[32,32,64],[64,64,128],[64,96,128]]) ->
    SA(128, radii 0.2/0.4/0.8, 32/64/128, [[64,64,128],[128,128,256],[128,128,256]]) ->
    SA(all, [256,512,1024]) -> FC.  forward(points (B, N, 3 + in_channels)) -> logits (B, num_classes)."""

    def __init__(self, num_classes: int, in_channels: int = 0, dropout: float = 0.5) -> None:
        super().__init__()
        c = in_channels
        self.sa1 = PointnetSAModuleMSG(512, [0.1, 0.2, 0.4], [16, 32, 128],
                                       [[c, 32, 32, 64], [c, 64, 64, 128], [c, 64, 96, 128]])
        c1 = 64 + 128 + 128
        self.sa2 = PointnetSAModuleMSG(128, [0.2, 0.4, 0.8], [32, 64, 128],
                                       [[c1, 64, 64, 128], [c1, 128, 128, 256], [c1, 128, 128, 256]])
        self.sa3 = PointnetSAModule([128 + 256 + 256, 256, 512, 1024])
        self.head = _head(num_classes, dropout)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        xyz, f = split_input(points)
        xyz, f, _ = self.sa1(xyz, f)
        xyz, f, _ = self.sa2(xyz, f)
        _, f, _ = self.sa3(xyz, f)
        return self.head(f.squeeze(-1))
