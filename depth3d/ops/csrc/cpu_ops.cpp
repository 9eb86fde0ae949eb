// depth3d neighbour-search ops: operator schemas (TORCH_LIBRARY) and the multi-threaded CPU kernels.
// Arithmetic contract (shared with the CUDA kernels and depth3d/ops/reference.py): squared distances are
// dx*dx + dy*dy + dz*dz evaluated left to right without fused multiply-add (-ffp-contract=off), in the
// input dtype; ties go to the lowest index.
#include <torch/library.h>
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cmath>
#include <limits>
#include <vector>

#include "op_checks.h"

namespace {

using at::Tensor;
using namespace depth3d_checks;

// Dynamic scheduling over [0, n) in chunks taken from an atomic counter: one task per torch thread,
// so a descheduled thread (shared machines) or a slow chunk (boundary queries) does not stall the
// others. Falls back to a serial loop inside an outer parallel region (at::parallel_for runs inline).
template <typename F>
void dyn_for(int64_t n, int64_t chunk, const F& fn) {
  if (n <= 0) return;
  const int64_t tasks = std::min<int64_t>(at::get_num_threads(), (n + chunk - 1) / chunk);
  std::atomic<int64_t> next{0};
  at::parallel_for(0, tasks, 1, [&](int64_t, int64_t) {
    for (;;) {
      const int64_t s0 = next.fetch_add(chunk);
      if (s0 >= n) break;
      fn(s0, std::min(n, s0 + chunk));
    }
  });
}

// ------------------------------------------------------------------------------------------- FPS
template <typename T>
inline bool finite3(const T* p) { return std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]); }

// One cloud. Only *eligible* points (finite, and with x*x+y*y+z*z > skip when skip >= 0) are copied
// (in index order, so ties still go to the lowest index) and can be sampled after the start point.
// A non-finite start is replaced by the first eligible point; a finite but near-origin start is kept
// (as the official PointNet++/VoteNet kernel always emits index 0). At most (#eligible + start-not-
// eligible) samples are produced, so no index repeats. mind[j]: squared distance to the nearest
// selected point, -1 once j is selected.
template <typename T>
void fps_cloud(const T* p, int64_t n, int64_t s, int64_t start, int64_t* out, bool threaded, double skip) {
  std::vector<int64_t> map;
  std::vector<T> x, y, z;
  map.reserve(n); x.reserve(n); y.reserve(n); z.reserve(n);
  int64_t spos = -1;
  for (int64_t j = 0; j < n; ++j) {
    const T* q = p + 3 * j;
    if (!finite3(q)) continue;
    if (skip >= 0 && (double)(q[0] * q[0] + q[1] * q[1] + q[2] * q[2]) <= skip) continue;
    if (j == start) spos = (int64_t)map.size();
    map.push_back(j); x.push_back(q[0]); y.push_back(q[1]); z.push_back(q[2]);
  }
  const int64_t m = (int64_t)map.size();
  int64_t st = start;
  if (!finite3(p + 3 * start)) {
    if (m == 0) return;
    st = map[0]; spos = 0;
  }
  const int64_t total = std::min<int64_t>(s, m + (spos < 0 ? 1 : 0));
  out[0] = st;
  std::vector<T> mind(m, std::numeric_limits<T>::infinity());
  if (spos >= 0) mind[spos] = T(-1);
  T cx = p[3 * st], cy = p[3 * st + 1], cz = p[3 * st + 2];
  const int64_t nchunks = threaded ? std::min<int64_t>(at::get_num_threads(), (m + 4095) / 4096) : 1;
  std::vector<T> cbest(std::max<int64_t>(nchunks, 1));
  std::vector<int64_t> cidx(std::max<int64_t>(nchunks, 1));
  T* X_ = x.data(); T* Y_ = y.data(); T* Z_ = z.data(); T* D_ = mind.data();
  auto chunk = [&](int64_t lo, int64_t hi, T qx, T qy, T qz, T& best_out, int64_t& idx_out) {
    // local restrict copies: the captured pointers escape into the OpenMP region, and without these the
    // compiler reloads them every iteration and does not vectorise (3x slower, measured)
    const T* __restrict X = X_;
    const T* __restrict Y = Y_;
    const T* __restrict Z = Z_;
    T* __restrict D = D_;
    T best = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : best)
    for (int64_t j = lo; j < hi; ++j) {
      T dx = X[j] - qx, dy = Y[j] - qy, dz = Z[j] - qz;
      T d = dx * dx + dy * dy + dz * dz;
      T mm = D[j] < d ? D[j] : d;
      D[j] = mm;
      best = best > mm ? best : mm;
    }
    int64_t bi = lo;
    for (int64_t j = lo; j < hi; ++j) if (D[j] == best) { bi = j; break; }
    best_out = best; idx_out = bi;
  };
  for (int64_t i = 1; i < total; ++i) {
    int64_t cur;
    if (nchunks <= 1) {
      T b; int64_t bi;
      chunk(0, m, cx, cy, cz, b, bi);
      cur = bi;
    } else {
      const int64_t step = (m + nchunks - 1) / nchunks;
      at::parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c)
          chunk(c * step, std::min(m, (c + 1) * step), cx, cy, cz, cbest[c], cidx[c]);
      });
      T b = cbest[0]; int64_t bi = cidx[0];
      for (int64_t c = 1; c < nchunks; ++c) if (cbest[c] > b) { b = cbest[c]; bi = cidx[c]; }
      cur = bi;
    }
    D_[cur] = T(-1);
    out[i] = map[cur];
    cx = X_[cur]; cy = Y_[cur]; cz = Z_[cur];
  }
}

