"""VoteNet 3D object detection, faithful to facebookresearch/votenet (see :mod:`.checkpoint` for loading
checkpoints, the released ones included)."""

from depth3d.models.votenet.config import DatasetConfig, scannet_config, sunrgbd_config
from depth3d.models.votenet.model import (MODEL_CONFIGS, Pointnet2Backbone, ProposalModule, VoteNet, VotingModule,
                                          build_votenet, fold_batchnorm, micro_config, small_config, tiny_config)
from depth3d.models.votenet.checkpoint import CheckpointError, load_votenet, save_checkpoint  # noqa: E402,I001

__all__ = ["DatasetConfig", "sunrgbd_config", "scannet_config", "VoteNet", "Pointnet2Backbone", "VotingModule",
           "ProposalModule", "build_votenet", "MODEL_CONFIGS", "fold_batchnorm", "small_config", "tiny_config",
           "micro_config", "save_checkpoint", "load_votenet", "CheckpointError"]
