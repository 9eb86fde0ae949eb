"""VoteNet (Qi et al., ICCV 2019) with the module layout of facebookresearch/votenet ``models/``.

Loading the released checkpoints (``demo_files/pretrained_votenet_on_sunrgbd.tar`` /
``..._on_scannet.tar`` of the reference repository), like every other VoteNet checkpoint::

    from depth3d.models.votenet import load_votenet
    net, dataset_cfg, info = load_votenet("pretrained_votenet_on_sunrgbd.tar")   # weights_only, strict

(the parameter names of the reference come from the module structure, :mod:`depth3d.models.pointnet2`). Input
``point_clouds``: (B, N, 3 + input_feature_dim) float32: x, y, z in the upright depth frame (x right,
y forward, z up, metres) followed by the features (the height above the floor, ``z - percentile(z, 0.99)``,
for the released models).

``width`` (default 1.0) scales every hidden width, and ``npoints``/``nsamples``/``num_seed``-related
settings are configurable for small CPU models; with the defaults the parameter names and shapes equal the
reference's (tests/models/test_votenet.py).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from depth3d import ops
from depth3d.models.pointnet2.modules import MLPLayer, PointnetFPModule, PointnetSAModule, linear_relu
from depth3d.models.votenet.config import (MODEL_CONFIG_REGISTRY, MODEL_CONFIGS, DatasetConfig, micro_config,  # noqa: F401
                                           small_config, tiny_config)


def _w(c: int, width: float) -> int:
    return max(4, int(round(c * width)))


class Pointnet2Backbone(nn.Module):
    """Four SA layers (2048/0.2/64, 1024/0.4/32, 512/0.8/16, 256/1.2/16 by default) and two FP layers;
    seeds = the 2nd SA level (``npoints[1]`` points) with ``fp`` width features."""

    def __init__(self, input_feature_dim: int = 0, *, npoints: Sequence[int] = (2048, 1024, 512, 256),
                 radii: Sequence[float] = (0.2, 0.4, 0.8, 1.2), nsamples: Sequence[int] = (64, 32, 16, 16),
                 width: float = 1.0, prefix_fps: bool = True) -> None:
        super().__init__()
        c64, c128, c256 = _w(64, width), _w(128, width), _w(256, width)
        mlps = [[input_feature_dim, c64, c64, c128], [c128, c128, c128, c256], [c256, c128, c128, c256],
                [c256, c128, c128, c256]]
        for i in range(4):
            self.add_module(f"sa{i + 1}", PointnetSAModule(
                npoint=npoints[i], radius=radii[i], nsample=nsamples[i], mlp=mlps[i], use_xyz=True,
                normalize_xyz=True, prefix_fps=prefix_fps and i > 0))
        self.fp1 = PointnetFPModule(mlp=[c256 + c256, c256, c256])
        self.fp2 = PointnetFPModule(mlp=[c256 + c256, c256, c256])
        self.out_dim = c256

    def forward(self, pointcloud: torch.Tensor, end_points: dict | None = None) -> dict:
        end_points = {} if end_points is None else end_points
        xyz = pointcloud[..., 0:3].contiguous()
        features = pointcloud[..., 3:].transpose(1, 2).contiguous() if pointcloud.size(-1) > 3 else None
        for i in range(1, 5):
            xyz, features, inds = getattr(self, f"sa{i}")(xyz, features)
            end_points[f"sa{i}_inds"], end_points[f"sa{i}_xyz"], end_points[f"sa{i}_features"] = inds, xyz, features
        f = self.fp1(end_points["sa3_xyz"], end_points["sa4_xyz"], end_points["sa3_features"],
                     end_points["sa4_features"])
        f = self.fp2(end_points["sa2_xyz"], end_points["sa3_xyz"], end_points["sa2_features"], f)
        end_points["fp2_features"] = f
        end_points["fp2_xyz"] = end_points["sa2_xyz"]
        num_seed = end_points["fp2_xyz"].shape[1]
        end_points["fp2_inds"] = end_points["sa1_inds"][:, 0:num_seed]  # as the reference (FPS prefix)
        return end_points


class VotingModule(nn.Module):
    """Per seed: ``vote_factor`` votes = seed xyz + offset, seed feature + residual (conv1..3, bn1..2)."""

    def __init__(self, vote_factor: int, seed_feature_dim: int) -> None:
        super().__init__()
        self.vote_factor = vote_factor
        self.in_dim = seed_feature_dim
        self.out_dim = self.in_dim
        self.conv1 = nn.Conv1d(self.in_dim, self.in_dim, 1)
        self.conv2 = nn.Conv1d(self.in_dim, self.in_dim, 1)
        self.conv3 = nn.Conv1d(self.in_dim, (3 + self.out_dim) * self.vote_factor, 1)
        self.bn1 = nn.BatchNorm1d(self.in_dim)
        self.bn2 = nn.BatchNorm1d(self.in_dim)
        self.fast_inference = False

    def forward(self, seed_xyz: torch.Tensor, seed_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """seed_xyz (B, S, 3), seed_features (B, C, S) -> vote_xyz (B, S*vf, 3), vote_features (B, C, S*vf)."""
        b, s = seed_xyz.shape[:2]
        num_vote = s * self.vote_factor
        if self.fast_inference:  # channels-last matmuls (folded batch norms, see fold_batchnorm)
            net = _linear_head(seed_features.transpose(1, 2), self.conv1, self.conv2, self.conv3)
        else:
            net = F.relu(self.bn1(self.conv1(seed_features)))
            net = F.relu(self.bn2(self.conv2(net)))
            net = self.conv3(net).transpose(2, 1)
        net = net.reshape(b, s, self.vote_factor, 3 + self.out_dim)
        vote_xyz = (seed_xyz.unsqueeze(2) + net[:, :, :, 0:3]).reshape(b, num_vote, 3)
        vote_features = seed_features.transpose(2, 1).unsqueeze(2) + net[:, :, :, 3:]
        vote_features = vote_features.reshape(b, num_vote, self.out_dim).transpose(2, 1)
        return vote_xyz, (vote_features if self.fast_inference else vote_features.contiguous())


def _linear_head(x: torch.Tensor, conv1: nn.Conv1d, conv2: nn.Conv1d, conv3: nn.Conv1d) -> torch.Tensor:
    """conv1 + ReLU, conv2 + ReLU, conv3 (1x1, batch norms folded into them) on channels-last rows:
    x (B, S, C) -> (B, S, conv3 out)."""
    x = linear_relu(x, conv1.weight.flatten(1), conv1.bias)
    x = linear_relu(x, conv2.weight.flatten(1), conv2.bias)
    return linear_relu(x, conv3.weight.flatten(1), conv3.bias, relu=False)


def decode_scores(net: torch.Tensor, end_points: dict, num_class: int, num_heading_bin: int,
                  num_size_cluster: int, mean_size_arr: torch.Tensor) -> dict:
    """Split the proposal head output (B, 2+3+2NH+4NS+NC, K) into named end points (reference layout)."""
    nt = net.transpose(2, 1)
    b, k = nt.shape[:2]
    end_points["objectness_scores"] = nt[:, :, 0:2]
    end_points["center"] = end_points["aggregated_vote_xyz"] + nt[:, :, 2:5]
    o = 5
    end_points["heading_scores"] = nt[:, :, o:o + num_heading_bin]
    hr = nt[:, :, o + num_heading_bin:o + 2 * num_heading_bin]
    end_points["heading_residuals_normalized"] = hr
    end_points["heading_residuals"] = hr * (np.pi / num_heading_bin)
    o += 2 * num_heading_bin
    end_points["size_scores"] = nt[:, :, o:o + num_size_cluster]
    sr = nt[:, :, o + num_size_cluster:o + 4 * num_size_cluster].reshape(b, k, num_size_cluster, 3)
    end_points["size_residuals_normalized"] = sr
    end_points["size_residuals"] = sr * mean_size_arr.to(sr)[None, None]
    end_points["sem_cls_scores"] = nt[:, :, o + 4 * num_size_cluster:]
    return end_points


class ProposalModule(nn.Module):
    """Vote aggregation (SA with radius 0.3, 16 samples, ``num_proposal`` centres chosen by
    ``vote_fps``/``seed_fps``/``random``) and the proposal head conv1..3 / bn1..2."""

    def __init__(self, num_class: int, num_heading_bin: int, num_size_cluster: int, mean_size_arr: np.ndarray,
                 num_proposal: int, sampling: str, seed_feat_dim: int = 256, *, width: float = 1.0,
                 radius: float = 0.3, nsample: int = 16) -> None:
        super().__init__()
        if sampling not in ("vote_fps", "seed_fps", "random"):
            raise ValueError(f"sampling must be vote_fps, seed_fps or random, got {sampling!r}")
        self.num_class, self.num_heading_bin, self.num_size_cluster = num_class, num_heading_bin, num_size_cluster
        self.register_buffer("mean_size_arr", torch.as_tensor(np.asarray(mean_size_arr, np.float32)),
                             persistent=False)
        self.num_proposal, self.sampling, self.seed_feat_dim = num_proposal, sampling, seed_feat_dim
        c = _w(128, width)
        self.vote_aggregation = PointnetSAModule(npoint=num_proposal, radius=radius, nsample=nsample,
                                                      mlp=[seed_feat_dim, c, c, c], use_xyz=True,
                                                      normalize_xyz=True)
        self.conv1 = nn.Conv1d(c, c, 1)
        self.conv2 = nn.Conv1d(c, c, 1)
        self.conv3 = nn.Conv1d(c, 2 + 3 + num_heading_bin * 2 + num_size_cluster * 4 + num_class, 1)
        self.bn1 = nn.BatchNorm1d(c)
        self.bn2 = nn.BatchNorm1d(c)
        self.fast_inference = False
        #: FPS ``skip_near_origin`` for ``seed_fps`` sampling (see :meth:`VoteNet.use_official_sampling`)
        self.fps_skip_near_origin: float | None = None

    def forward(self, xyz: torch.Tensor, features: torch.Tensor, end_points: dict) -> dict:
        if self.sampling == "vote_fps":
            xyz, features, sample_inds = self.vote_aggregation(xyz, features)
        elif self.sampling == "seed_fps":
            sample_inds = ops.furthest_point_sample(end_points["seed_xyz"].detach().contiguous(), self.num_proposal,
                                                    skip_near_origin=self.fps_skip_near_origin)
            xyz, features, _ = self.vote_aggregation(xyz, features, sample_inds)
        else:
            num_seed = end_points["seed_xyz"].shape[1]
            sample_inds = torch.randint(0, num_seed, (xyz.shape[0], self.num_proposal), device=xyz.device)
            xyz, features, _ = self.vote_aggregation(xyz, features, sample_inds)
        end_points["aggregated_vote_xyz"] = xyz
        end_points["aggregated_vote_inds"] = sample_inds
        if self.fast_inference:  # channels-last matmuls (folded batch norms, see fold_batchnorm)
            net = _linear_head(features.transpose(1, 2), self.conv1, self.conv2, self.conv3).transpose(1, 2)
        else:
            net = F.relu(self.bn1(self.conv1(features)))
            net = F.relu(self.bn2(self.conv2(net)))
            net = self.conv3(net)
        return decode_scores(net, end_points, self.num_class, self.num_heading_bin, self.num_size_cluster,
                             self.mean_size_arr)


class VoteNet(nn.Module):
    """VoteNet: backbone_net -> vgen (votes, features L2-normalised) -> pnet (proposals).

    forward(inputs) takes ``{"point_clouds": (B, N, 3 + input_feature_dim)}`` (or the tensor itself) and
    returns the reference's end-points dict (``objectness_scores`` (B, K, 2), ``center`` (B, K, 3),
    ``heading_scores``/``heading_residuals`` (B, K, NH), ``size_scores`` (B, K, NS), ``size_residuals``
    (B, K, NS, 3), ``sem_cls_scores`` (B, K, NC), ``seed_*``, ``vote_*``, ...).
    """

    def __init__(self, num_class: int, num_heading_bin: int, num_size_cluster: int, mean_size_arr: np.ndarray,
                 input_feature_dim: int = 0, num_proposal: int = 128, vote_factor: int = 1,
                 sampling: str = "vote_fps", *, npoints: Sequence[int] = (2048, 1024, 512, 256),
                 radii: Sequence[float] = (0.2, 0.4, 0.8, 1.2), nsamples: Sequence[int] = (64, 32, 16, 16),
                 width: float = 1.0, prefix_fps: bool = True) -> None:
        super().__init__()
        self.num_class, self.num_heading_bin, self.num_size_cluster = num_class, num_heading_bin, num_size_cluster
        self.input_feature_dim, self.num_proposal, self.vote_factor = input_feature_dim, num_proposal, vote_factor
        self.sampling = sampling
        self.hparams = dict(num_class=num_class, num_heading_bin=num_heading_bin,
                            num_size_cluster=num_size_cluster,
                            mean_size_arr=np.asarray(mean_size_arr, np.float32).tolist(),
                            input_feature_dim=input_feature_dim, num_proposal=num_proposal,
                            vote_factor=vote_factor, sampling=sampling, npoints=list(npoints), radii=list(radii),
                            nsamples=list(nsamples), width=width, prefix_fps=prefix_fps)
        self.backbone_net = Pointnet2Backbone(input_feature_dim, npoints=npoints, radii=radii, nsamples=nsamples,
                                              width=width, prefix_fps=prefix_fps)
        seed_dim = self.backbone_net.out_dim
        self.vgen = VotingModule(vote_factor, seed_dim)
        self.pnet = ProposalModule(num_class, num_heading_bin, num_size_cluster, mean_size_arr, num_proposal,
                                   sampling, seed_feat_dim=seed_dim, width=width)

    @classmethod
    def from_dataset_config(cls, cfg: DatasetConfig, **kwargs) -> "VoteNet":
        return cls(cfg.num_class, cfg.num_heading_bin, cfg.num_size_cluster, cfg.mean_size_arr, **kwargs)

    @property
    def min_points(self) -> int:
        """Fewest input points the model accepts (the first SA layer samples this many)."""
        return int(self.hparams["npoints"][0])

    def use_official_sampling(self, skip_near_origin: float | None = 1e-3) -> "VoteNet":
        """Sample as the official PointNet++/VoteNet CUDA kernel does: FPS never picks points with
        ``x*x + y*y + z*z <= 1e-3`` (zero padding from invalid depth). Applied to every set abstraction
        and to ``seed_fps`` proposal sampling; ``None`` restores depth3d's default (every point can be
        sampled). Used for the released checkpoints; returns ``self``."""
        for m in self.modules():
            if hasattr(m, "fps_skip_near_origin"):
                m.fps_skip_near_origin = skip_near_origin
        return self

    def forward(self, inputs) -> dict:
        pc = inputs["point_clouds"] if isinstance(inputs, dict) else inputs
        if pc.dim() != 3 or pc.shape[-1] != 3 + self.input_feature_dim:
            raise ValueError(f"point_clouds must be (B, N, {3 + self.input_feature_dim}), got {tuple(pc.shape)}")
        if pc.shape[1] < self.min_points:
            raise ValueError(f"point_clouds has {pc.shape[1]} points; this model samples {self.min_points}")
        end_points = self.backbone_net(pc, {})
        xyz, features = end_points["fp2_xyz"], end_points["fp2_features"]
        end_points["seed_inds"] = end_points["fp2_inds"]
        end_points["seed_xyz"] = xyz
        end_points["seed_features"] = features
        xyz, features = self.vgen(xyz, features)
        features = features.div(torch.norm(features, p=2, dim=1).unsqueeze(1))
        end_points["vote_xyz"] = xyz
        end_points["vote_features"] = features
        return self.pnet(xyz, features, end_points)


def build_votenet(cfg: DatasetConfig, config: str = "full", **overrides) -> VoteNet:
    """The one VoteNet builder: the network for dataset config ``cfg`` with a height feature
    (``input_feature_dim=1``), 256 proposals, ``vote_fps`` sampling, at size ``config`` (one of
    :data:`MODEL_CONFIGS`: ``full`` the paper's, or :func:`small_config`, :func:`tiny_config`,
    :func:`micro_config`); ``overrides``: any other :class:`VoteNet` keyword (num_proposal, sampling, ...)."""
    sizes = MODEL_CONFIG_REGISTRY.get(config)  # InputError (a ValueError) listing the sizes if unknown
    kw = dict(input_feature_dim=1, num_proposal=256, sampling="vote_fps")
    kw.update(sizes())
    kw.update(overrides)
    return VoteNet.from_dataset_config(cfg, **kw)


def fold_batchnorm(net: VoteNet, fast: bool = True) -> VoteNet:
    """A copy of ``net`` for inference with every batch norm folded into the 1x1 convolution before it.

    Eval-mode batch norm is an affine map per channel, so ``bn(conv(x)) == conv'(x)`` with scaled weights and
    a shifted bias: the same outputs up to float rounding, with 69 normalisation passes fewer in the full
    configuration. ``fast`` (default) also switches every module to the channels-last inference path of
    :mod:`depth3d.models.pointnet2.modules` (matmuls without layout copies, the first layer of each set
    abstraction before grouping, the last ReLU after the max pool): again the same outputs up to float
    rounding; the feature end points are then transposed views (not contiguous). Parameter names are
    unchanged. The copy is in eval mode and must not be trained (the batch norms are gone); ``net`` is
    left untouched."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    out = copy.deepcopy(net).eval()
    for mod in out.modules():
        if isinstance(mod, MLPLayer) and "bn" in mod._modules:
            mod._modules["conv"] = fuse_conv_bn_eval(mod.conv, mod.bn.bn)
            del mod._modules["bn"]
        elif isinstance(mod, (VotingModule, ProposalModule)):
            mod.conv1, mod.bn1 = fuse_conv_bn_eval(mod.conv1, mod.bn1), nn.Identity()
            mod.conv2, mod.bn2 = fuse_conv_bn_eval(mod.conv2, mod.bn2), nn.Identity()
    left = [n for n, m in out.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if left:
        raise RuntimeError(f"fold_batchnorm: batch norms not folded: {left}")
    if fast:
        for mod in out.modules():
            if isinstance(mod, (PointnetSAModule, PointnetFPModule, VotingModule, ProposalModule)):
                mod.fast_inference = True
    return out
