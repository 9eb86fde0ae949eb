// CUDA kernels of the depth3d ops. No torch headers: raw pointers and cudaStream_t only, so this file
// compiles alone with `nvcc -c cuda_kernels.cu`. Built with --fmad=false so squared distances
// (dx*dx + dy*dy + dz*dz, left to right) are bit-identical to the CPU kernels; ties go to the lowest
// index, as on the CPU.
#include "cuda_kernels.h"

#include <cuda_runtime.h>
#include <math_constants.h>

namespace depth3d_cuda {
namespace {

template <typename T> __device__ __forceinline__ T inf_of();
template <> __device__ __forceinline__ float inf_of<float>() { return CUDART_INF_F; }
template <> __device__ __forceinline__ double inf_of<double>() { return CUDART_INF; }

template <typename T>
__device__ __forceinline__ T sqd(T ax, T ay, T az, T bx, T by, T bz) {
  T dx = bx - ax, dy = by - ay, dz = bz - az;
  return dx * dx + dy * dy + dz * dz;
}

template <typename T>
__device__ __forceinline__ bool finite3(T x, T y, T z) { return isfinite(x) && isfinite(y) && isfinite(z); }

constexpr int FPS_THREADS = 512;

// One block per cloud. Same rule as the CPU kernel: only eligible points (finite, and with
// x*x+y*y+z*z > skip when skip >= 0) are sampled after the start; a non-finite start is replaced by the
// lowest-index eligible point; at most #eligible (+1 for a kept ineligible start) samples, so no index
// repeats. md[j] = -1 marks selected and ineligible points.
template <typename T>
__global__ void fps_kernel(const T* __restrict__ points, const int64_t* lengths, const int64_t* counts,
                           const int64_t* start, int64_t N, int64_t n_out, double skip, T* mind,
                           int64_t* idx) {
  const int64_t b = blockIdx.x;
  const int64_t n = lengths[b], s = counts[b];
  if (n == 0 || s == 0) return;
  const T* p = points + b * N * 3;
  T* md = mind + b * N;
  int64_t* out = idx + b * n_out;
  __shared__ T sbest[FPS_THREADS];
  __shared__ int64_t sidx[FPS_THREADS];
  __shared__ int64_t scnt[FPS_THREADS];
  int64_t my_cnt = 0, my_first = n;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    const T x = p[3 * j], y = p[3 * j + 1], z = p[3 * j + 2];
    const bool ok = finite3(x, y, z) && !(skip >= 0 && (double)(x * x + y * y + z * z) <= skip);
    md[j] = ok ? inf_of<T>() : T(-1);
    if (ok) { ++my_cnt; if (j < my_first) my_first = j; }
  }
  scnt[threadIdx.x] = my_cnt;
  sidx[threadIdx.x] = my_first;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) {
      scnt[threadIdx.x] += scnt[threadIdx.x + w];
      if (sidx[threadIdx.x + w] < sidx[threadIdx.x]) sidx[threadIdx.x] = sidx[threadIdx.x + w];
    }
    __syncthreads();
  }
  const int64_t n_elig = scnt[0], first = sidx[0];
  int64_t cur = start[b];
  if (!finite3(p[3 * cur], p[3 * cur + 1], p[3 * cur + 2])) {
    if (n_elig == 0) return;
    cur = first;
  }
  const bool start_elig = md[cur] >= T(0);  // written by this block above, visible after the barrier
  const int64_t total = s < n_elig + (start_elig ? 0 : 1) ? s : n_elig + (start_elig ? 0 : 1);
  __syncthreads();
  if (threadIdx.x == 0) { out[0] = cur; md[cur] = T(-1); }
  __syncthreads();
  for (int64_t i = 1; i < total; ++i) {
    const T cx = p[3 * cur], cy = p[3 * cur + 1], cz = p[3 * cur + 2];
    T best = -inf_of<T>();
    int64_t bi = n;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const T old = md[j];
      if (old < T(0)) continue;  // selected or ineligible
      T d = sqd(cx, cy, cz, p[3 * j], p[3 * j + 1], p[3 * j + 2]);
      const T m = old < d ? old : d;
      md[j] = m;
      if (m > best) { best = m; bi = j; }   // j increases: first maximum of this thread
    }
    sbest[threadIdx.x] = best;
    sidx[threadIdx.x] = bi;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
      if (threadIdx.x < w) {
        T ob = sbest[threadIdx.x + w];
        int64_t oi = sidx[threadIdx.x + w];
        if (ob > sbest[threadIdx.x] || (ob == sbest[threadIdx.x] && oi < sidx[threadIdx.x])) {
          sbest[threadIdx.x] = ob;
          sidx[threadIdx.x] = oi;
        }
      }
      __syncthreads();
    }
    cur = sidx[0];
    if (threadIdx.x == 0) { out[i] = cur; md[cur] = T(-1); }
    __syncthreads();
  }
}

