"""depth3d.ops on hostile clouds: far outliers (1e6, 65 m depth saturation), NaN, inf, mixed, duplicates,
empty clouds and clouds smaller than k. Every op is compared index for index with the plain-PyTorch
reference and with an independent NumPy brute force, on CPU and (when available) on CUDA; the
non-finite policy of depth3d.ops is checked directly (no NaN/inf point is ever a neighbour or sample,
FPS never repeats an index)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import depth3d.ops as ops
from depth3d.ops import reference as R

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
HOSTILE = ["far1", "far1pct", "sat65", "nan", "inf", "mixed", "dups", "empty", "small"]
NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module", autouse=True)
def compiled():
    os.environ["DEPTH3D_OPS_BACKEND"] = "compiled"
    assert ops.backend_name() == "compiled"


@pytest.fixture(params=DEVICES)
def device(request):
    """Every test runs on CPU, and on CUDA when a GPU and the CUDA kernels are present."""
    return request.param


def hostile(kind: str, dtype=torch.float32, B=2, N=400, seed=0):
    """(B, N, 3) cloud and lengths (B,): uniform points in a 1 m cube plus the hostile part."""
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(B, N, 3, generator=g, dtype=torch.float64)
    L = torch.full((B,), N, dtype=torch.int64)
    if kind == "far1":        # one point 1e6 away
        p[:, 17] = torch.tensor([1e6, 0.0, 0.0], dtype=torch.float64)
    elif kind == "far1pct":   # 1% flying pixels scattered at 1e6 scale
        k = N // 100
        p[:, -k:] = (torch.rand(B, k, 3, generator=g, dtype=torch.float64) - 0.5) * 2e6
    elif kind == "sat65":     # 5% saturated depth: a sheet at z = 65 m
        k = N // 20
        p[:, 3::20, 2] = 65.0
        assert k > 0
    elif kind == "nan":
        p[:, 5] = NAN
        p[:, 40, 1] = NAN
    elif kind == "inf":
        p[:, 4] = INF
        p[:, 9, 0] = -INF
    elif kind == "mixed":
        p[:, 1] = NAN
        p[:, 2, 2] = INF
        p[:, 3] = torch.tensor([1e6, -1e6, 3.0], dtype=torch.float64)
        p[:, 6, 0] = -INF
        p[:, 60:70] = p[:, 60:61]  # duplicates too
    elif kind == "dups":      # 200 points at the origin plus duplicates elsewhere
        p[:, :200] = 0.0
        p[:, 300:350] = p[:, 250:300]
    elif kind == "empty":
        L = torch.tensor([0] + [N] * (B - 1), dtype=torch.int64)
    elif kind == "small":     # fewer valid points than k / samples
        L = torch.tensor([3, 1][:B] + [N] * max(0, B - 2), dtype=torch.int64)
    return p.to(dtype), L


def _finite_np(x):
    return np.isfinite(x).all(-1)


def brute_knn(q, p, ql, pl, k):
    """NumPy brute force with the kernels' arithmetic; rows of (idx, dist) with -1/inf padding."""
    q, p = q.cpu().numpy(), p.cpu().numpy()
    B, M, _ = q.shape
    I = np.full((B, M, k), -1, np.int64)
    D = np.full((B, M, k), np.inf, q.dtype)
    with np.errstate(all="ignore"):
        for b in range(B):
            n = int(pl[b])
            pf = _finite_np(p[b, :n])
            for m in range(int(ql[b])):
                if not _finite_np(q[b, m]):
                    continue
                dx, dy, dz = (p[b, :n] - q[b, m]).T
                d = dx * dx + dy * dy + dz * dz
                cand = np.nonzero(pf)[0]
                order = cand[np.lexsort((cand, d[cand]))][:k]
                I[b, m, :len(order)] = order
                D[b, m, :len(order)] = d[order]
    return torch.from_numpy(D), torch.from_numpy(I)


