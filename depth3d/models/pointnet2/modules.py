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

Inference fast path (``module.fast_inference = True``, set by
:func:`depth3d.models.votenet.fold_batchnorm` once the batch norms are folded): the same function, computed
channels-last. Features are kept as ``(B, N, C)`` storage and returned as ``(B, C, N)`` transposed views
(same values and shapes, not contiguous); every 1x1 convolution runs as a matmul (``F.linear``) on
``(..., C)`` rows with no permute/contiguous copies. In a set abstraction the first layer is applied to the
N input points before grouping (it is linear: ``W [(p_j - c) / r, f_j] + b = (W_x p_j / r + W_f f_j) -
(W_x c / r - b)``), so it costs N rows instead of npoint x nsample; and the last ReLU is applied after the
max pool (``max_k relu(x_k) = relu(max_k x_k)`` exactly). Outputs equal the plain path's to float rounding
(tests/models/test_votenet.py).
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from depth3d import ops


def _fused_linear_available() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):
        return False


_FUSED_LINEAR = _fused_linear_available()
#: grouped rows (centroids x nsample) per block in the inference fast path of a set abstraction: 8192 rows
#: of 128-256 float32 channels (4-8 MB) stay in cache; all at once, SA1 of the full VoteNet streams
#: 131072 x 128 floats through memory per layer (2.5x slower on one core of a loaded machine, measured)
_CHUNK_ROWS = 8192


