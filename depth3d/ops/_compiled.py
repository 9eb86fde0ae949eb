"""The compiled backend: ``torch.ops.depth3d.*`` with fake (meta) kernels and autograd registered
through :mod:`torch.library`, so the ops work under ``torch.compile`` and ``FakeTensorMode``.

Backward passes (all deterministic, no atomics):

* ``gather``: ``index_sum`` of the output gradient (a stable CSR segment sum by target index);
* ``index_sum``: a ``gather`` of the output gradient;
* ``knn`` / ``ball_query`` distances ``d = |q - p_j|^2``: ``grad_q = sum_k 2 g (q - p_j)`` per query,
  ``grad_p = index_sum(-2 g (q - p_j))`` over neighbours; padding (``idx == -1``) gets no gradient.
"""

from __future__ import annotations

import torch

from . import build
from . import reference as _ref
from .reference import ReferenceBackend

build.load()
_ops = torch.ops.depth3d


# ------------------------------------------------------------------------------- fake kernels
@torch.library.register_fake("depth3d::fps")
def _fps_fake(points, lengths, counts, n_out, start, skip_origin=-1.0):
    return points.new_empty((points.shape[0], n_out), dtype=torch.int64)


@torch.library.register_fake("depth3d::ball_query")
def _bq_fake(query, points, query_lengths, lengths, radius, k, nearest, pad_first):
    B, M = query.shape[0], query.shape[1]
    return query.new_empty((B, M, k)), query.new_empty((B, M, k), dtype=torch.int64)


@torch.library.register_fake("depth3d::knn")
def _knn_fake(query, points, query_lengths, lengths, k):
    B, M = query.shape[0], query.shape[1]
    return query.new_empty((B, M, k)), query.new_empty((B, M, k), dtype=torch.int64)


@torch.library.register_fake("depth3d::gather")
def _gather_fake(features, idx):
    return features.new_empty((features.shape[0], idx.shape[1], features.shape[2]))


@torch.library.register_fake("depth3d::index_sum")
def _index_sum_fake(values, index, n):
    return values.new_empty((n, values.shape[1]))


# ----------------------------------------------------------------------------------- autograd
def _gather_setup(ctx, inputs, output):
    features, idx = inputs
    ctx.save_for_backward(idx)
    ctx.n = features.shape[1]


def _gather_backward(ctx, grad):
    (idx,) = ctx.saved_tensors
    B, M = idx.shape
    C = grad.shape[2]
    flat = torch.where(idx >= 0, idx + torch.arange(B, device=idx.device)[:, None] * ctx.n, -1)
    g = torch.ops.depth3d.index_sum(grad.reshape(B * M, C).contiguous(), flat.reshape(-1), B * ctx.n)
    return g.reshape(B, ctx.n, C), None


torch.library.register_autograd("depth3d::gather", _gather_backward, setup_context=_gather_setup)


def _index_sum_setup(ctx, inputs, output):
    values, index, n = inputs
    ctx.save_for_backward(index)


def _index_sum_backward(ctx, grad):
    (index,) = ctx.saved_tensors
    g = torch.ops.depth3d.gather(grad[None].contiguous(), index[None])[0]
    return g, None, None


torch.library.register_autograd("depth3d::index_sum", _index_sum_backward,
                                setup_context=_index_sum_setup)


def _dist_setup(ctx, inputs, output):
    query, points = inputs[0], inputs[1]
    ctx.save_for_backward(query, points, output[1])


def _dist_backward(ctx, grad_d, grad_idx):
    query, points, idx = ctx.saved_tensors
    B, M, K = idx.shape
    N = points.shape[1]
    if grad_d is None:
        return (None,) * 8
    nb = torch.ops.depth3d.gather(points.contiguous(), idx.reshape(B, M * K)).reshape(B, M, K, 3)
    diff = query[:, :, None, :] - nb                     # (B, M, K, 3)
    g = torch.where(idx >= 0, grad_d, torch.zeros_like(grad_d))[..., None] * 2.0 * diff
    gq = g.sum(2) if ctx.needs_input_grad[0] else None
    gp = None
    if ctx.needs_input_grad[1]:
        flat = torch.where(idx >= 0, idx + torch.arange(B, device=idx.device)[:, None, None] * N, -1)
        gp = torch.ops.depth3d.index_sum((-g).reshape(B * M * K, 3).contiguous(), flat.reshape(-1),
                                         B * N).reshape(B, N, 3)
    return (gq, gp) + (None,) * 6


torch.library.register_autograd("depth3d::ball_query", _dist_backward, setup_context=_dist_setup)
torch.library.register_autograd("depth3d::knn", _dist_backward, setup_context=_dist_setup)


class CompiledBackend(ReferenceBackend):
    """Backend over ``torch.ops.depth3d`` (C++ CPU kernels, CUDA kernels when built with CUDA); the ops without
    a kernel (``voxelize``) are the reference's."""

    name = "compiled"
    knn = staticmethod(_ops.knn)
    gather = staticmethod(_ops.gather)

    @staticmethod
    def fps(points, lengths, counts, n_out, start, skip_origin):
        return _ops.fps(points, lengths, counts, n_out, start, float(skip_origin))

    @staticmethod
    def ball_query(q, p, ql, pl, radius, k, nearest, pad_first):
        return _ops.ball_query(q, p, ql, pl, float(radius), k, nearest, pad_first)

    @staticmethod
    def voxel_reduce(values, p2v, n, reduce):
        if reduce == "max":
            return _ref.voxel_reduce(values, p2v, n, "max")
        s = _ops.index_sum(values.contiguous(), p2v, n)
        if reduce == "mean":
            cnt = torch.bincount(p2v[p2v >= 0], minlength=n)
            s = s / cnt.clamp(min=1)[:, None].to(values.dtype)
        return s