Tensor fps_cpu(const Tensor& points_, const Tensor& lengths_, const Tensor& counts_, int64_t n_out,
               const Tensor& start_, double skip_origin) {
  check_fps_args(points_, lengths_, counts_, start_, n_out);
  const int64_t B = points_.size(0), N = points_.size(1);
  auto points = points_.contiguous();
  auto lengths = lengths_.contiguous(), counts = counts_.contiguous(), start = start_.contiguous();
  const int64_t* L = lengths.data_ptr<int64_t>();
  const int64_t* S = counts.data_ptr<int64_t>();
  const int64_t* S0 = start.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    TORCH_CHECK(L[b] >= 0 && L[b] <= N, "lengths[", b, "]=", L[b], " out of [0, ", N, "]");
    TORCH_CHECK(S[b] >= 0 && S[b] <= std::min(L[b], n_out), "counts[", b, "]=", S[b], " invalid");
    TORCH_CHECK(L[b] == 0 || (S0[b] >= 0 && S0[b] < L[b]), "start[", b, "]=", S0[b], " out of range");
  }
  auto out = at::full({B, n_out}, -1, points.options().dtype(at::kLong));
  int64_t* O = out.data_ptr<int64_t>();
  const bool inner = B < at::get_num_threads();
  AT_DISPATCH_FLOATING_TYPES(points.scalar_type(), "fps_cpu", [&] {
    const scalar_t* P = points.data_ptr<scalar_t>();
    auto one = [&](int64_t b, bool threaded) {
      if (L[b] > 0 && S[b] > 0) fps_cloud<scalar_t>(P + b * N * 3, L[b], S[b], S0[b], O + b * n_out, threaded, skip_origin);
    };
    if (inner) {
      for (int64_t b = 0; b < B; ++b) one(b, true);
    } else {
      dyn_for(B, 1, [&](int64_t b0, int64_t b1) { for (int64_t b = b0; b < b1; ++b) one(b, false); });
    }
  });
  return out;
}

// ------------------------------------------------------------------------------------------- kNN
// Spatial structure whose cost does not depend on the cloud's extent: a short list of uniform grids
// ("levels"). Level 0 covers the points inside Tukey fences (per axis [Q1 - 1.5 IQR, Q3 + 1.5 IQR],
// quartiles from a strided sample), shrunk to the tight box of those points; the points outside (far
// outliers, flying pixels, saturated depth) go to the next level, built the same way from them alone,
// and so on (at most 6 levels; the last one, or one whose fences would keep less than a quarter of
// its points, takes all that is left). So one point at 1e6 gets a level of its own instead of
// stretching a single grid over 1e6 units. Non-finite points are in no level. Each level is counting-
// sorted by cell (stable, so index order within a cell). Lower bounds on the distances of a cell's
// points are exact in the kernels' own arithmetic (Level::sq): a query visits levels nearest box
// first, searches a level's rings of cells outwards until the k-th best distance is below the bound on
// every unvisited cell, skips cells (and levels) that cannot beat the current k-th (distance, index),
// and ball queries visit only the cells whose bound is below the radius. Candidates are ranked by
// (distance, index), so results do not depend on the visiting order.
template <typename T>
inline bool finite_pt(const T* p) { return std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]); }

