"""VoteNet 3D object detection, faithful to facebookresearch/votenet (see :mod:`.model` for loading the
released checkpoints)."""

from depth3d.models.votenet.config import DatasetConfig, scannet_config, sunrgbd_config
from depth3d.models.votenet.model import (Pointnet2Backbone, ProposalModule, VoteNet, VotingModule,
                                          build_votenet, fold_batchnorm, load_checkpoint, save_checkpoint, micro_config, small_config, tiny_config)

__all__ = ["DatasetConfig", "sunrgbd_config", "scannet_config", "VoteNet", "Pointnet2Backbone",
           "VotingModule", "ProposalModule", "build_votenet", "fold_batchnorm", "small_config", "tiny_config", "micro_config", "save_checkpoint",
           "load_checkpoint"]
