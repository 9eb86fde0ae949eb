"""Neighbour-search ops for point networks: FPS, ball query, kNN, three-NN interpolation, grouping and
voxelisation, with multi-threaded C++ CPU kernels and CUDA kernels (see ``depth3d/ops/csrc``).

Conventions shared by every function here:

* Point inputs are channels-last: padded batches ``(B, N, 3)`` (optionally with ``lengths (B,)``
  int64, the number of valid leading points of each cloud; default: all ``N``) or packed clouds
  ``(N, 3)`` with a ``batch (N,)`` int64 vector giving each point's cloud (need not be sorted). A 2-D
  input without ``batch`` is one cloud. Coordinates are in any consistent unit (metres in depth3d);
  float32 or float64, CPU or CUDA; all tensor arguments must share one device.
* Distances are *squared* Euclidean distances in the input dtype, computed as ``dx*dx+dy*dy+dz*dz``.
* Missing results are padded with index ``-1`` and distance ``+inf``.
* Ties are broken towards the lowest point index, so results are deterministic and identical on CPU
  and CUDA.
* Non-finite coordinates (one policy, identical on CPU, CUDA and in the reference): a point with a
  NaN or inf coordinate is never a neighbour (:func:`knn`, :func:`three_nn`, :func:`ball_query`) nor a
  sample (:func:`furthest_point_sample`) and never displaces a finite one; rows that come up short
  are padded exactly as when a cloud has too few points (``-1``/``inf``; :func:`ball_query` with
  ``pad="first"`` repeats its first hit). A non-finite query gets no neighbours (all ``-1``/``inf``).
  FPS samples only finite points (a non-finite ``start`` is replaced by the lowest-index finite
  point), never repeats an index, and pads with ``-1`` once the finite points run out.
  :func:`voxelize` gives non-finite points voxel ``-1`` (ignored by :func:`voxel_reduce`). Finite
  coordinates whose squared distance overflows the dtype are still valid points (distance ``inf``).
* Cost does not depend on the cloud's extent: the CPU kNN / ball-query grid puts far outliers
  (one point at 1e6, flying pixels, saturated depth) into separate small grids instead of
  stretching one grid over them (see ``csrc/cpu_ops.cpp``).
* Gradients flow to point coordinates through returned distances, and to features through
  :func:`gather`, :func:`group`, :func:`three_interpolate` and :func:`voxel_reduce`. All backward
  passes are deterministic: scatter-adds are done as sorted (CSR) segment sums, never with atomics.

The compiled kernels are built on first use (cached under ``depth3d/ops/_build/<tag>`` or
``~/.cache/depth3d/ops/<tag>``) or ahead of time with ``python -m depth3d.ops.build``. If they cannot
be built, the plain-PyTorch reference (:mod:`depth3d.ops.reference`) is used with a warning.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch

from . import _backend

__all__ = ["furthest_point_sample", "ball_query", "knn", "three_nn", "three_interpolate",
           "interpolate_features", "gather", "group", "voxelize", "voxel_reduce", "backend_name"]

Tensor = torch.Tensor
_FLOATS = (torch.float32, torch.float64)


def backend_name() -> str:
    """``"compiled"`` when the C++/CUDA kernels are loaded, ``"reference"`` otherwise."""
    return _backend.name()


# ----------------------------------------------------------------------------------------- checks
def _check_points(name: str, x, allow_2d: bool = True) -> Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
    ok = (x.dim() == 3 or (allow_2d and x.dim() == 2)) and x.shape[-1] == 3
    if not ok:
        want = "(B, N, 3) or (N, 3)" if allow_2d else "(B, N, 3)"
        raise ValueError(f"{name} must have shape {want} (channels last), got {tuple(x.shape)}")
    return x


def _check_same(name: str, x: Tensor, ref_name: str, ref: Tensor, dtype: bool = True) -> None:
    if x.device != ref.device:
        raise ValueError(f"{name} is on {x.device} but {ref_name} is on {ref.device}; "
                         "all inputs must be on one device")
    if dtype and x.dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but {ref_name} has {ref.dtype}; they must match")


def _check_index_vec(name: str, v, n: int, ref: Tensor, upper: Optional[int] = None) -> Tensor:
    if not isinstance(v, torch.Tensor):
        v = torch.as_tensor(v, device=ref.device)
    if v.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{name} must be an int64 tensor, got {v.dtype}")
    if v.device != ref.device:
        raise ValueError(f"{name} is on {v.device} but the points are on {ref.device}")
    if v.dim() != 1 or v.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {tuple(v.shape)}")
    v = v.to(torch.int64)
    if v.numel():
        lo, hi = int(v.min()), int(v.max())
        if lo < 0 or (upper is not None and hi > upper):
            rng = f"[0, {upper}]" if upper is not None else ">= 0"
            raise ValueError(f"{name} values must be in {rng}, got min {lo}, max {hi}")
    return v


def _check_int(name: str, v, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int,)) and not (
            isinstance(v, torch.Tensor) and v.dim() == 0 and not v.is_floating_point()):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    v = int(v)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def _check_radius(radius) -> float:
    if isinstance(radius, torch.Tensor):
        radius = float(radius)
    if not isinstance(radius, (int, float)) or isinstance(radius, bool):
        raise TypeError(f"radius must be a float, got {type(radius).__name__}")
    radius = float(radius)
    if not math.isfinite(radius) and radius != float("inf"):
        raise ValueError(f"radius must be a number >= 0, got {radius}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return radius


# -------------------------------------------------------------------------------- packed <-> padded
class _Packing:
    """Conversion of a packed cloud set (N, 3) + batch (N,) to a padded (B, Nmax, 3) + lengths."""

    def __init__(self, batch: Tensor, num_batches: int):
        n = batch.shape[0]
        self.n = n
        self.counts = torch.bincount(batch, minlength=num_batches)
        self.order = torch.argsort(batch, stable=True)
        sb = batch[self.order]
        ptr = torch.cumsum(self.counts, 0) - self.counts
        self.sb = sb
        self.pos = torch.arange(n, device=batch.device) - ptr[sb]
        self.nmax = int(self.counts.max()) if num_batches > 0 and n > 0 else 0
        self.B = num_batches
        slot = torch.full((num_batches, self.nmax), -1, dtype=torch.int64, device=batch.device)
        slot[sb, self.pos] = self.order
        self.slot_to_packed = slot

    def pad(self, x: Tensor) -> Tensor:
        out = x.new_zeros((self.B, self.nmax) + tuple(x.shape[1:]))
        out[self.sb, self.pos] = x[self.order]
        return out

    def unpad(self, y: Tensor) -> Tensor:
        """(B, Nmax, ...) -> (N, ...) in the original packed order."""
        out = y.new_empty((self.n,) + tuple(y.shape[2:]))
        out[self.order] = y[self.sb, self.pos]
        return out

    def to_packed_index(self, idx: Tensor) -> Tensor:
        """Map per-cloud indices (B, ...) into packed indices (``-1`` stays ``-1``)."""
        B = idx.shape[0]
        flat = idx.reshape(B, -1)
        if self.nmax == 0:
            return torch.full_like(idx, -1)
        mapped = torch.gather(self.slot_to_packed, 1, flat.clamp(min=0))
        return torch.where(flat >= 0, mapped, flat).reshape(idx.shape)


def _num_batches(*batches: Optional[Tensor]) -> int:
    nb = 0
    for b in batches:
        if b is not None and b.numel():
            nb = max(nb, int(b.max()) + 1)
    return max(nb, 1)


def _prep_cloud(name: str, x: Tensor, lengths, batch, len_name: str, batch_name: str):
    """Returns (padded, lengths, packing-or-None)."""
    if x.dim() == 3:
        if batch is not None:
            raise ValueError(f"{batch_name} is only for packed (N, 3) inputs; {name} is padded "
                             f"{tuple(x.shape)} (use {len_name})")
        B, N, _ = x.shape
        if lengths is None:
            lengths = torch.full((B,), N, dtype=torch.int64, device=x.device)
        else:
            lengths = _check_index_vec(len_name, lengths, B, x, upper=N)
        return x, lengths, None
    if lengths is not None:
        raise ValueError(f"{len_name} is only for padded (B, N, 3) inputs; {name} is packed "
                         f"{tuple(x.shape)} (use {batch_name})")
    return x, None, batch


def _prep_pair(query: Tensor, points: Tensor, query_lengths, lengths, query_batch, batch):
    _check_points("query", query)
    _check_points("points", points)
    _check_same("query", query, "points", points)
    if query.dim() != points.dim():
        raise ValueError(f"query {tuple(query.shape)} and points {tuple(points.shape)} must both be "
                         "padded (B, N, 3) or both packed (N, 3)")
    if query.dim() == 3:
        if query.shape[0] != points.shape[0]:
            raise ValueError(f"query has batch size {query.shape[0]} but points has {points.shape[0]}")
        q, ql, _ = _prep_cloud("query", query, query_lengths, query_batch, "query_lengths",
                               "query_batch")
        p, pl, _ = _prep_cloud("points", points, lengths, batch, "lengths", "batch")
        return q, p, ql, pl, None, None
    _prep_cloud("query", query, query_lengths, query_batch, "query_lengths", "query_batch")
    _prep_cloud("points", points, lengths, batch, "lengths", "batch")
    if (query_batch is None) != (batch is None):
        raise ValueError("give both query_batch and batch for packed inputs, or neither")
    if batch is None:
        qb = torch.zeros(query.shape[0], dtype=torch.int64, device=query.device)
        pb = torch.zeros(points.shape[0], dtype=torch.int64, device=points.device)
    else:
        qb = _check_index_vec("query_batch", query_batch, query.shape[0], query)
        pb = _check_index_vec("batch", batch, points.shape[0], points)
    nb = _num_batches(qb, pb)
    qpk, ppk = _Packing(qb, nb), _Packing(pb, nb)
    return qpk.pad(query), ppk.pad(points), qpk.counts, ppk.counts, qpk, ppk


def _finish_pair(dists: Tensor, idx: Tensor, qpk: Optional[_Packing], ppk: Optional[_Packing]):
    if qpk is None:
        return dists, idx
    idx = ppk.to_packed_index(idx)
    return qpk.unpad(dists), qpk.unpad(idx)


# ------------------------------------------------------------------------------------------ FPS
def furthest_point_sample(points: Tensor, n_samples: Optional[int] = None, *,
                          ratio: Optional[float] = None, lengths: Optional[Tensor] = None,
                          batch: Optional[Tensor] = None, random_start: bool = False,
                          start: Union[int, Sequence[int], Tensor] = 0,
                          skip_near_origin: Optional[float] = None) -> Tensor:
    """Farthest point sampling (iterative: each new sample maximises its squared distance to the
    samples chosen so far).

    Args:
        points: padded ``(B, N, 3)`` or packed ``(N, 3)`` float32/float64.
        n_samples: samples per cloud (exactly one of ``n_samples`` / ``ratio``). A cloud with fewer
            valid points than ``n_samples`` gives all its points, then ``-1``.
        ratio: fraction of each cloud's valid points in (0, 1]; per cloud ``ceil(ratio * n)`` samples
            (computed in float32, like ``torch_cluster.fps``).
        lengths: ``(B,)`` int64 valid points per padded cloud (default all ``N``).
        batch: ``(N,)`` int64 cloud id of each packed point.
        random_start: start each cloud at a uniformly random valid point (``torch`` global RNG).
        start: start index per cloud (int or ``(B,)``), used when ``random_start`` is False.
        skip_near_origin: ``None`` (default): every finite point can be sampled. A number ``t >= 0``:
            points with ``x*x + y*y + z*z <= t`` (squared norm in the input dtype, compared in
            float64) are never sampled, except as the start point, which is always emitted first.
            ``skip_near_origin=1e-3`` reproduces the official PointNet++/VoteNet CUDA kernel
            (``furthest_point_sampling_kernel``: ``if (mag <= 1e-3) continue;``, start index 0),
            which treats points at the origin as padding from invalid depth pixels. Unlike that
            kernel, samples run out with ``-1`` instead of repeating indices (the official kernel
            also evaluates its distances with fused multiply-adds, so exact ties may differ).

    Returns:
        padded input: ``(B, S)`` int64 indices into each cloud, ``S = n_samples`` (or the largest
        per-cloud count for ``ratio``), ``-1`` padding. Packed input: 1-D int64 indices into the packed
        array, cloud by cloud (cloud 0's samples first), like ``torch_cluster.fps``.

    Ties go to the lowest index; a point is never selected twice (duplicates of selected points are
    taken, lowest index first, once everything else is at distance 0). Non-finite points are never
    sampled (see the module docstring); a cloud with fewer finite (not skipped) points than samples
    wanted is padded with ``-1`` (packed output: shorter).
    """
    _check_points("points", points)
    if (n_samples is None) == (ratio is None):
        raise ValueError("give exactly one of n_samples and ratio")
    if n_samples is not None:
        n_samples = _check_int("n_samples", n_samples, 1)
    else:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
            raise TypeError(f"ratio must be a float, got {type(ratio).__name__}")
        if not 0.0 < float(ratio) <= 1.0:
            raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    if skip_near_origin is None:
        skip = -1.0
    else:
        if isinstance(skip_near_origin, bool) or not isinstance(skip_near_origin, (int, float)):
            raise TypeError(f"skip_near_origin must be None or a float, got "
                            f"{type(skip_near_origin).__name__}")
        skip = float(skip_near_origin)
        if not (math.isfinite(skip) and skip >= 0):
            raise ValueError(f"skip_near_origin must be None or a finite number >= 0, got "
                             f"{skip_near_origin}")
    p, lens, pk = points, lengths, None
    if points.dim() == 3:
        p, lens, _ = _prep_cloud("points", points, lengths, batch, "lengths", "batch")
    else:
        _prep_cloud("points", points, lengths, batch, "lengths", "batch")
        pb = (torch.zeros(points.shape[0], dtype=torch.int64, device=points.device) if batch is None
              else _check_index_vec("batch", batch, points.shape[0], points))
        pk = _Packing(pb, _num_batches(pb))
        p, lens = pk.pad(points), pk.counts
    B = p.shape[0]
    if n_samples is not None:
        counts = lens.clamp(max=n_samples)
        n_out = n_samples
    else:
        counts = torch.ceil(lens.to(torch.float32) * float(ratio)).to(torch.int64).clamp(max=lens)
        n_out = int(counts.max()) if B else 0
    if random_start:
        st = (torch.rand(B, dtype=torch.float64).to(lens.device) * lens.to(torch.float64)).floor()
        st = st.to(torch.int64).clamp(min=0)
        st = torch.minimum(st, (lens - 1).clamp(min=0))
    else:
        if isinstance(start, torch.Tensor):
            st = start.to(device=lens.device)
            if st.dim() == 0:
                st = st.expand(B)
        elif isinstance(start, int) and not isinstance(start, bool):
            st = torch.full((B,), start, dtype=torch.int64, device=lens.device)
        else:
            st = torch.as_tensor(list(start), dtype=torch.int64, device=lens.device)
        st = _check_index_vec("start", st.contiguous(), B, p)
        bad = (st >= lens) & (lens > 0)
        if bool(bad.any()):
            raise ValueError(f"start must be < the number of valid points of each cloud; got start "
                             f"{st.tolist()} for lengths {lens.tolist()}")
    idx = _backend.get().fps(p, lens, counts, n_out, st, skip)
    if pk is None:
        return idx
    keep = idx >= 0
    return pk.to_packed_index(idx)[keep]


# ------------------------------------------------------------------------------------ ball query
def ball_query(query: Tensor, points: Tensor, radius: float, nsample: int, *,
               query_lengths: Optional[Tensor] = None, lengths: Optional[Tensor] = None,
               query_batch: Optional[Tensor] = None, batch: Optional[Tensor] = None,
               order: str = "index", pad: str = "first") -> tuple[Tensor, Tensor]:
    """Ball query (radius search) with PointNet++ semantics.

    A point is a neighbour when its squared distance is *strictly* below ``radius**2``
    (``d2 < r*r``, as in the official PointNet++ CUDA code), so ``radius=0`` finds nothing, not even
    a coincident point. ``radius**2`` is computed in float64 and then rounded to the input dtype; the
    official kernel (``ball_query_gpu.cu``: ``float radius2 = radius * radius; if (d2 < radius2)``)
    squares the float32-rounded radius in float32, which can differ by one ulp of ``radius**2``, so
    a point at exactly that distance can be in one and not the other. Neither uses ``<=``.
    Non-finite points are never hits and non-finite queries have none.

    Args:
        query: ``(B, M, 3)`` or packed ``(M, 3)``; points: ``(B, N, 3)`` or packed ``(N, 3)``.
        radius: ball radius >= 0 (same unit as the coordinates).
        nsample: neighbours per query, ``K`` (may exceed N; extra slots are padding).
        query_lengths / lengths: ``(B,)`` int64 valid queries / points per padded cloud.
        query_batch / batch: ``(M,)`` / ``(N,)`` int64 cloud ids for packed inputs.
        order: ``"index"``: the first ``K`` neighbours in index order (PointNet++);
            ``"nearest"``: the ``K`` nearest neighbours, sorted by (distance, index).
        pad: ``"first"``: rows with 1..K-1 neighbours are filled up with the first neighbour (its
            index and distance, PointNet++); ``"none"``: filled with ``-1``/``inf``. Rows without any
            neighbour, and padding queries, are always ``-1``/``inf``.

    Returns:
        ``(dists, idx)``: squared distances ``(B, M, K)`` (input dtype, differentiable w.r.t.
        ``query`` and ``points``) and int64 indices ``(B, M, K)`` into each cloud; packed inputs give
        ``(M, K)`` with indices into the packed ``points``.
    """
    radius = _check_radius(radius)
    nsample = _check_int("nsample", nsample, 1)
    if order not in ("index", "nearest"):
        raise ValueError(f"order must be 'index' or 'nearest', got {order!r}")
    if pad not in ("first", "none"):
        raise ValueError(f"pad must be 'first' or 'none', got {pad!r}")
    q, p, ql, pl, qpk, ppk = _prep_pair(query, points, query_lengths, lengths, query_batch, batch)
    d, i = _backend.get().ball_query(q, p, ql, pl, radius, nsample, order == "nearest",
                                     pad == "first")
    return _finish_pair(d, i, qpk, ppk)


# ------------------------------------------------------------------------------------------- kNN
def knn(query: Tensor, points: Tensor, k: int, *, query_lengths: Optional[Tensor] = None,
        lengths: Optional[Tensor] = None, query_batch: Optional[Tensor] = None,
        batch: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """k nearest neighbours of each query among the points of the same cloud.

    Args:
        query: ``(B, M, 3)`` or packed ``(M, 3)``; points: ``(B, N, 3)`` or packed ``(N, 3)``.
        k: neighbours per query; ``k`` larger than ``N`` (padded) or than the largest cloud
            (packed) is an error. Clouds with fewer than ``k`` valid points are padded with
            ``-1``/``inf``.
        query_lengths / lengths, query_batch / batch: as in :func:`ball_query`.

    Returns:
        ``(dists, idx)``: squared distances sorted ascending (ties by index), ``(B, M, k)``,
        differentiable; int64 indices ``(B, M, k)``. Packed: ``(M, k)``, indices into ``points``.
    """
    k = _check_int("k", k, 1)
    q, p, ql, pl, qpk, ppk = _prep_pair(query, points, query_lengths, lengths, query_batch, batch)
    n = p.shape[1]
    if k > n:
        raise ValueError(f"k={k} is larger than the number of points per cloud ({n})")
    d, i = _backend.get().knn(q, p, ql, pl, k)
    return _finish_pair(d, i, qpk, ppk)


def three_nn(query: Tensor, points: Tensor, *, query_lengths: Optional[Tensor] = None,
             lengths: Optional[Tensor] = None, query_batch: Optional[Tensor] = None,
             batch: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """The three nearest neighbours: ``knn(query, points, 3, ...)``; dists ``(B, M, 3)`` squared."""
    return knn(query, points, 3, query_lengths=query_lengths, lengths=lengths,
               query_batch=query_batch, batch=batch)


# ----------------------------------------------------------------------------- gather / group
def _check_features(features, idx, fname: str = "features", iname: str = "idx", idim: int = 2):
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"{fname} must be a torch.Tensor, got {type(features).__name__}")
    if not isinstance(idx, torch.Tensor):
        raise TypeError(f"{iname} must be a torch.Tensor, got {type(idx).__name__}")
    if features.dtype not in _FLOATS:
        raise TypeError(f"{fname} must be float32 or float64, got {features.dtype}")
    if features.dim() != 3:
        raise ValueError(f"{fname} must have shape (B, N, C) (channels last), got "
                         f"{tuple(features.shape)}")
    if idx.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{iname} must be int64, got {idx.dtype}")
    if idx.dim() != idim or idx.shape[0] != features.shape[0]:
        want = "(B, M)" if idim == 2 else "(B, M, K)" if idim == 3 else "(B, M, 3)"
        raise ValueError(f"{iname} must have shape {want} with B={features.shape[0]}, got "
                         f"{tuple(idx.shape)}")
    _check_same(iname, idx, fname, features, dtype=False)
    idx = idx.to(torch.int64)
    if idx.numel():
        lo, hi = int(idx.min()), int(idx.max())
        if lo < -1 or hi >= features.shape[1]:
            raise ValueError(f"{iname} values must be in [-1, {features.shape[1] - 1}] "
                             f"(-1 = padding), got min {lo}, max {hi}")
    return idx


def gather(features: Tensor, idx: Tensor) -> Tensor:
    """Pick rows of ``features (B, N, C)`` by ``idx (B, M)`` int64 -> ``(B, M, C)``.

    ``idx == -1`` gives a zero row and no gradient. Differentiable w.r.t. ``features`` with a
    deterministic backward.
    """
    idx = _check_features(features, idx)
    return _backend.get().gather(features, idx)


def group(features: Tensor, idx: Tensor) -> Tensor:
    """Group ``features (B, N, C)`` by neighbour indices ``idx (B, M, K)`` -> ``(B, M, K, C)``.

    ``idx == -1`` gives zeros (no gradient). Typical use: ``group(points - ...)`` or
    ``group(features, ball_query(...)[1])``. Deterministic backward.
    """
    idx = _check_features(features, idx, idim=3)
    B, M, K = idx.shape
    out = _backend.get().gather(features, idx.reshape(B, M * K))
    return out.reshape(B, M, K, features.shape[2])


def three_interpolate(features: Tensor, idx: Tensor, weight: Tensor) -> Tensor:
    """Weighted sum of three neighbours' features: ``out[b,m] = sum_j weight[b,m,j] *
    features[b, idx[b,m,j]]``.

    Args:
        features: ``(B, N, C)``; idx: ``(B, M, 3)`` int64 (``-1`` contributes nothing);
        weight: ``(B, M, 3)`` same dtype as features.
    Returns:
        ``(B, M, C)``, differentiable w.r.t. ``features`` and ``weight`` (deterministic backward).
    """
    idx = _check_features(features, idx, idim=3)
    if idx.shape[2] != 3:
        raise ValueError(f"idx must have shape (B, M, 3), got {tuple(idx.shape)}")
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if weight.shape != idx.shape:
        raise ValueError(f"weight must have the shape of idx {tuple(idx.shape)}, got "
                         f"{tuple(weight.shape)}")
    _check_same("weight", weight, "features", features)
    B, M, _ = idx.shape
    g = _backend.get().gather(features, idx.reshape(B, M * 3)).reshape(B, M, 3, -1)
    w = weight[..., 0:1] * g[:, :, 0] + weight[..., 1:2] * g[:, :, 1]
    return w + weight[..., 2:3] * g[:, :, 2]


def interpolate_features(query: Tensor, points: Tensor, features: Tensor, *,
                         query_lengths: Optional[Tensor] = None,
                         lengths: Optional[Tensor] = None, eps: float = 1e-8) -> Tensor:
    """Feature propagation of PointNet++: inverse-distance interpolation from the three nearest
    points.

    ``w_j = 1 / (sqrt(d2_j) + eps)``, normalised to sum 1 (the official PointNet++ weighting;
    missing neighbours weigh 0).

    Args:
        query: ``(B, M, 3)``; points: ``(B, N, 3)`` with ``N >= 3``; features: ``(B, N, C)``.
    Returns:
        ``(B, M, C)`` interpolated features (differentiable w.r.t. features, query and points).
    """
    _check_points("query", query, allow_2d=False)
    _check_points("points", points, allow_2d=False)
    if not isinstance(features, torch.Tensor) or features.dim() != 3 or \
            features.shape[:2] != points.shape[:2]:
        raise ValueError(f"features must have shape (B, N, C) with (B, N) = {tuple(points.shape[:2])},"
                         f" got {tuple(getattr(features, 'shape', ()))}")
    d, idx = three_nn(query, points, query_lengths=query_lengths, lengths=lengths)
    valid = idx >= 0
    d = torch.where(valid, d, torch.zeros_like(d))
    w = torch.where(valid, 1.0 / (torch.sqrt(d.clamp(min=0)) + eps), torch.zeros_like(d))
    w = w / w.sum(-1, keepdim=True).clamp(min=torch.finfo(w.dtype).tiny)
    return three_interpolate(features, idx, w)


# ------------------------------------------------------------------------------------ voxels
def voxelize(points: Tensor, voxel_size: Union[float, Sequence[float], Tensor], *,
             origin: Optional[Union[Sequence[float], Tensor]] = None,
             batch: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """Assign points to voxels of a regular grid.

    Voxel of a point: ``floor((p - origin) / voxel_size)`` per axis (a point exactly on a face goes to
    the upper voxel). Points with a NaN or inf coordinate belong to no voxel (``point_to_voxel``
    ``-1``). Voxel coordinates that do not fit in int64 (``|i| >= 2**62``, e.g. a point at 1e30 with
    a 1 cm voxel) raise a ``ValueError`` naming the extent and the voxel size.

    Args:
        points: ``(N, 3)`` float32/float64 (packed; use ``batch`` for several clouds).
        voxel_size: edge length (scalar or per-axis ``(3,)``), > 0, same unit as points.
        origin: ``(3,)`` grid origin (default ``(0, 0, 0)``).
        batch: optional ``(N,)`` int64 cloud id; voxels of different clouds are distinct.

    Returns:
        ``coords``: ``(V, 4)`` int64 rows ``(batch, i, j, k)`` of the occupied voxels, sorted
        lexicographically; ``point_to_voxel``: ``(N,)`` int64 row of ``coords`` of every point.
    """
    _check_points("points", points)
    if points.dim() != 2:
        raise ValueError(f"points must have shape (N, 3) (packed, use batch=), got "
                         f"{tuple(points.shape)}")
    vs = torch.as_tensor(voxel_size, dtype=points.dtype, device=points.device)
    if vs.dim() == 0:
        vs = vs.expand(3)
    if vs.shape != (3,):
        raise ValueError(f"voxel_size must be a scalar or (3,), got shape {tuple(vs.shape)}")
    if not bool((vs > 0).all()) or not bool(torch.isfinite(vs).all()):
        raise ValueError(f"voxel_size must be > 0, got {vs.tolist()}")
    org = (torch.zeros(3, dtype=points.dtype, device=points.device) if origin is None
           else torch.as_tensor(origin, dtype=points.dtype, device=points.device))
    if org.shape != (3,):
        raise ValueError(f"origin must have shape (3,), got {tuple(org.shape)}")
    n = points.shape[0]
    b = (torch.zeros(n, dtype=torch.int64, device=points.device) if batch is None
         else _check_index_vec("batch", batch, n, points))
    fin = torch.isfinite(points).all(1)
    if bool(fin.any()):
        pf = points.detach()[fin]
        f = torch.floor((pf - org) / vs)
        big = ~(f.abs() < 2.0 ** 62)
        if bool(big.any()):
            lo, hi = pf.amin(0).tolist(), pf.amax(0).tolist()
            worst = float(f.abs().max())
            raise ValueError(
                f"voxelize: finite points span {[f'{v:.6g}' for v in lo]} .. {[f'{v:.6g}' for v in hi]}"
                f" (origin {org.tolist()}); at voxel_size {vs.tolist()} that gives voxel coordinates up"
                f" to {worst:.3g}, beyond the int64 range (|i| < 2**62): use a larger voxel_size or"
                " remove far points")
    return _backend.get().voxelize(points.detach(), vs, org, b)


def voxel_reduce(values: Tensor, point_to_voxel: Tensor, num_voxels: int,
                 reduce: str = "mean") -> Tensor:
    """Reduce per-point values into voxels.

    Args:
        values: ``(N, C)`` float32/float64 (e.g. coordinates or features).
        point_to_voxel: ``(N,)`` int64 voxel of each point (``-1``: ignored), from :func:`voxelize`.
        num_voxels: ``V``, rows of the output.
        reduce: ``"mean"``, ``"sum"`` or ``"max"`` (per channel; ties: gradient to the lowest point
            index). Empty voxels give 0.

    Returns:
        ``(V, C)``; differentiable w.r.t. ``values`` with a deterministic (sorted segment) backward.
    """
    if not isinstance(values, torch.Tensor) or values.dtype not in _FLOATS:
        raise TypeError("values must be a float32/float64 tensor")
    if values.dim() != 2:
        raise ValueError(f"values must have shape (N, C), got {tuple(values.shape)}")
    if reduce not in ("mean", "sum", "max"):
        raise ValueError(f"reduce must be 'mean', 'sum' or 'max', got {reduce!r}")
    num_voxels = _check_int("num_voxels", num_voxels, 0)
    if not isinstance(point_to_voxel, torch.Tensor) or point_to_voxel.dtype != torch.int64:
        raise TypeError("point_to_voxel must be an int64 tensor")
    if point_to_voxel.shape != (values.shape[0],):
        raise ValueError(f"point_to_voxel must have shape ({values.shape[0]},), got "
                         f"{tuple(point_to_voxel.shape)}")
    _check_same("point_to_voxel", point_to_voxel, "values", values, dtype=False)
    if point_to_voxel.numel():
        lo, hi = int(point_to_voxel.min()), int(point_to_voxel.max())
        if lo < -1 or hi >= num_voxels:
            raise ValueError(f"point_to_voxel values must be in [-1, {num_voxels - 1}], got "
                             f"min {lo}, max {hi}")
    return _backend.get().voxel_reduce(values, point_to_voxel, num_voxels, reduce)
