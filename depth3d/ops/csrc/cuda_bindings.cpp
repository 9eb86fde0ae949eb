// Thin torch binding for the CUDA kernels in cuda_kernels.cu: checks arguments (before touching any
// memory), allocates outputs and launches on PyTorch's current CUDA stream.
#include <torch/library.h>
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <limits>

#include "cuda_kernels.h"
#include "op_checks.h"

namespace {

using at::Tensor;
using namespace depth3d_checks;

void check_launch(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, "depth3d ", what, " CUDA launch failed: ", cudaGetErrorString(err));
}

// The set-up ball query and kNN share, once their arguments are checked: the device guard (held while the
// kernel is launched), contiguous inputs, (B, M, K) distance and index outputs (every entry written by the
// kernel) and the current stream.
struct QueryCall {
  c10::cuda::CUDAGuard guard;
  Tensor q, p, qlen, plen;
  int64_t B, N, M;
  Tensor idx, dist;
  cudaStream_t stream;

  QueryCall(const Tensor& query, const Tensor& points, const Tensor& query_lengths, const Tensor& lengths,
            int64_t K)
      : guard(points.device()),
        q(query.contiguous()),
        p(points.contiguous()),
        qlen(query_lengths.contiguous()),
        plen(lengths.contiguous()),
        B(points.size(0)),
        N(points.size(1)),
        M(query.size(1)),
        idx(at::empty({B, M, K}, p.options().dtype(at::kLong))),
        dist(at::empty({B, M, K}, p.options())),
        stream(c10::cuda::getCurrentCUDAStream().stream()) {}
};

Tensor fps_cuda(const Tensor& points_, const Tensor& lengths_, const Tensor& counts_, int64_t n_out,
                const Tensor& start_, double skip_origin) {
  check_fps_args(points_, lengths_, counts_, start_, n_out);
  const int64_t B = points_.size(0), N = points_.size(1);
  c10::cuda::CUDAGuard guard(points_.device());
  auto points = points_.contiguous();
  auto lengths = lengths_.contiguous(), counts = counts_.contiguous(), start = start_.contiguous();
  auto out = at::full({B, n_out}, -1, points.options().dtype(at::kLong));
  auto mind = at::empty({B, N}, points.options());
  auto stream = c10::cuda::getCurrentCUDAStream().stream();
  AT_DISPATCH_FLOATING_TYPES(points.scalar_type(), "fps_cuda", [&] {
    check_launch(depth3d_cuda::fps<scalar_t>(points.data_ptr<scalar_t>(), lengths.data_ptr<int64_t>(),
                                             counts.data_ptr<int64_t>(), start.data_ptr<int64_t>(), B, N,
                                             n_out, skip_origin, mind.data_ptr<scalar_t>(),
                                             out.data_ptr<int64_t>(),
                                             stream), "fps");
  });
  return out;
}

std::tuple<Tensor, Tensor> ball_query_cuda(const Tensor& query_, const Tensor& points_, const Tensor& qlen_,
                                           const Tensor& plen_, double radius, int64_t K, bool nearest,
                                           bool pad_first) {
  check_query_points(query_, points_, qlen_, plen_);
  check_ball_args(radius, K);
  QueryCall c(query_, points_, qlen_, plen_, K);
  AT_DISPATCH_FLOATING_TYPES(c.p.scalar_type(), "ball_query_cuda", [&] {
    check_launch(depth3d_cuda::ball_query<scalar_t>(c.q.data_ptr<scalar_t>(), c.p.data_ptr<scalar_t>(),
                                                    c.qlen.data_ptr<int64_t>(), c.plen.data_ptr<int64_t>(),
                                                    c.B, c.M, c.N, radius, K, nearest, pad_first,
                                                    c.dist.data_ptr<scalar_t>(), c.idx.data_ptr<int64_t>(),
                                                    c.stream), "ball_query");
  });
  return {c.dist, c.idx};
}

std::tuple<Tensor, Tensor> knn_cuda(const Tensor& query_, const Tensor& points_, const Tensor& qlen_,
                                    const Tensor& plen_, int64_t k) {
  check_query_points(query_, points_, qlen_, plen_);
  check_knn_args(k, points_.size(1));
  QueryCall c(query_, points_, qlen_, plen_, k);
  AT_DISPATCH_FLOATING_TYPES(c.p.scalar_type(), "knn_cuda", [&] {
    check_launch(depth3d_cuda::knn<scalar_t>(c.q.data_ptr<scalar_t>(), c.p.data_ptr<scalar_t>(),
                                             c.qlen.data_ptr<int64_t>(), c.plen.data_ptr<int64_t>(), c.B, c.M,
                                             c.N, k, c.dist.data_ptr<scalar_t>(), c.idx.data_ptr<int64_t>(),
                                             c.stream), "knn");
  });
  return {c.dist, c.idx};
}

Tensor gather_cuda(const Tensor& features_, const Tensor& idx_) {
  TORCH_CHECK(features_.is_cuda(), "features must be a CUDA tensor");
  check_gather_args(features_, idx_);
  c10::cuda::CUDAGuard guard(features_.device());
  auto f = features_.contiguous();
  auto idx = idx_.contiguous();
  const int64_t B = f.size(0), N = f.size(1), C = f.size(2), M = idx.size(1);
  auto out = at::empty({B, M, C}, f.options());
  auto stream = c10::cuda::getCurrentCUDAStream().stream();
  AT_DISPATCH_FLOATING_TYPES(f.scalar_type(), "gather_cuda", [&] {
    check_launch(depth3d_cuda::gather<scalar_t>(f.data_ptr<scalar_t>(), idx.data_ptr<int64_t>(), B, N, C,
                                                M, out.data_ptr<scalar_t>(), stream), "gather");
  });
  return out;
}

// Deterministic scatter-add: stable sort by target (torch's sort), CSR offsets by searchsorted, then a
// fixed-order segment sum per target row.
Tensor index_sum_cuda(const Tensor& values_, const Tensor& index_, int64_t n) {
  TORCH_CHECK(values_.is_cuda(), "values must be a CUDA tensor");
  check_index_sum_args(values_, index_, n);
  c10::cuda::CUDAGuard guard(values_.device());
  auto v = values_.contiguous();
  const int64_t C = v.size(1);
  auto key = at::where(index_ < 0, at::full({}, n, index_.options()), index_);
  auto sorted = at::sort(key, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  auto skey = std::get<0>(sorted).contiguous();
  auto perm = std::get<1>(sorted).contiguous();
  auto ptr = at::searchsorted(skey, at::arange(n + 1, index_.options())).contiguous();
  auto out = at::empty({n, C}, v.options());
  auto stream = c10::cuda::getCurrentCUDAStream().stream();
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "index_sum_cuda", [&] {
    check_launch(depth3d_cuda::csr_sum<scalar_t>(v.data_ptr<scalar_t>(), perm.data_ptr<int64_t>(),
                                                 ptr.data_ptr<int64_t>(), n, C, out.data_ptr<scalar_t>(),
                                                 stream), "index_sum");
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(depth3d, CUDA, m) {
  m.impl("fps", &fps_cuda);
  m.impl("ball_query", &ball_query_cuda);
  m.impl("knn", &knn_cuda);
  m.impl("gather", &gather_cuda);
  m.impl("index_sum", &index_sum_cuda);
}