def linear_relu(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], relu: bool = True) -> torch.Tensor:
    """``relu(x @ weight.T + bias)`` (``relu`` False: without the ReLU) on channels-last rows x (..., C_in),
    weight (C_out, C_in), bias (C_out,) or None -> (..., C_out) contiguous.

    Without autograd on a CPU float32 tensor this is one oneDNN matmul with the bias and ReLU fused
    (``torch.ops.mkldnn._linear_pointwise``, the kernel TorchInductor uses; bit-identical to the
    unfused result in our tests, and it saves the separate bias-broadcast and ReLU passes over the output);
    otherwise ``F.linear`` + in-place ReLU."""
    if (_FUSED_LINEAR and x.device.type == "cpu" and x.dtype == torch.float32 and weight.dtype == torch.float32
            and not torch.is_grad_enabled()):
        y = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, x.shape[-1]), weight, bias,
                                               "relu" if relu else "none", [], "")
        return y.view(*x.shape[:-1], weight.shape[0])
    y = F.linear(x, weight, bias)
    return y.relu_() if relu else y


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

    def linear_params(self, i: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Layer ``i`` as ``F.linear`` parameters: weight (C_out, C_in) (a view of the 1x1 kernel), bias
        (C_out,) or None. Only for layers without batch norm (folded, or ``bn=False``)."""
        layer = self[i]
        if "bn" in layer._modules:
            raise RuntimeError("SharedMLP: the channels-last path needs the batch norms folded "
                               "(depth3d.models.votenet.fold_batchnorm)")
        return layer.conv.weight.flatten(1), layer.conv.bias

    def forward_channels_last(self, x: torch.Tensor, start: int = 0, last_relu: bool = True) -> torch.Tensor:
        """Layers ``start..`` on channels-last rows: x (..., C_in) -> (..., C_out), each layer a matmul +
        in-place ReLU (the last ReLU left out when ``last_relu`` is False, for a caller that pools first)."""
        n = len(self)
        for i in range(start, n):
            w, b = self.linear_params(i)
            x = linear_relu(x, w, b, relu=i < n - 1 or last_relu)
        return x


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
        self.fast_inference = False
        #: FPS ``skip_near_origin`` (None: every point can be sampled; 1e-3: the official CUDA kernel's rule)
        self.fps_skip_near_origin: Optional[float] = None

    def forward(self, xyz: torch.Tensor, features: Optional[torch.Tensor] = None,
                inds: Optional[torch.Tensor] = None):
        if self.npoint is None:
            if self.fast_inference:
                parts = [xyz] if self.use_xyz or features is None else []
                if features is not None:
                    parts.append(features.transpose(1, 2))
                x = self.mlp_module.forward_channels_last(torch.cat(parts, -1), last_relu=False)
                return None, x.amax(1, keepdim=True).relu_().transpose(1, 2), None
            grouped = group_all(xyz, features, self.use_xyz)
            return None, self.mlp_module(grouped).amax(-1), None
        b, n, _ = xyz.shape
        if inds is None:
            if self.prefix_fps and n >= self.npoint:
                inds = torch.arange(self.npoint, device=xyz.device).expand(b, -1)
            else:
                # fps_skip_near_origin=1e-3 follows the official PointNet++ CUDA FPS, which never samples
                # points with |p|^2 <= 1e-3 (zero padding at the origin); None samples every point
                inds = ops.furthest_point_sample(xyz.detach().contiguous(), self.npoint,
                                                 skip_near_origin=self.fps_skip_near_origin)
        inds = inds.long()
        new_xyz = ops.gather(xyz, inds)
        if self.fast_inference:
            return new_xyz, self._forward_channels_last(xyz, features, new_xyz), inds
        grouped, _ = sample_and_group(xyz, features, new_xyz, self.radius, self.nsample, self.use_xyz,
                                      self.normalize_xyz)
        return new_xyz, self.mlp_module(grouped).amax(-1), inds

    def _forward_channels_last(self, xyz: torch.Tensor, features: Optional[torch.Tensor],
                               new_xyz: torch.Tensor) -> torch.Tensor:
        """Grouping + shared MLP + max pool of the inference fast path (see the module docstring):
        (B, N, 3), (B, C, N) or None, (B, M, 3) -> (B, mlp[-1], M), a transposed view of (B, M, mlp[-1])."""
        _, idx = ops.ball_query(new_xyz.contiguous(), xyz.contiguous(), self.radius, self.nsample)
        idx = idx.clamp_min(0)  # as sample_and_group
        w, b = self.mlp_module.linear_params(0)
        use_xyz = self.use_xyz or features is None
        pts, wp = [], []
        if use_xyz:
            wx = w[:, :3] / self.radius if self.normalize_xyz else w[:, :3]
            pts.append(xyz)
            wp.append(wx)
        if features is not None:
            pts.append(features.transpose(1, 2))
            wp.append(w[:, 3:] if use_xyz else w)
        per_point = linear_relu(torch.cat(pts, -1) if len(pts) > 1 else pts[0],
                                torch.cat(wp, 1) if len(wp) > 1 else wp[0], None, relu=False)  # (B, N, C0)
        # per-centroid part: W_x c (/ r) - b, subtracted from every neighbour row of the centroid
        if use_xyz:
            centre = F.linear(new_xyz, wx) if b is None else F.linear(new_xyz, wx, -b)
        else:
            centre = None if b is None else (-b).expand(new_xyz.shape[0], new_xyz.shape[1], -1)
        # on the CPU in blocks of centroids (about _CHUNK_ROWS grouped rows each), so that the grouped rows
        # and the hidden layers stay in cache instead of streaming npoint x nsample x C floats through memory
        step = max(1, _CHUNK_ROWS // idx.shape[2]) if idx.device.type == "cpu" else idx.shape[1]
        pooled = []
        for s in range(0, idx.shape[1], step):
            x = ops.group(per_point, idx[:, s:s + step])  # (B, m, K, C0)
            if centre is not None:
                x = x.sub_(centre[:, s:s + step].unsqueeze(2))
            if len(self.mlp_module) > 1:  # else layer 0 is the last: its ReLU comes after the pool
                x = x.relu_()
            x = self.mlp_module.forward_channels_last(x, start=1, last_relu=False)
            pooled.append(x.amax(2))
        x = pooled[0] if len(pooled) == 1 else torch.cat(pooled, 1)
        return x.relu_().transpose(1, 2)


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
        self.fast_inference = False

    def forward(self, unknown: torch.Tensor, known: Optional[torch.Tensor],
                unknow_feats: Optional[torch.Tensor], known_feats: torch.Tensor) -> torch.Tensor:
        if self.fast_inference:  # channels-last (module docstring); returns a transposed view
            if known is None:
                interp = known_feats.transpose(1, 2).expand(-1, unknown.shape[1], -1)
            else:
                d2, idx = ops.three_nn(unknown, known)
                w = 1.0 / (d2.clamp_min(0).sqrt() + 1e-8)
                w = w / w.sum(-1, keepdim=True)
                interp = ops.three_interpolate(known_feats.transpose(1, 2).contiguous(), idx, w)
            x = torch.cat([interp, unknow_feats.transpose(1, 2)], -1) if unknow_feats is not None else interp
            return self.mlp.forward_channels_last(x).transpose(1, 2)
        if known is None:  # from a group-all layer: broadcast the global feature
            interp = known_feats.expand(-1, -1, unknown.shape[1])
        else:
            d2, idx = ops.three_nn(unknown, known)
            w = 1.0 / (d2.clamp_min(0).sqrt() + 1e-8)
            w = w / w.sum(-1, keepdim=True)
            interp = ops.three_interpolate(known_feats.transpose(1, 2).contiguous(), idx, w).transpose(1, 2)
        x = torch.cat([interp, unknow_feats], 1) if unknow_feats is not None else interp
        return self.mlp(x.unsqueeze(-1)).squeeze(-1)