template <typename T>
struct Level {
  double lo[3], h, inv_h, bmin[3], bmax[3];
  int64_t G[3];
  std::vector<int64_t> start;   // ncells + 1
  std::vector<int64_t> id;      // point index, grouped by cell
  std::vector<T> xyz;           // coordinates in the same order
  std::vector<T> slo[3], shi[3];  // per axis, per slab: T values bounding every point of the slab
  T tmin[3], tmax[3];             // the tight box in T

  // Exact lower bound, in the kernels' arithmetic, on dx*dx for every point of slab i of axis a:
  // fl(p - q) is monotone in p, squaring is monotone in |dx|, so the bound uses the slab's nearest
  // safe coordinate. Summed as (x + y) + z like the kernels, the cell bound is exact in T (no slack).
  T sq(int a, int64_t i, T qa) const {
    const T l = slo[a][i], u = shi[a][i];
    const T e = qa < l ? T(l - qa) : (qa > u ? T(u - qa) : T(0));
    return e * e;
  }
  T box_lb(const T* qp) const {
    T e[3];
    for (int a = 0; a < 3; ++a)
      e[a] = qp[a] < tmin[a] ? T(tmin[a] - qp[a]) : (qp[a] > tmax[a] ? T(tmax[a] - qp[a]) : T(0));
    return e[0] * e[0] + e[1] * e[1] + e[2] * e[2];
  }

  int64_t cell1(double v, int a) const {
    const double c = (v - lo[a]) * inv_h;
    if (!(c > 0)) return 0;  // also NaN
    if (c >= (double)(G[a] - 1)) return G[a] - 1;
    return (int64_t)c;  // truncation = floor here (0 < c < G - 1), without a libm call
  }

  void build(const T* p, const std::vector<int64_t>& ids, double hmin, double per_cell) {
    const int64_t n = (int64_t)ids.size();
    for (int a = 0; a < 3; ++a) { bmin[a] = INFINITY; bmax[a] = -INFINITY; }
    for (int64_t j : ids)
      for (int a = 0; a < 3; ++a) { bmin[a] = std::min(bmin[a], (double)p[3 * j + a]); bmax[a] = std::max(bmax[a], (double)p[3 * j + a]); }
    double ext[3], emax = 0;
    for (int a = 0; a < 3; ++a) { lo[a] = bmin[a]; ext[a] = bmax[a] - bmin[a]; emax = std::max(emax, ext[a]); }
    if (!std::isfinite(emax)) {  // float64 coordinates near the limits: one cell
      h = INFINITY; G[0] = G[1] = G[2] = 1;
    } else {
      if (!(emax > 0)) emax = 1;
      const double target = std::max(1.0, n / per_cell);
      double vol = 1;
      for (int a = 0; a < 3; ++a) vol *= std::max(ext[a], emax * 1e-3);
      h = std::cbrt(vol / target);
      if (!(h > 0) || !std::isfinite(h)) h = emax;
      if (hmin > 0) h = std::max(hmin, 0.5 * h);
      for (int it = 0; it < 400; ++it) {
        double cells = 1;
        for (int a = 0; a < 3; ++a) { G[a] = (int64_t)std::floor(std::min(ext[a] / h, 1e12)) + 1; cells *= G[a]; }
        if (cells <= 2.0 * n / std::min(per_cell, 2.0) + 8) break;
        h *= 1.26;
      }
    }
    inv_h = 1.0 / h;  // 0 for h = inf (one cell)
    for (int a = 0; a < 3; ++a) {
      tmin[a] = (T)bmin[a]; tmax[a] = (T)bmax[a];  // exact: both are coordinates of points
      slo[a].resize(G[a]); shi[a].resize(G[a]);
      for (int64_t i = 0; i < G[a]; ++i) {
        // cell1() rounds in double: widen the geometric slab by far more than that rounding, then
        // round outwards to T
        const double b0 = lo[a] + i * h, b1 = lo[a] + (i + 1) * h;
        const double sl0 = 1e-9 * h + 1e-12 * (std::fabs(lo[a]) + std::fabs(b0));
        const double sl1 = 1e-9 * h + 1e-12 * (std::fabs(lo[a]) + std::fabs(b1));
        T l = i == 0 ? tmin[a] : (T)(b0 - sl0), u = i == G[a] - 1 ? tmax[a] : (T)(b1 + sl1);
        if (i > 0 && (double)l > b0 - sl0) l = std::nextafter(l, -std::numeric_limits<T>::infinity());
        if (i < G[a] - 1 && (double)u < b1 + sl1) u = std::nextafter(u, std::numeric_limits<T>::infinity());
        slo[a][i] = std::max(l, tmin[a]); shi[a][i] = std::min(u, tmax[a]);
      }
    }
    const int64_t nc = G[0] * G[1] * G[2];
    start.assign(nc + 1, 0);
    std::vector<int64_t> cid(n);
    for (int64_t t = 0; t < n; ++t) {
      const T* q = p + 3 * ids[t];
      cid[t] = (cell1(q[0], 0) * G[1] + cell1(q[1], 1)) * G[2] + cell1(q[2], 2);
      start[cid[t] + 1]++;
    }
    for (int64_t c = 0; c < nc; ++c) start[c + 1] += start[c];
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    id.resize(n); xyz.resize(3 * n);
    for (int64_t t = 0; t < n; ++t) {
      const int64_t o = fill[cid[t]]++, j = ids[t];
      id[o] = j; xyz[3 * o] = p[3 * j]; xyz[3 * o + 1] = p[3 * j + 1]; xyz[3 * o + 2] = p[3 * j + 2];
    }
  }
};