def brute_ball(q, p, ql, pl, r, K, nearest):
    q, p = q.cpu().numpy(), p.cpu().numpy()
    B, M, _ = q.shape
    I = np.full((B, M, K), -1, np.int64)
    r2 = np.array(r * r, dtype=q.dtype)
    with np.errstate(all="ignore"):
        for b in range(B):
            n = int(pl[b])
            for m in range(int(ql[b])):
                dx, dy, dz = (p[b, :n] - q[b, m]).T
                d = dx * dx + dy * dy + dz * dz
                hit = np.nonzero((d < r2) & _finite_np(p[b, :n]) & _finite_np(q[b, m]))[0]
                if nearest:
                    hit = hit[np.lexsort((hit, d[hit]))]
                hit = hit[:K]
                I[b, m, :len(hit)] = hit
                if len(hit):
                    I[b, m, len(hit):] = hit[0]
    return torch.from_numpy(I)


def _queries(p):
    """Queries: the cloud's own points (incl. its NaN/inf/far ones) plus a far and a NaN query."""
    extra = torch.tensor([[5e5, 5e5, 5e5], [NAN, 0.0, 0.0]], dtype=p.dtype)
    return torch.cat([p, extra[None].expand(p.shape[0], -1, -1)], 1).contiguous()


@pytest.mark.parametrize("kind", HOSTILE)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_knn_hostile(device, kind, dtype):
    p, L = hostile(kind, dtype)
    q = _queries(p)
    QL = L + 2 * (L > 0)
    QL = torch.where(L == 0, torch.zeros_like(L), torch.full_like(L, q.shape[1]))
    QL = torch.minimum(QL, torch.full_like(QL, q.shape[1]))
    k = 8
    d, i = ops.knn(q.to(device), p.to(device), k, query_lengths=QL.to(device), lengths=L.to(device))
    d, i = d.cpu(), i.cpu()
    rd, ri = R.knn(q, p, QL, L, k)
    bd, bi = brute_knn(q, p, QL, L, k)
    assert torch.equal(i, ri) and torch.equal(i, bi)
    assert torch.equal(d, rd) and torch.equal(d, bd)
    fin = torch.isfinite(p).all(-1)
    sel = i.clamp(min=0)
    assert bool(torch.gather(fin[:, None, :].expand(-1, i.shape[1], -1), 2, sel)[i >= 0].all())
    assert bool((d[i >= 0] >= 0).all()) and not bool(torch.isnan(d).any())
    # non-finite queries get nothing
    qfin = torch.isfinite(q).all(-1)
    assert bool((i[~qfin] == -1).all())


@pytest.mark.parametrize("kind", HOSTILE)
@pytest.mark.parametrize("order", ["index", "nearest"])
def test_ball_query_hostile(device, kind, order):
    for dtype in (torch.float32, torch.float64):
        p, L = hostile(kind, dtype)
        q = _queries(p)
        QL = torch.where(L == 0, torch.zeros_like(L), torch.full_like(L, q.shape[1]))
        for pad in ("first", "none"):
            d, i = ops.ball_query(q.to(device), p.to(device), 0.15, 16, query_lengths=QL.to(device),
                                  lengths=L.to(device), order=order, pad=pad)
            rd, ri = R.ball_query(q, p, QL, L, 0.15, 16, order == "nearest", pad == "first")
            assert torch.equal(i.cpu(), ri) and torch.equal(d.cpu(), rd)
            if pad == "first":
                assert torch.equal(i.cpu(), brute_ball(q, p, QL, L, 0.15, 16, order == "nearest"))
            assert not bool(torch.isnan(d).any())


def _fps_ok(idx, p, L):
    for b in range(p.shape[0]):
        row = idx[b][idx[b] >= 0]
        assert len(set(row.tolist())) == len(row), f"repeated index in {row.tolist()}"
        n = int(L[b])
        fin = torch.isfinite(p[b, :n]).all(-1)
        assert bool(fin[row].all()), "non-finite point sampled"
        assert len(row) == min(idx.shape[1], int(fin.sum()))