template <typename T>
__device__ __forceinline__ bool lex_less(T d, int64_t j, T bd, int64_t bj) {
  return d < bd || (d == bd && j < bj);
}

// Insert (d, j) into the sorted list (bd, bi) of length cnt <= K (kept in global memory).
template <typename T>
__device__ __forceinline__ void topk_insert(T d, int64_t j, T* bd, int64_t* bi, int64_t& cnt, int64_t K) {
  if (cnt == K && !lex_less(d, j, bd[K - 1], bi[K - 1])) return;
  int64_t pos = cnt < K ? cnt++ : K - 1;
  while (pos > 0 && lex_less(d, j, bd[pos - 1], bi[pos - 1])) {
    bd[pos] = bd[pos - 1];
    bi[pos] = bi[pos - 1];
    --pos;
  }
  bd[pos] = d;
  bi[pos] = j;
}

// One query row of ball query / kNN: its cloud b, its output rows, and (when the query is a valid, finite
// point of its cloud) its coordinates and its cloud's points.
template <typename T>
struct QueryRow {
  int64_t b;
  T* dr;
  int64_t* ir;
  bool valid;
  T qx, qy, qz;
  const T* p;
  int64_t n;
};

template <typename T>
__device__ __forceinline__ QueryRow<T> query_row(int64_t r, const T* query, const T* points, const int64_t* qlen,
                                                 const int64_t* plen, int64_t M, int64_t N, int64_t K, T* dist,
                                                 int64_t* idx) {
  QueryRow<T> q;
  q.b = r / M;
  const int64_t m = r % M;
  q.dr = dist + r * K;
  q.ir = idx + r * K;
  q.qx = query[3 * r];
  q.qy = query[3 * r + 1];
  q.qz = query[3 * r + 2];
  q.valid = m < qlen[q.b] && finite3(q.qx, q.qy, q.qz);
  q.p = points + q.b * N * 3;
  q.n = plen[q.b];
  return q;
}

// One thread per query: its K nearest hits sorted by (squared distance, index), then padding. The kernel of
// kNN (knn: a hit is any finite point; padding (inf, -1)) and of the nearest-order ball query (a hit is a
// point with d < r2 -- a non-finite point gives d = NaN or inf, never < r2 <= inf; padding: the first hit
// with pad_first, else (inf, -1)).
template <typename T>
__global__ void nearest_kernel(const T* __restrict__ query, const T* __restrict__ points, const int64_t* qlen,
                               const int64_t* plen, int64_t B, int64_t M, int64_t N, int64_t K, bool knn, T r2,
                               bool pad_first, T* dist, int64_t* idx) {
  const int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (r >= B * M) return;
  const QueryRow<T> row = query_row(r, query, points, qlen, plen, M, N, K, dist, idx);
  int64_t cnt = 0;
  if (row.valid) {
    T worst = inf_of<T>();
    for (int64_t j = 0; j < row.n; ++j) {
      const T px = row.p[3 * j], py = row.p[3 * j + 1], pz = row.p[3 * j + 2];
      const T d = sqd(row.qx, row.qy, row.qz, px, py, pz);
      const bool hit = knn ? finite3(px, py, pz) : d < r2;
      // with K kept, only a smaller distance enters (an equal one has a higher index and never displaces)
      if (hit && (cnt < K || d < worst)) {
        topk_insert(d, j, row.dr, row.ir, cnt, K);
        if (cnt == K) worst = row.dr[K - 1];
      }
    }
  }
  const bool pad = pad_first && cnt > 0;
  const T d0 = pad ? row.dr[0] : inf_of<T>();
  const int64_t i0 = pad ? row.ir[0] : -1;
  for (int64_t c = cnt; c < K; ++c) {
    row.dr[c] = d0;
    row.ir[c] = i0;
  }
}