template <typename T>
struct Grid {
  std::vector<Level<T>> levels;

  void build(const T* p, int64_t n, double hmin = 0, double per_cell = 2.0) {
    levels.clear();
    std::vector<int64_t> rest;
    rest.reserve(n);
    for (int64_t j = 0; j < n; ++j) if (finite_pt(p + 3 * j)) rest.push_back(j);
    for (int depth = 0; !rest.empty(); ++depth) {
      std::vector<int64_t> in, out;
      bool last = depth >= 5 || rest.size() <= 64;
      if (!last) {
        const int64_t m = (int64_t)rest.size(), step = std::max<int64_t>(1, m / 2048);
        double f0[3], f1[3];
        std::vector<double> v;
        for (int a = 0; a < 3; ++a) {
          v.clear();
          for (int64_t t = 0; t < m; t += step) v.push_back((double)p[3 * rest[t] + a]);
          const size_t i1 = v.size() / 4, i3 = (3 * v.size()) / 4;
          std::nth_element(v.begin(), v.begin() + i1, v.end());
          const double q1 = v[i1];
          std::nth_element(v.begin(), v.begin() + i3, v.end());
          const double q3 = v[i3], iqr = q3 - q1;
          f0[a] = q1 - 1.5 * iqr; f1[a] = q3 + 1.5 * iqr;
        }
        in.reserve(m);
        for (int64_t j : rest) {
          const T* q = p + 3 * j;
          bool inside = true;
          for (int a = 0; a < 3; ++a) inside = inside && (double)q[a] >= f0[a] && (double)q[a] <= f1[a];
          (inside ? in : out).push_back(j);
        }
        if ((int64_t)in.size() * 4 < m || in.empty()) last = true;
      }
      if (last) { in.swap(rest); out.clear(); }
      levels.emplace_back();
      levels.back().build(p, in, hmin, per_cell);
      rest.swap(out);
    }
  }
};

template <typename T>
inline void topk_insert(T d, int64_t j, T* bd, int64_t* bi, int64_t& cnt, int64_t k) {
  if (cnt == k && !(d < bd[k - 1] || (d == bd[k - 1] && j < bi[k - 1]))) return;
  int64_t pos = cnt < k ? cnt++ : k - 1;
  while (pos > 0 && (d < bd[pos - 1] || (d == bd[pos - 1] && j < bi[pos - 1]))) {
    bd[pos] = bd[pos - 1]; bi[pos] = bi[pos - 1]; --pos;
  }
  bd[pos] = d; bi[pos] = j;
}