@pytest.mark.parametrize("kind", HOSTILE)
def test_fps_hostile(device, kind):
    for dtype in (torch.float32, torch.float64):
        p, L = hostile(kind, dtype)
        for S in (1, 7, 64, 400):
            idx = ops.furthest_point_sample(p.to(device), S, lengths=L.to(device)).cpu()
            counts = torch.minimum(L, torch.full_like(L, S))
            ref = R.furthest_point_sample(p, L, counts, S, torch.zeros_like(L))
            assert torch.equal(idx, ref)
            _fps_ok(idx, p, L)


def test_fps_nonfinite_start_and_all_nonfinite(device):
    p = torch.rand(1, 10, 3, dtype=torch.float64)
    p[0, 0] = NAN
    p[0, 3] = INF
    idx = ops.furthest_point_sample(p.to(device), 10).cpu()
    assert idx[0, 0] == 1 and (idx[0, 8:] == -1).all()  # start 0 is NaN: first finite point
    _fps_ok(idx, p, torch.tensor([10]))
    bad = torch.full((1, 5, 3), NAN)
    assert (ops.furthest_point_sample(bad.to(device), 3).cpu() == -1).all()
    # packed output: shorter, never -1
    out = ops.furthest_point_sample(p[0].to(device), 10).cpu()
    assert len(out) == 8 and 0 not in out.tolist() and 3 not in out.tolist()


def official_fps(xyz: np.ndarray, m: int) -> list[int]:
    """NumPy port of facebookresearch/votenet pointnet2 furthest_point_sampling_kernel (float32,
    temp initialised to 1e10, points with mag <= 1e-3 skipped, start at index 0)."""
    xyz = xyz.astype(np.float32)
    temp = np.full(len(xyz), 1e10, np.float32)
    x, y, z = xyz.T
    mag = x * x + y * y + z * z
    use = ~(mag.astype(np.float64) <= 1e-3)
    out, old = [0], 0
    for _ in range(1, m):
        d = (x - x[old]) * (x - x[old]) + (y - y[old]) * (y - y[old]) + (z - z[old]) * (z - z[old])
        temp = np.where(use, np.minimum(d, temp), temp)
        cand = np.where(use, temp, np.float32(-1))
        old = int(np.argmax(cand))
        out.append(old)
    return out


def test_fps_skip_near_origin_matches_official_kernel(device):
    g = torch.Generator().manual_seed(3)
    p = torch.rand(2000, 3, generator=g) * 4 + torch.tensor([-2.0, -2.0, 0.5])  # in front of a camera
    p[5::10] = 0.0         # 200 points at the origin (invalid depth pixels)
    p[1::97] *= 0.01       # a few more inside |p|^2 <= 1e-3
    want = official_fps(p.numpy(), 64)
    got = ops.furthest_point_sample(p.to(device), 64, skip_near_origin=1e-3).cpu().tolist()
    assert got == want
    plain = ops.furthest_point_sample(p.to(device), 64).cpu().tolist()
    near = set(torch.nonzero((p * p).sum(1) <= 1e-3)[:, 0].tolist())
    assert plain != want and near & set(plain)  # the default keeps today's rule: near-origin sampled
    ref = R.furthest_point_sample(p[None], torch.tensor([2000]), torch.tensor([64]), 64,
                                  torch.tensor([0]), 1e-3)
    assert ref[0].tolist() == want
    # runs out with -1 instead of repeating
    few = torch.zeros(1, 6, 3)
    few[0, 4] = 1.0
    assert ops.furthest_point_sample(few.to(device), 4, skip_near_origin=1e-3).cpu().tolist() == \
        [[0, 4, -1, -1]]
    with pytest.raises(ValueError, match="skip_near_origin"):
        ops.furthest_point_sample(p, 4, skip_near_origin=-1.0)


