"""PointNet++ semantic segmentation (SSG, charlesq34/pointnet2 ``pointnet2_sem_seg.py`` configuration)."""

from __future__ import annotations

import torch
import torch.nn as nn

from depth3d.models.pointnet2.cls import split_input
from depth3d.models.pointnet2.modules import PointnetFPModule, PointnetSAModule


class PointNet2SemSegSSG(nn.Module):
    """SA(1024,0.1,32,[32,32,64]) SA(256,0.2,32,[64,64,128]) SA(64,0.4,32,[128,128,256])
    SA(16,0.8,32,[256,256,512]); FP [256,256] [256,256] [256,128] [128,128,128]; conv 128 -> classes.

    ``scale`` multiplies the radii (the reference uses metres on 1.5 m ScanNet blocks; 1.0 keeps them).
    forward(points (B, N, 3 + in_channels)) -> per-point logits (B, num_classes, N)."""

    def __init__(self, num_classes: int, in_channels: int = 0, dropout: float = 0.5, scale: float = 1.0,
                 npoints: tuple[int, int, int, int] = (1024, 256, 64, 16)) -> None:
        super().__init__()
        c = in_channels
        r = [0.1 * scale, 0.2 * scale, 0.4 * scale, 0.8 * scale]
        self.sa1 = PointnetSAModule([c, 32, 32, 64], npoints[0], r[0], 32)
        self.sa2 = PointnetSAModule([64, 64, 64, 128], npoints[1], r[1], 32)
        self.sa3 = PointnetSAModule([128, 128, 128, 256], npoints[2], r[2], 32)
        self.sa4 = PointnetSAModule([256, 256, 256, 512], npoints[3], r[3], 32)
        self.fp4 = PointnetFPModule([512 + 256, 256, 256])
        self.fp3 = PointnetFPModule([256 + 128, 256, 256])
        self.fp2 = PointnetFPModule([256 + 64, 256, 128])
        self.fp1 = PointnetFPModule([128 + c, 128, 128, 128])
        self.head = nn.Sequential(nn.Conv1d(128, 128, 1, bias=False), nn.BatchNorm1d(128), nn.ReLU(True),
                                  nn.Dropout(dropout), nn.Conv1d(128, num_classes, 1))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        xyz0, f0 = split_input(points)
        xyz1, f1, _ = self.sa1(xyz0, f0)
        xyz2, f2, _ = self.sa2(xyz1, f1)
        xyz3, f3, _ = self.sa3(xyz2, f2)
        xyz4, f4, _ = self.sa4(xyz3, f3)
        f3 = self.fp4(xyz3, xyz4, f3, f4)
        f2 = self.fp3(xyz2, xyz3, f2, f3)
        f1 = self.fp2(xyz1, xyz2, f1, f2)
        f0 = self.fp1(xyz0, xyz1, f0, f1)
        return self.head(f0)