// ------------------------------------------------------------------------------------ ball query
std::tuple<Tensor, Tensor> ball_query_cpu(const Tensor& query_, const Tensor& points_,
                                          const Tensor& qlen_, const Tensor& plen_, double radius,
                                          int64_t K, bool nearest, bool pad_first) {
  check_query_points(query_, points_, qlen_, plen_);
  check_ball_args(radius, K);
  const int64_t B = points_.size(0), N = points_.size(1), M = query_.size(1);
  auto q = query_.contiguous(), p = points_.contiguous();
  auto qlen = qlen_.contiguous(), plen = plen_.contiguous();
  auto idx = at::full({B, M, K}, -1, p.options().dtype(at::kLong));
  auto dist = at::full({B, M, K}, std::numeric_limits<double>::infinity(), p.options());
  const int64_t* QL = qlen.data_ptr<int64_t>();
  const int64_t* PL = plen.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    TORCH_CHECK(QL[b] >= 0 && QL[b] <= M && PL[b] >= 0 && PL[b] <= N, "lengths out of range");
  int64_t* I = idx.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "ball_query_cpu", [&] {
    const scalar_t* Q = q.data_ptr<scalar_t>();
    const scalar_t* P = p.data_ptr<scalar_t>();
    scalar_t* D = dist.data_ptr<scalar_t>();
    const scalar_t r2 = static_cast<scalar_t>(radius * radius);
    // Grid per cloud (Grid above) with cells of about radius/2 (coarser when that would exceed ~2
    // cells per point); each query skips levels whose box is at least the radius away, visits the
    // cells of the others that overlap its ball (exact per-cell bound, Level::sq), keeps the hits
    // d2 < r2 and takes the K lowest indices (order="index") or the K smallest (d2, index)
    // (order="nearest"). The cost of a query follows the points near it, not its position in the
    // cloud: an index-order scan with early exit (the previous order="index" kernel) costs O(N) for a
    // query with fewer than K hits (far outliers, corners of the cloud).
    std::vector<Grid<scalar_t>> grids(B);
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        if (PL[b] > 0 && QL[b] > 0 && r2 > 0) grids[b].build(P + b * N * 3, PL[b], std::min(radius * 0.5, 1e300));
    });
    dyn_for(B * M, 32, [&](int64_t r0, int64_t r1) {
      std::vector<std::pair<scalar_t, int64_t>> hits;   // (d2, index): order="nearest"
      std::vector<uint64_t> bits, summary;              // order="index", see below
      struct Run { const Level<scalar_t>* g; int64_t o0, o1; };
      std::vector<Run> runs;  // the cell ranges (rows of cells along z) the query's ball overlaps
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / M, m = r % M;
        if (m >= QL[b] || PL[b] == 0 || !(r2 > 0)) continue;
        const scalar_t* qp = Q + 3 * r;
        if (!finite_pt(qp)) continue;  // non-finite query: no neighbours
        int64_t* ir = I + r * K;
        scalar_t* dr = D + r * K;
        const double qd[3] = {(double)qp[0], (double)qp[1], (double)qp[2]};
        runs.clear();
        for (const Level<scalar_t>& g : grids[b].levels) {
          if (!(g.box_lb(qp) < r2)) continue;
          const double rr = radius * (1 + 1e-5) + 1e-9 * (std::isfinite(g.h) ? g.h : 0.0);
          int64_t c0[3], c1[3];
          for (int a = 0; a < 3; ++a) { c0[a] = g.cell1(qd[a] - rr, a); c1[a] = g.cell1(qd[a] + rr, a); }
          for (int64_t i = c0[0]; i <= c1[0]; ++i) {
            const scalar_t sx = g.sq(0, i, qp[0]);
            if (!(sx < r2)) continue;
            for (int64_t j = c0[1]; j <= c1[1]; ++j) {
              const scalar_t sxy = sx + g.sq(1, j, qp[1]);
              if (!(sxy < r2)) continue;
              const int64_t row = (i * g.G[1] + j) * g.G[2];
              int64_t l0 = c0[2], l1 = c1[2];
              while (l0 <= l1 && !(sxy + g.sq(2, l0, qp[2]) < r2)) ++l0;
              while (l1 >= l0 && !(sxy + g.sq(2, l1, qp[2]) < r2)) --l1;
              const int64_t o0 = g.start[row + l0], o1 = g.start[row + l1 + 1];
              if (o0 < o1) runs.push_back({&g, o0, o1});
            }
          }
        }
        if (nearest) {
          int64_t total = 0, nh = 0;
          for (const Run& run : runs) total += run.o1 - run.o0;
          if ((int64_t)hits.size() < total) hits.resize(total);
          for (const Run& run : runs) {
            const Level<scalar_t>& g = *run.g;
            for (int64_t o = run.o0; o < run.o1; ++o) {
              scalar_t dx = g.xyz[3 * o] - qp[0], dy = g.xyz[3 * o + 1] - qp[1], dz = g.xyz[3 * o + 2] - qp[2];
              scalar_t d = dx * dx + dy * dy + dz * dz;
              hits[nh] = {d, g.id[o]};
              nh += d < r2;  // branch-free: hits are ~50/50
            }
          }
          const int64_t cnt = std::min<int64_t>(K, nh);
          std::partial_sort(hits.begin(), hits.begin() + cnt, hits.begin() + nh);
          for (int64_t c = 0; c < cnt; ++c) { ir[c] = hits[c].second; dr[c] = hits[c].first; }
          if (pad_first && cnt > 0)
            for (int64_t c = cnt; c < K; ++c) { ir[c] = ir[0]; dr[c] = dr[0]; }
          continue;
        }
        // order="index" from the grid: mark the hits in a two-level bitmap over the point indices
        // (words of 64 points, a summary bit per non-empty word), then read the K lowest set bits;
        // the bitmap is cleared as it is read, so its cost follows the hits, not N.
        if (bits.empty()) { bits.assign((N + 63) / 64, 0); summary.assign((N + 4095) / 4096, 0); }
        for (const Run& run : runs) {
          const Level<scalar_t>& g = *run.g;
          for (int64_t o = run.o0; o < run.o1; ++o) {
            scalar_t dx = g.xyz[3 * o] - qp[0], dy = g.xyz[3 * o + 1] - qp[1], dz = g.xyz[3 * o + 2] - qp[2];
            const uint64_t hit = dx * dx + dy * dy + dz * dz < r2;  // branch-free: hits are ~50/50
            const int64_t j = g.id[o];
            bits[j >> 6] |= hit << (j & 63);
            summary[j >> 12] |= hit << ((j >> 6) & 63);
          }
        }
        const scalar_t* X = P + b * N * 3;
        int64_t cnt = 0;
        for (size_t s = 0; s < summary.size(); ++s) {
          uint64_t sm = summary[s];
          if (!sm) continue;
          summary[s] = 0;
          while (sm) {
            const int64_t w = (int64_t)s * 64 + __builtin_ctzll(sm);
            sm &= sm - 1;
            uint64_t word = bits[w];
            bits[w] = 0;
            while (word && cnt < K) {
              const int64_t j = w * 64 + __builtin_ctzll(word);
              word &= word - 1;
              scalar_t dx = X[3 * j] - qp[0], dy = X[3 * j + 1] - qp[1], dz = X[3 * j + 2] - qp[2];
              ir[cnt] = j; dr[cnt++] = dx * dx + dy * dy + dz * dz;
            }
          }
        }
        if (pad_first && cnt > 0)
          for (int64_t c = cnt; c < K; ++c) { ir[c] = ir[0]; dr[c] = dr[0]; }
      }
    });
  });
  return {dist, idx};
}

