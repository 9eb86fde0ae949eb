"""PointNet++ (Qi et al., NeurIPS 2017): set abstraction (SSG/MSG), feature propagation, heads."""

from depth3d.models.pointnet2.cls import PointNet2ClsMSG, PointNet2ClsSSG
from depth3d.models.pointnet2.modules import (PointnetFPModule, PointnetSAModule, PointnetSAModuleMSG,
                                              SharedMLP)
from depth3d.models.pointnet2.seg import PointNet2SemSegSSG

__all__ = ["PointnetSAModule", "PointnetSAModuleMSG", "PointnetFPModule", "SharedMLP", "PointNet2ClsSSG",
           "PointNet2ClsMSG", "PointNet2SemSegSSG"]