def test_far_outlier_answers_stay_exact_on_large_clouds(device):
    """A grid stretched by one far point used to degrade to brute force; the answers on a large cloud
    with one far point and 1% flying pixels are still exact (speed: benchmarks/bench_ops.py)."""
    g = torch.Generator().manual_seed(5)
    p = torch.rand(1, 20000, 3, generator=g)
    p[0, 123] = torch.tensor([1e6, 0.0, 0.0])
    p[0, -200:] = (torch.rand(200, 3, generator=g) - 0.5) * 2e6
    # queries: every 40th point, all 200 flying pixels and the far point (seen from 1e6 away the unit
    # cloud lies on a few float32 distances: thousands of exact ties, decided by index), and points on
    # the cloud's corners and faces
    corners = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.5]])
    q = torch.cat([p[:, ::40], p[:, -200:], p[:, 123:124], corners[None]], 1).contiguous()
    L, QL = torch.tensor([20000]), torch.tensor([q.shape[1]])
    for k in (8, 16):
        d, i = ops.knn(q.to(device), p.to(device), k)
        rd, ri = R.knn(q, p, QL, L, k)
        assert torch.equal(i.cpu(), ri) and torch.equal(d.cpu(), rd)
    for r, K in ((0.05, 16), (0.2, 64)):
        for order in ("index", "nearest"):
            d, i = ops.ball_query(q.to(device), p.to(device), r, K, order=order)
            rd, ri = R.ball_query(q, p, QL, L, r, K, order == "nearest", True)
            assert torch.equal(i.cpu(), ri) and torch.equal(d.cpu(), rd)


def test_issue_examples(device):
    g = torch.Generator().manual_seed(0)
    p = torch.rand(30, 3, generator=g)
    p[11] = NAN
    d, i = ops.knn(p[:4].to(device), p.to(device), 5)
    assert not bool(torch.isnan(d).any()) and 11 not in i.cpu().tolist()
    assert bool((d[:, 1:] >= d[:, :-1]).all())
    pi = torch.rand(10, 3, generator=g)
    pi[4] = INF
    d, i = ops.knn(pi.to(device), pi.to(device), 3)   # used to raise "cannot create std::vector"
    assert 4 not in i.cpu().tolist()
    s = ops.furthest_point_sample(pi.to(device), 10).cpu().tolist()
    assert len(s) == 9 and len(set(s)) == 9 and 4 not in s


def test_voxelize_policy_and_overflow(device):
    pts = torch.tensor([[0.5, 0.5, 0.5], [NAN, 0.0, 0.0], [0.51, 0.5, 0.5], [INF, 1.0, 1.0]],
                       device=device)
    coords, p2v = ops.voxelize(pts, 0.1)
    assert p2v.cpu().tolist() == [0, -1, 0, -1] and coords.shape == (1, 4)
    out = ops.voxel_reduce(pts.double().nan_to_num(0.0, 0.0, 0.0), p2v, 1, "mean")
    assert torch.allclose(out.cpu(), torch.tensor([[0.505, 0.5, 0.5]], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"voxel_size .*int64"):
        ops.voxelize(torch.tensor([[1e30, 0.0, 0.0], [0.0, 0.0, 0.0]], device=device), 0.01)
    with pytest.raises(ValueError, match="int64"):
        ops.voxelize(torch.tensor([[1e17, 0.0, 0.0]], dtype=torch.float64, device=device), 1e-3)
    # empty and all-non-finite clouds
    c, v = ops.voxelize(torch.zeros(0, 3, device=device), 0.1)
    assert c.shape == (0, 4) and v.shape == (0,)
    c, v = ops.voxelize(torch.full((3, 3), NAN, device=device), 0.1)
    assert c.shape == (0, 4) and v.cpu().tolist() == [-1, -1, -1]


def test_packed_hostile_matches_padded(device):
    p, L = hostile("mixed", torch.float32, B=2, N=200)
    packed = p.reshape(-1, 3).to(device)
    batch = torch.arange(2, device=device).repeat_interleave(200)
    d, i = ops.knn(packed, packed, 6, query_batch=batch, batch=batch)
    dp, ip = ops.knn(p.to(device), p.to(device), 6)
    ip = torch.where(ip >= 0, ip + torch.arange(2, device=device)[:, None, None] * 200, ip)
    assert torch.equal(i, ip.reshape(-1, 6)) and torch.equal(d, dp.reshape(-1, 6))