// Index order (not nearest): one block per query scans BQ_THREADS * BQ_PER consecutive points a step
// (each thread BQ_PER neighbours in a row), ranks the hits in index order with a block-wide prefix sum,
// and stops once K hits are kept. Same result as a sequential scan, but a query with few or no hits (a far
// outlier, which FPS makes a query) costs N / 1024 steps with many loads in flight, not N serial ones.
constexpr int BQ_THREADS = 256;
constexpr int BQ_PER = 4;

template <typename T>
__global__ void ball_query_index_block_kernel(const T* __restrict__ query, const T* __restrict__ points,
                                              const int64_t* qlen, const int64_t* plen, int64_t M, int64_t N,
                                              T r2, int64_t K, bool pad_first, T* dist, int64_t* idx) {
  const int64_t r = blockIdx.x;
  const QueryRow<T> row = query_row(r, query, points, qlen, plen, M, N, K, dist, idx);
  T* dr = row.dr;
  int64_t* ir = row.ir;
  __shared__ int wsum[BQ_THREADS / 32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int64_t cnt = 0;
  if (row.valid) {  // the same for the whole block
    const T qx = row.qx, qy = row.qy, qz = row.qz;
    const T* p = row.p;
    const int64_t n = row.n;
    for (int64_t base = 0; base < n && cnt < K; base += BQ_THREADS * BQ_PER) {
      const int64_t j0 = base + (int64_t)threadIdx.x * BQ_PER;
      T dd[BQ_PER];
      unsigned hm = 0;
      int h = 0;
#pragma unroll
      for (int t = 0; t < BQ_PER; ++t) {
        const int64_t j = j0 + t;
        // a non-finite point gives d = NaN or inf, never < r2 (r2 <= inf): never a hit
        dd[t] = j < n ? sqd(qx, qy, qz, p[3 * j], p[3 * j + 1], p[3 * j + 2]) : inf_of<T>();
        if (j < n && dd[t] < r2) { hm |= 1u << t; ++h; }
      }
      int x = h;  // inclusive prefix of the hit counts over the warp
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, x, o);
        if (lane >= o) x += y;
      }
      if (lane == 31) wsum[warp] = x;
      __syncthreads();
      int woff = 0, total = 0;
#pragma unroll
      for (int w = 0; w < BQ_THREADS / 32; ++w) {
        const int v = wsum[w];
        if (w < warp) woff += v;
        total += v;
      }
      int64_t pos = cnt + woff + (x - h);
#pragma unroll
      for (int t = 0; t < BQ_PER; ++t) {
        if ((hm >> t) & 1u) {
          if (pos < K) {
            dr[pos] = dd[t];
            ir[pos] = j0 + t;
          }
          ++pos;
        }
      }
      cnt += total;
      __syncthreads();  // wsum is rewritten by the next step
    }
    if (cnt > K) cnt = K;
  }
  __syncthreads();  // the hits written above are visible before dr[0] is read for padding
  const bool pad = pad_first && cnt > 0;
  const T d0 = pad ? dr[0] : inf_of<T>();
  const int64_t i0 = pad ? ir[0] : -1;
  for (int64_t c = cnt + threadIdx.x; c < K; c += BQ_THREADS) {
    dr[c] = d0;
    ir[c] = i0;
  }
}

template <typename T>
__global__ void gather_kernel(const T* __restrict__ f, const int64_t* __restrict__ idx, int64_t B,
                              int64_t N, int64_t C, int64_t M, T* out) {
  const int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (t >= B * M * C) return;
  const int64_t c = t % C, r = t / C, b = r / M;
  const int64_t j = idx[r];
  out[t] = j < 0 ? T(0) : f[(b * N + j) * C + c];
}

