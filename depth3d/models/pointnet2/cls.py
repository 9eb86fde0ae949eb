"""PointNet++ classification networks with the original configurations (Qi et al. 2017,
charlesq34/pointnet2 ``pointnet2_cls_ssg.py`` / ``pointnet2_cls_msg.py``)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from depth3d.models.pointnet2.modules import PointnetSAModule, PointnetSAModuleMSG


def _w(c: int, width: float) -> int:
    return max(8, int(round(c * width)))


def _head(num_classes: int, dropout: float, width: float = 1.0) -> nn.Sequential:
    """FC 1024-512-256-classes with BN, ReLU and dropout (reference: keep prob 0.5 -> dropout 0.5)."""
    return nn.Sequential(
        nn.Linear(_w(1024, width), _w(512, width), bias=False), nn.BatchNorm1d(_w(512, width)), nn.ReLU(True),
        nn.Dropout(dropout),
        nn.Linear(_w(512, width), _w(256, width), bias=False), nn.BatchNorm1d(_w(256, width)), nn.ReLU(True),
        nn.Dropout(dropout),
        nn.Linear(_w(256, width), num_classes))


def split_input(points: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(B, N, 3 + C) -> xyz (B, N, 3) and features (B, C, N) or None (e.g. normals when C == 3)."""
    if points.dim() != 3 or points.shape[-1] < 3:
        raise ValueError(f"points must be (B, N, 3 + C), got {tuple(points.shape)}")
    xyz = points[..., :3].contiguous()
    feats = points[..., 3:].transpose(1, 2).contiguous() if points.shape[-1] > 3 else None
    return xyz, feats


class _PointNet2Cls(nn.Module):
    """Three set abstractions ``sa1``, ``sa2``, ``sa3`` (global) and the FC ``head``, set by subclasses."""

    sa1: nn.Module
    sa2: nn.Module
    sa3: nn.Module
    head: nn.Module

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """points (B, N, 3 + in_channels) -> logits (B, num_classes)."""
        xyz, f = split_input(points)
        xyz, f, _ = self.sa1(xyz, f)
        xyz, f, _ = self.sa2(xyz, f)
        _, f, _ = self.sa3(xyz, f)
        return self.head(f.squeeze(-1))


class PointNet2ClsSSG(_PointNet2Cls):
    """SSG: SA(512, 0.2, 32, [64,64,128]) -> SA(128, 0.4, 64, [128,128,256]) -> SA(all, [256,512,1024]) -> FC.

    forward(points (B, N, 3 + in_channels)) -> logits (B, num_classes). Clouds are expected centred and
    scaled into the unit sphere (radii in those units).

    The defaults are the paper's; ``npoint``, ``nsample`` and ``width`` (channel multiplier) shrink the
    network for small CPU runs (e.g. 256-point clouds)."""

    def __init__(self, num_classes: int, in_channels: int = 0, dropout: float = 0.5,
                 npoint: tuple[int, int] = (512, 128), radius: tuple[float, float] = (0.2, 0.4),
                 nsample: tuple[int, int] = (32, 64), width: float = 1.0) -> None:
        super().__init__()
        w = lambda c: _w(c, width)  # noqa: E731
        self.sa1 = PointnetSAModule([in_channels, w(64), w(64), w(128)], npoint=npoint[0], radius=radius[0],
                                    nsample=nsample[0])
        self.sa2 = PointnetSAModule([w(128), w(128), w(128), w(256)], npoint=npoint[1], radius=radius[1],
                                    nsample=nsample[1])
        self.sa3 = PointnetSAModule([w(256), w(256), w(512), w(1024)])
        self.head = _head(num_classes, dropout, width)


class PointNet2ClsMSG(_PointNet2Cls):
    """MSG: SA(512, radii 0.1/0.2/0.4, 16/32/128, [[32,32,64],[64,64,128],[64,96,128]]) ->
    SA(128, radii 0.2/0.4/0.8, 32/64/128, [[64,64,128],[128,128,256],[128,128,256]]) ->
    SA(all, [256,512,1024]) -> FC.  forward(points (B, N, 3 + in_channels)) -> logits (B, num_classes).

    Defaults are the paper's; ``npoint``, ``nsamples`` (per layer, per scale) and ``width`` shrink it."""

    def __init__(self, num_classes: int, in_channels: int = 0, dropout: float = 0.5,
                 npoint: tuple[int, int] = (512, 128),
                 nsamples: tuple[tuple[int, ...], tuple[int, ...]] = ((16, 32, 128), (32, 64, 128)),
                 width: float = 1.0) -> None:
        super().__init__()
        c = in_channels
        w = lambda x: _w(x, width)  # noqa: E731
        m1 = [[c, w(32), w(32), w(64)], [c, w(64), w(64), w(128)], [c, w(64), w(96), w(128)]]
        self.sa1 = PointnetSAModuleMSG(npoint[0], [0.1, 0.2, 0.4], list(nsamples[0]), m1)
        c1 = sum(m[-1] for m in m1)
        m2 = [[c1, w(64), w(64), w(128)], [c1, w(128), w(128), w(256)], [c1, w(128), w(128), w(256)]]
        self.sa2 = PointnetSAModuleMSG(npoint[1], [0.2, 0.4, 0.8], list(nsamples[1]), m2)
        self.sa3 = PointnetSAModule([sum(m[-1] for m in m2), w(256), w(512), w(1024)])
        self.head = _head(num_classes, dropout, width)
