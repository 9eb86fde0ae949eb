"""Plain-PyTorch reference implementations of the neighbour-search ops (used by the tests).

Every function here works on *padded* batches: points ``(B, N, 3)`` with ``lengths (B,)`` int64 (the
number of valid leading points of each cloud). They define the exact semantics the compiled kernels in
:mod:`depth3d.ops` must reproduce index for index:

* squared distances are computed as ``dx*dx + dy*dy + dz*dz`` (left to right, no fused multiply-add),
  in the input dtype;
* ties are broken towards the lowest index everywhere;
* the non-finite policy of :mod:`depth3d.ops` (points with a NaN or inf coordinate are never
  neighbours or samples, non-finite queries get no neighbours).

They are slow (Python loops for FPS) and are meant for tests and as a fallback only.
"""

from __future__ import annotations

import torch

__all__ = ["sq_dists", "furthest_point_sample", "ball_query", "knn", "gather", "segment_sum",
           "voxel_coords", "voxel_reduce"]


def _finite(x: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (...) bool: all three coordinates finite."""
    return torch.isfinite(x).all(-1)


def sq_dists(query: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """All-pairs squared distances ``(B, M, N)`` with the kernels' arithmetic ``dx*dx+dy*dy+dz*dz``."""
    d = query[:, :, None, :] - points[:, None, :, :]
    dx, dy, dz = d.unbind(-1)
    return dx * dx + dy * dy + dz * dz


def furthest_point_sample(points: torch.Tensor, lengths: torch.Tensor, counts: torch.Tensor,
                          n_out: int, start: torch.Tensor, skip_origin: float = -1.0) -> torch.Tensor:
    """Farthest point sampling on padded clouds.

    points: (B, N, 3) float; lengths: (B,) int64 valid points per cloud; counts: (B,) int64 samples
    wanted per cloud (already clipped to ``lengths``); n_out: columns of the output; start: (B,) int64
    start index per cloud; skip_origin: when >= 0, points with ``x*x+y*y+z*z <= skip_origin`` (computed
    in the input dtype, compared in float64) are never sampled after the start. Returns (B, n_out)
    int64, ``-1`` beyond the samples produced.

    Only eligible points (finite, not skipped) are sampled after the start. A non-finite start is
    replaced by the lowest-index eligible point; a finite skipped start is kept. A cloud gives at most
    ``#eligible (+1 for a kept ineligible start)`` samples, so no index repeats. Selected points get a
    min-distance of ``-1`` so they are never picked again (even exact duplicates of selected points,
    whose distance is 0); ties go to the lowest index (``torch.argmax`` returns the first maximum).
    """
    B = points.shape[0]
    out = torch.full((B, n_out), -1, dtype=torch.int64, device=points.device)
    for b in range(B):
        n, s = int(lengths[b]), int(counts[b])
        if n == 0 or s == 0:
            continue
        p = points[b, :n]
        elig = _finite(p)
        if skip_origin >= 0:
            x, y, z = p.unbind(-1)
            elig = elig & ~((x * x + y * y + z * z).double() <= skip_origin)
        cur = int(start[b])
        if not bool(_finite(p[cur])):
            if not bool(elig.any()):
                continue
            cur = int(torch.nonzero(elig)[0, 0])
        total = min(s, int(elig.sum()) + (0 if bool(elig[cur]) else 1))
        mind = torch.where(elig, torch.full((n,), float("inf"), dtype=points.dtype, device=points.device),
                           torch.full((n,), -1.0, dtype=points.dtype, device=points.device))
        out[b, 0] = cur
        for i in range(1, total):
            mind[cur] = -1.0
            d = sq_dists(p[cur][None, None], p[None])[0, 0]
            mind = torch.where(elig, torch.minimum(mind, d), mind)
            cur = int(torch.argmax(mind))
            out[b, i] = cur
    return out


def _radius2(radius: float, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(float(radius) * float(radius), dtype=dtype)


def ball_query(query: torch.Tensor, points: torch.Tensor, query_lengths: torch.Tensor,
               lengths: torch.Tensor, radius: float, nsample: int, nearest: bool = False,
               pad_first: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Ball query on padded clouds: neighbours with ``d^2 < radius^2`` (strict).

    ``nearest=False``: the first ``nsample`` hits in index order (PointNet++); ``nearest=True``: the
    ``nsample`` nearest hits sorted by (distance, index). Rows with fewer hits are padded with the
    first hit (``pad_first``) or with ``-1``/``inf``; rows without any hit and padding queries are
    ``-1``/``inf``. Returns squared dists (B, M, K) and int64 idx (B, M, K).
    """
    B, M, _ = query.shape
    N = points.shape[1]
    d = sq_dists(query, points)  # (B, M, N)
    ar = torch.arange(N, device=points.device)
    valid = (ar[None, None, :] < lengths[:, None, None]) & \
        (torch.arange(M, device=points.device)[None, :, None] < query_lengths[:, None, None])
    valid = valid & _finite(points)[:, None, :] & _finite(query)[:, :, None]
    hit = valid & (d < _radius2(radius, d.dtype).to(d.device))
    if nearest:
        key = torch.where(hit, d, torch.full_like(d, float("inf")))
        order = torch.sort(key, dim=-1, stable=True).indices
    else:
        key = torch.where(hit, ar.expand_as(d), torch.full_like(ar, N).expand_as(d))
        order = torch.sort(key, dim=-1, stable=True).indices
    K = nsample
    ok = torch.gather(hit, -1, order)[..., :K]
    dist = torch.gather(d, -1, order)[..., :K]
    order = order[..., :K]
    if K > N:
        pad = K - N
        ok = torch.cat([ok, ok.new_zeros(B, M, pad)], -1)
        order = torch.cat([order, order.new_zeros(B, M, pad)], -1)
        dist = torch.cat([dist, dist.new_zeros(B, M, pad)], -1)
    idx = torch.where(ok, order, torch.full_like(order, -1))
    dist = torch.where(ok, dist, torch.full_like(dist, float("inf")))
    if pad_first:
        any_hit = ok[..., :1]
        idx = torch.where(~ok & any_hit, idx[..., :1].expand_as(idx), idx)
        dist = torch.where(~ok & any_hit, dist[..., :1].expand_as(dist), dist)
    return dist, idx


def knn(query: torch.Tensor, points: torch.Tensor, query_lengths: torch.Tensor,
        lengths: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """k nearest neighbours on padded clouds, sorted by (squared distance, index).

    Returns dists (B, M, k) and int64 idx (B, M, k); ``-1``/``inf`` where a cloud has fewer than
    ``k`` valid points and for padding queries.
    """
    B, M, _ = query.shape
    N = points.shape[1]
    d = sq_dists(query, points)
    ar = torch.arange(N, device=points.device)
    valid = (ar[None, None, :] < lengths[:, None, None]) & \
        (torch.arange(M, device=points.device)[None, :, None] < query_lengths[:, None, None])
    valid = valid & _finite(points)[:, None, :] & _finite(query)[:, :, None]
    key = torch.where(valid, d, torch.full_like(d, float("inf")))
    # by distance, then valid before invalid (a finite point whose squared distance overflows to inf
    # still comes before every excluded point); both sorts are stable, so ties keep index order
    order = torch.sort(key, dim=-1, stable=True).indices
    order = torch.gather(order, -1, torch.sort((~torch.gather(valid, -1, order)).to(torch.uint8),
                                               dim=-1, stable=True).indices)
    order = order[..., :k]
    ok = torch.gather(valid, -1, order)
    idx = torch.where(ok, order, torch.full_like(order, -1))
    dist = torch.where(ok, torch.gather(key, -1, order), torch.full(order.shape, float("inf"), dtype=d.dtype, device=d.device))
    return dist, idx


def gather(features: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """features (B, N, C), idx (B, M) int64 -> (B, M, C); ``idx == -1`` gives zeros."""
    B, N, C = features.shape
    safe = idx.clamp(min=0)
    out = torch.gather(features, 1, safe[..., None].expand(B, idx.shape[1], C))
    return out * (idx >= 0)[..., None].to(features.dtype)


def segment_sum(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Sum rows of values (E, C) into (n, C) by index (E,) int64; ``index == -1`` rows are dropped."""
    out = values.new_zeros((n,) + values.shape[1:])
    keep = index >= 0
    return out.index_add(0, index[keep], values[keep])


def voxel_coords(points: torch.Tensor, voxel_size: torch.Tensor, origin: torch.Tensor,
                 batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Voxel of every point, ``floor((p - origin) / voxel_size)`` in the input dtype: ``coords (V, 4)``
    int64 rows ``(batch, i, j, k)`` sorted, ``point_to_voxel (N,)`` int64 (``-1`` for non-finite
    points). The caller checks that the coordinates fit in int64."""
    ok = _finite(points)
    ijk = torch.floor((points[ok] - origin) / voxel_size).to(torch.int64)
    keys = torch.cat([batch[ok][:, None], ijk], 1)
    coords, inv = torch.unique(keys, dim=0, return_inverse=True)
    p2v = torch.full((points.shape[0],), -1, dtype=torch.int64, device=points.device)
    p2v[ok] = inv.reshape(-1)
    return coords.reshape(-1, 4), p2v


def voxel_reduce(values: torch.Tensor, point_to_voxel: torch.Tensor, num_voxels: int,
                 reduce: str) -> torch.Tensor:
    """Per-voxel sum / mean / max of values (N, C); empty voxels give 0."""
    if reduce == "sum":
        return segment_sum(values, point_to_voxel, num_voxels)
    if reduce == "mean":
        s = segment_sum(values, point_to_voxel, num_voxels)
        cnt = torch.bincount(point_to_voxel[point_to_voxel >= 0], minlength=num_voxels)
        return s / cnt.clamp(min=1)[:, None].to(values.dtype)
    out = values.new_full((num_voxels,) + values.shape[1:], float("-inf"))
    keep = point_to_voxel >= 0
    idx = point_to_voxel[keep][:, None].expand(-1, values.shape[1])
    out = out.scatter_reduce(0, idx, values[keep], reduce="amax", include_self=True)
    return torch.where(torch.isinf(out) & (out < 0), torch.zeros_like(out), out)


class ReferenceBackend:
    """These functions as the plain-PyTorch ops backend (slow, for tests and as a fallback): the table of
    backend ops, each called with the positional arguments of its function here.
    :class:`depth3d.ops._compiled.CompiledBackend` replaces the entries it has kernels for and keeps the rest."""

    name = "reference"
    fps = staticmethod(furthest_point_sample)
    ball_query = staticmethod(ball_query)
    knn = staticmethod(knn)
    gather = staticmethod(gather)
    voxelize = staticmethod(voxel_coords)
    voxel_reduce = staticmethod(voxel_reduce)