template <typename T>
__global__ void csr_sum_kernel(const T* __restrict__ v, const int64_t* __restrict__ perm,
                               const int64_t* __restrict__ ptr, int64_t n, int64_t C, T* out) {
  const int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (t >= n * C) return;
  const int64_t row = t / C, c = t % C;
  T acc = T(0);
  for (int64_t o = ptr[row]; o < ptr[row + 1]; ++o) acc += v[perm[o] * C + c];
  out[t] = acc;
}

inline unsigned blocks_for(int64_t n, int threads) { return (unsigned)((n + threads - 1) / threads); }

}  // namespace

template <typename T>
cudaError_t fps(const T* points, const int64_t* lengths, const int64_t* counts, const int64_t* start,
                int64_t B, int64_t N, int64_t n_out, double skip, T* mind, int64_t* idx,
                cudaStream_t stream) {
  if (B == 0) return cudaSuccess;
  fps_kernel<T><<<(unsigned)B, FPS_THREADS, 0, stream>>>(points, lengths, counts, start, N, n_out, skip,
                                                         mind, idx);
  return cudaGetLastError();
}

template <typename T>
cudaError_t ball_query(const T* query, const T* points, const int64_t* qlen, const int64_t* plen,
                       int64_t B, int64_t M, int64_t N, double radius, int64_t K, bool nearest,
                       bool pad_first, T* dist, int64_t* idx, cudaStream_t stream) {
  if (B * M == 0) return cudaSuccess;
  const T r2 = static_cast<T>(radius * radius);
  if (nearest) {
    nearest_kernel<T><<<blocks_for(B * M, 128), 128, 0, stream>>>(query, points, qlen, plen, B, M, N, K,
                                                                  /*knn=*/false, r2, pad_first, dist, idx);
  } else {  // one block per query
    ball_query_index_block_kernel<T><<<(unsigned)(B * M), BQ_THREADS, 0, stream>>>(query, points, qlen, plen, M,
                                                                                 N, r2, K, pad_first, dist, idx);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t knn(const T* query, const T* points, const int64_t* qlen, const int64_t* plen, int64_t B,
                int64_t M, int64_t N, int64_t K, T* dist, int64_t* idx, cudaStream_t stream) {
  if (B * M == 0) return cudaSuccess;
  nearest_kernel<T><<<blocks_for(B * M, 128), 128, 0, stream>>>(query, points, qlen, plen, B, M, N, K,
                                                                /*knn=*/true, /*r2 (unused)=*/T(0), false, dist, idx);
  return cudaGetLastError();
}

template <typename T>
cudaError_t gather(const T* features, const int64_t* idx, int64_t B, int64_t N, int64_t C, int64_t M,
                   T* out, cudaStream_t stream) {
  if (B * M * C == 0) return cudaSuccess;
  gather_kernel<T><<<blocks_for(B * M * C, 256), 256, 0, stream>>>(features, idx, B, N, C, M, out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t csr_sum(const T* values, const int64_t* perm, const int64_t* ptr, int64_t n, int64_t C,
                    T* out, cudaStream_t stream) {
  if (n * C == 0) return cudaSuccess;
  csr_sum_kernel<T><<<blocks_for(n * C, 256), 256, 0, stream>>>(values, perm, ptr, n, C, out);
  return cudaGetLastError();
}

#define DEPTH3D_INSTANTIATE(T)                                                                        \
  template cudaError_t fps<T>(const T*, const int64_t*, const int64_t*, const int64_t*, int64_t,      \
                              int64_t, int64_t, double, T*, int64_t*, cudaStream_t);                 \
  template cudaError_t ball_query<T>(const T*, const T*, const int64_t*, const int64_t*, int64_t,     \
                                     int64_t, int64_t, double, int64_t, bool, bool, T*, int64_t*,    \
                                     cudaStream_t);                                                  \
  template cudaError_t knn<T>(const T*, const T*, const int64_t*, const int64_t*, int64_t, int64_t,   \
                              int64_t, int64_t, T*, int64_t*, cudaStream_t);                         \
  template cudaError_t gather<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t, T*,    \
                                 cudaStream_t);                                                      \
  template cudaError_t csr_sum<T>(const T*, const int64_t*, const int64_t*, int64_t, int64_t, T*,     \
                                  cudaStream_t);

DEPTH3D_INSTANTIATE(float)
DEPTH3D_INSTANTIATE(double)

}  // namespace depth3d_cuda
