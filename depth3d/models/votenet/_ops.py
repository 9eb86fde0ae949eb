"""Neighbour-search primitives used by the VoteNet modules, with two interchangeable back ends.

``"depth3d"``: the toolkit's compiled ops (:mod:`depth3d.ops`, C++/CUDA). ``"reference"``: plain PyTorch
(dense distance matrices, a Python loop for furthest point sampling), the baseline that benchmarks compare
against. Select with :func:`set_backend` or the ``DEPTH3D_VOTENET_OPS`` environment variable; the default
is ``depth3d`` when :mod:`depth3d.ops` imports, else ``reference``.

All functions take channels-last point tensors: xyz (B, N, 3) float32, features (B, N, C).
Semantics follow the PointNet++ CUDA kernels of facebookresearch/votenet (pointnet2/_ext_src):
furthest point sampling starts at index 0; ball query returns the first ``nsample`` points (index order)
with squared distance < radius^2, pads remaining slots with the first hit, and 0 where there is no hit.
"""

from __future__ import annotations

import os

import torch

_BACKEND: str | None = os.environ.get("DEPTH3D_VOTENET_OPS") or None
_OPS = None


def _load_ops():
    global _OPS
    if _OPS is None:
        import depth3d.ops as ops  # compiled on first import

        missing = [n for n in ("furthest_point_sample", "ball_query", "three_nn", "three_interpolate", "gather",
                               "group") if not hasattr(ops, n)]
        if missing:
            raise ImportError(f"depth3d.ops lacks {missing}")
        if hasattr(ops, "backend_name"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                name = ops.backend_name()
            if name != "compiled":
                raise ImportError(f"depth3d.ops has no compiled kernels here (backend {name!r})")
        _OPS = ops
    return _OPS


def available_backends() -> list[str]:
    """Back ends usable in this process (``reference`` always)."""
    out = ["reference"]
    try:
        _load_ops()
        out.insert(0, "depth3d")
    except Exception:  # pragma: no cover - depends on build
        pass
    return out


def set_backend(name: str) -> None:
    """Use ``"depth3d"`` (compiled ops) or ``"reference"`` (plain PyTorch) for all VoteNet modules."""
    global _BACKEND
    if name not in ("depth3d", "reference"):
        raise ValueError(f"ops backend must be 'depth3d' or 'reference', got {name!r}")
    if name == "depth3d":
        _load_ops()
    _BACKEND = name


def get_backend() -> str:
    """The back end in use (resolving the default on first call)."""
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = available_backends()[0]
    return _BACKEND


# ----------------------------------------------------------------------------------------- reference
def _fps_reference(xyz: torch.Tensor, npoint: int) -> torch.Tensor:
    b, n, _ = xyz.shape
    idx = torch.zeros(b, npoint, dtype=torch.long, device=xyz.device)
    dist = torch.full((b, n), 1e10, dtype=xyz.dtype, device=xyz.device)
    far = torch.zeros(b, dtype=torch.long, device=xyz.device)
    ar = torch.arange(b, device=xyz.device)
    for i in range(npoint):
        idx[:, i] = far
        c = xyz[ar, far].unsqueeze(1)
        d = ((xyz - c) ** 2).sum(-1)
        dist = torch.minimum(dist, d)
        far = dist.argmax(-1)
    return idx


def _ball_query_reference(radius: float, nsample: int, xyz: torch.Tensor, new_xyz: torch.Tensor) -> torch.Tensor:
    n = xyz.shape[1]
    d2 = torch.cdist(new_xyz, xyz).pow_(2)  # (B, M, N)
    ar = torch.arange(n, device=xyz.device).expand_as(d2)
    keyed = torch.where(d2 < radius * radius, ar, torch.full_like(ar, n))
    k = min(nsample, n)
    first = torch.topk(keyed, k, dim=-1, largest=False, sorted=True).values  # (B, M, k) ascending
    if k < nsample:
        first = torch.cat([first, first.new_full(first.shape[:-1] + (nsample - k,), n)], -1)
    hit0 = first[..., :1]
    first = torch.where(first == n, hit0.expand_as(first), first)
    return torch.where(first == n, torch.zeros_like(first), first)


def _three_nn_reference(unknown: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d2 = torch.cdist(unknown, known).pow_(2)
    k = min(3, known.shape[1])
    d, i = torch.topk(d2, k, dim=-1, largest=False, sorted=True)
    if k < 3:
        d = torch.cat([d, d[..., -1:].expand(*d.shape[:-1], 3 - k)], -1)
        i = torch.cat([i, i[..., -1:].expand(*i.shape[:-1], 3 - k)], -1)
    return d, i


def _gather_reference(features: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    b, n, c = features.shape
    flat = idx.reshape(b, -1)
    out = torch.gather(features, 1, flat.unsqueeze(-1).expand(-1, -1, c))
    return out.reshape(*idx.shape, c)


# ------------------------------------------------------------------------------------------- public
def furthest_point_sample(xyz: torch.Tensor, npoint: int) -> torch.Tensor:
    """(B, npoint) int64 indices of furthest point sampling of xyz (B, N, 3), starting at index 0."""
    if get_backend() == "depth3d":
        return _load_ops().furthest_point_sample(xyz.contiguous(), npoint).long()
    return _fps_reference(xyz, npoint)


def ball_query(radius: float, nsample: int, xyz: torch.Tensor, new_xyz: torch.Tensor) -> torch.Tensor:
    """(B, M, nsample) int64 indices into xyz (B, N, 3) of neighbours of new_xyz (B, M, 3) within radius
    (PointNet++ semantics; index 0 where a query has no neighbour)."""
    if get_backend() == "depth3d":
        _, idx = _load_ops().ball_query(new_xyz.contiguous(), xyz.contiguous(), radius, nsample)
        return idx.long().clamp_min_(0)
    return _ball_query_reference(radius, nsample, xyz, new_xyz)


def three_nn(unknown: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(squared distances (B, M, 3), indices (B, M, 3) int64) of the 3 nearest known points."""
    if get_backend() == "depth3d":
        d, i = _load_ops().three_nn(unknown.contiguous(), known.contiguous())
        return d, i.long()
    return _three_nn_reference(unknown, known)


def gather(features: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """features (B, N, C) gathered at idx (B, M) or (B, M, K) -> (B, M, C) / (B, M, K, C); differentiable."""
    if get_backend() == "depth3d":
        ops = _load_ops()
        return ops.gather(features, idx) if idx.dim() == 2 else ops.group(features, idx)
    return _gather_reference(features, idx)


def three_interpolate(features: torch.Tensor, idx: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted sum of features (B, N, C) at idx (B, M, 3) with weight (B, M, 3) -> (B, M, C)."""
    if get_backend() == "depth3d":
        return _load_ops().three_interpolate(features.contiguous(), idx, weight.contiguous())
    return (_gather_reference(features, idx) * weight.unsqueeze(-1)).sum(2)