// One level of the grid for one query. Cells are visited in rings around the query's cell; once k
// candidates are held, a cell is skipped when its exact lower bound (Level::sq) cannot beat the k-th
// (distance, index) pair: bound above the k-th distance, or equal to it with the cell's lowest index
// (cells are index-sorted, so its first point) above the k-th index. The per-cell index test is what
// keeps a far query cheap: seen from 1e6 away, a whole unit cloud lies on a few float32 distance
// values, so thousands of points tie and only the lowest indices matter.
template <typename T>
void knn_level(const Level<T>& g, const T* qp, int64_t k, T* bd, int64_t* bi, int64_t& cnt) {
  if (cnt == k && g.box_lb(qp) > bd[k - 1]) return;
  const double q[3] = {(double)qp[0], (double)qp[1], (double)qp[2]};
  const int64_t c[3] = {g.cell1(q[0], 0), g.cell1(q[1], 1), g.cell1(q[2], 2)};
  const T s0[3] = {g.sq(0, c[0], qp[0]), g.sq(1, c[1], qp[1]), g.sq(2, c[2], qp[2])};
  int64_t rmax = 0;
  for (int a = 0; a < 3; ++a) rmax = std::max(rmax, std::max(c[a], g.G[a] - 1 - c[a]));
  auto visit_row = [&](int64_t i, int64_t j, int64_t l0, int64_t l1, int64_t step) {
    // cells (i, j, l) for l = l0, l0 + step, ... <= l1 (step > 0)
    if (i < 0 || j < 0 || i >= g.G[0] || j >= g.G[1]) return;
    const T sxy = g.sq(0, i, qp[0]) + g.sq(1, j, qp[1]);
    const int64_t row = (i * g.G[1] + j) * g.G[2];
    for (int64_t l = l0; l <= l1; l += step) {
      if (l < 0 || l >= g.G[2]) continue;
      const int64_t cell = row + l, o0 = g.start[cell], o1 = g.start[cell + 1];
      if (o0 == o1) continue;
      if (cnt == k) {
        const T lb = sxy + g.sq(2, l, qp[2]);
        if (lb > bd[k - 1] || (lb == bd[k - 1] && g.id[o0] > bi[k - 1])) continue;
      }
      for (int64_t o = o0; o < o1; ++o) {
        T dx = g.xyz[3 * o] - qp[0], dy = g.xyz[3 * o + 1] - qp[1], dz = g.xyz[3 * o + 2] - qp[2];
        topk_insert<T>(dx * dx + dy * dy + dz * dz, g.id[o], bd, bi, cnt, k);
      }
    }
  };
  for (int64_t r = 0; r <= rmax; ++r) {
    for (int64_t di = -r; di <= r; ++di)
      for (int64_t dj = -r; dj <= r; ++dj) {
        if (std::abs(di) == r || std::abs(dj) == r) visit_row(c[0] + di, c[1] + dj, c[2] - r, c[2] + r, 1);
        else visit_row(c[0] + di, c[1] + dj, c[2] - r, c[2] + r, r > 0 ? 2 * r : 1);
      }
    if (cnt == k) {
      // every unvisited cell lies beyond the visited cube in some axis a: exact lower bound = the
      // next slab in a plus the query's own slab (the smallest term) in the other two axes
      bool any = false, beyond = true;
      for (int a = 0; a < 3 && beyond; ++a)
        for (int side = -1; side <= 1; side += 2) {
          const int64_t i = c[a] + side * (r + 1);
          if (i < 0 || i >= g.G[a]) continue;
          any = true;
          T t[3] = {s0[0], s0[1], s0[2]};
          t[a] = g.sq(a, i, qp[a]);
          if (!(t[0] + t[1] + t[2] > bd[k - 1])) { beyond = false; break; }
        }
      if (!any || beyond) break;
    }
  }
}

template <typename T>
void knn_query(const Grid<T>& g, const T* qp, int64_t k, T* bd, int64_t* bi) {
  int64_t cnt = 0;
  if (finite_pt(qp)) {  // non-finite query: no neighbours
    // nearest level first (a far query usually fills its k from its own level and skips the rest)
    const int64_t nl = (int64_t)g.levels.size();
    std::pair<T, int64_t> order[8];
    for (int64_t l = 0; l < nl; ++l) order[l] = {g.levels[l].box_lb(qp), l};
    std::sort(order, order + nl);
    for (int64_t l = 0; l < nl; ++l) knn_level<T>(g.levels[order[l].second], qp, k, bd, bi, cnt);
  }
  for (int64_t i = cnt; i < k; ++i) { bd[i] = std::numeric_limits<T>::infinity(); bi[i] = -1; }
}

std::tuple<Tensor, Tensor> knn_cpu(const Tensor& query_, const Tensor& points_, const Tensor& qlen_,
                                   const Tensor& plen_, int64_t k) {
  check_query_points(query_, points_, qlen_, plen_);
  const int64_t B = points_.size(0), N = points_.size(1), M = query_.size(1);
  check_knn_args(k, N);
  auto q = query_.contiguous(), p = points_.contiguous();
  auto qlen = qlen_.contiguous(), plen = plen_.contiguous();
  const int64_t* QL = qlen.data_ptr<int64_t>();
  const int64_t* PL = plen.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    TORCH_CHECK(QL[b] >= 0 && QL[b] <= M && PL[b] >= 0 && PL[b] <= N, "lengths out of range");
  auto idx = at::full({B, M, k}, -1, p.options().dtype(at::kLong));
  auto dist = at::full({B, M, k}, std::numeric_limits<double>::infinity(), p.options());
  int64_t* I = idx.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "knn_cpu", [&] {
    const scalar_t* Q = q.data_ptr<scalar_t>();
    const scalar_t* P = p.data_ptr<scalar_t>();
    scalar_t* D = dist.data_ptr<scalar_t>();
    std::vector<Grid<scalar_t>> grids(B);
    // denser cells for small k, coarser for large k (measured: ~6 points per cell is best for k=16)
    const double per_cell = std::min(8.0, std::max(2.0, k / 2.5));
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) if (PL[b] > 0 && QL[b] > 0) grids[b].build(P + b * N * 3, PL[b], 0.0, per_cell);
    });
    dyn_for(B * M, 32, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / M, m = r % M;
        if (m >= QL[b] || PL[b] == 0) continue;
        knn_query<scalar_t>(grids[b], Q + 3 * r, k, D + r * k, I + r * k);
      }
    });
  });
  return {dist, idx};
}

// -------------------------------------------------------------------------------- gather / sums
Tensor gather_cpu(const Tensor& features_, const Tensor& idx_) {
  check_gather_args(features_, idx_);
  auto f = features_.contiguous();
  auto idx = idx_.contiguous();
  const int64_t B = f.size(0), N = f.size(1), C = f.size(2), M = idx.size(1);
  const int64_t* I = idx.data_ptr<int64_t>();
  for (int64_t e = 0; e < B * M; ++e)
    TORCH_CHECK(I[e] >= -1 && I[e] < N, "idx value ", I[e], " out of range [-1, ", N, ")");
  auto out = at::empty({B, M, C}, f.options());
  AT_DISPATCH_FLOATING_TYPES(f.scalar_type(), "gather_cpu", [&] {
    const scalar_t* F = f.data_ptr<scalar_t>();
    scalar_t* O = out.data_ptr<scalar_t>();
    at::parallel_for(0, B * M, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t j = I[r];
        scalar_t* o = O + r * C;
        if (j < 0) { std::fill(o, o + C, scalar_t(0)); continue; }
        const scalar_t* s = F + ((r / M) * N + j) * C;
        std::copy(s, s + C, o);
      }
    });
  });
  return out;
}

// out[t] = sum of values[e] over e with index[e] == t, in increasing e (CSR by a stable counting
// sort): deterministic, no atomics. index == -1 rows are dropped.
Tensor index_sum_cpu(const Tensor& values_, const Tensor& index_, int64_t n) {
  check_index_sum_args(values_, index_, n);
  auto v = values_.contiguous();
  auto index = index_.contiguous();
  const int64_t E = v.size(0), C = v.size(1);
  const int64_t* X = index.data_ptr<int64_t>();
  std::vector<int64_t> ptr(n + 1, 0);
  for (int64_t e = 0; e < E; ++e) {
    TORCH_CHECK(X[e] >= -1 && X[e] < n, "index value ", X[e], " out of range [-1, ", n, ")");
    if (X[e] >= 0) ptr[X[e] + 1]++;
  }
  for (int64_t t = 0; t < n; ++t) ptr[t + 1] += ptr[t];
  std::vector<int64_t> perm(ptr[n]), fill(ptr.begin(), ptr.end() - 1);
  for (int64_t e = 0; e < E; ++e) if (X[e] >= 0) perm[fill[X[e]]++] = e;
  auto out = at::zeros({n, C}, v.options());
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "index_sum_cpu", [&] {
    const scalar_t* V = v.data_ptr<scalar_t>();
    scalar_t* O = out.data_ptr<scalar_t>();
    at::parallel_for(0, n, 256, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t o = ptr[t]; o < ptr[t + 1]; ++o) {
          const scalar_t* s = V + perm[o] * C;
          scalar_t* d = O + t * C;
          for (int64_t c = 0; c < C; ++c) d[c] += s[c];
        }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY(depth3d, m) {
  m.def("fps(Tensor points, Tensor lengths, Tensor counts, int n_out, Tensor start, float skip_origin=-1.) -> Tensor");
  m.def("ball_query(Tensor query, Tensor points, Tensor query_lengths, Tensor lengths, float radius, "
        "int k, bool nearest, bool pad_first) -> (Tensor, Tensor)");
  m.def("knn(Tensor query, Tensor points, Tensor query_lengths, Tensor lengths, int k) -> (Tensor, Tensor)");
  m.def("gather(Tensor features, Tensor idx) -> Tensor");
  m.def("index_sum(Tensor values, Tensor index, int n) -> Tensor");
}

TORCH_LIBRARY_IMPL(depth3d, CPU, m) {
  m.impl("fps", &fps_cpu);
  m.impl("ball_query", &ball_query_cpu);
  m.impl("knn", &knn_cpu);
  m.impl("gather", &gather_cpu);
  m.impl("index_sum", &index_sum_cpu);
}
