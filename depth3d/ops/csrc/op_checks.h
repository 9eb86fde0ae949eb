// Argument checks of the depth3d ops, shared by the CPU kernels (cpu_ops.cpp) and the CUDA bindings
// (cuda_bindings.cpp) so both back ends refuse the same inputs with the same messages. Torch-side only:
// the CUDA kernels themselves (cuda_kernels.cu) stay free of torch headers.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>

namespace depth3d_checks {

using at::Tensor;

// (B, N, 3) float32/float64 points.
inline void check_points(const Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 3 && t.size(2) == 3, name, " must have shape (B, N, 3), got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, name,
              " must be float32 or float64, got ", t.scalar_type());
}

// (n,) int64 on the device of ref.
inline void check_vec(const Tensor& t, const char* name, int64_t n, const Tensor& ref) {
  TORCH_CHECK(t.scalar_type() == at::kLong, name, " must be int64, got ", t.scalar_type());
  TORCH_CHECK(t.dim() == 1 && t.size(0) == n, name, " must have shape (", n, "), got ", t.sizes());
  TORCH_CHECK(t.device() == ref.device(), name, " is on ", t.device(), " but points are on ", ref.device());
}

// FPS inputs: points (B, N, 3), lengths/counts/start (B,), n_out >= 0.
inline void check_fps_args(const Tensor& points, const Tensor& lengths, const Tensor& counts, const Tensor& start,
                           int64_t n_out) {
  check_points(points, "points");
  const int64_t B = points.size(0);
  check_vec(lengths, "lengths", B, points);
  check_vec(counts, "counts", B, points);
  check_vec(start, "start", B, points);
  TORCH_CHECK(n_out >= 0, "n_out must be >= 0");
}

// Query/points pairs of ball query and kNN: query (B, M, 3), points (B, N, 3), same dtype and device,
// query_lengths/lengths (B,).
inline void check_query_points(const Tensor& query, const Tensor& points, const Tensor& qlen, const Tensor& plen) {
  check_points(query, "query");
  check_points(points, "points");
  TORCH_CHECK(query.scalar_type() == points.scalar_type(), "query and points dtypes differ");
  TORCH_CHECK(query.device() == points.device(), "query and points devices differ");
  TORCH_CHECK(query.size(0) == points.size(0), "query and points batch sizes differ");
  check_vec(qlen, "query_lengths", points.size(0), points);
  check_vec(plen, "lengths", points.size(0), points);
}

inline void check_ball_args(double radius, int64_t K) {
  TORCH_CHECK(radius >= 0, "radius must be >= 0, got ", radius);
  TORCH_CHECK(K >= 1, "nsample must be >= 1, got ", K);
}

inline void check_knn_args(int64_t k, int64_t N) {
  TORCH_CHECK(k >= 1 && k <= std::max<int64_t>(N, 1), "k must be in [1, N=", N, "], got ", k);
}

// gather: features (B, N, C) float32/float64, idx (B, M) int64 on the same device.
inline void check_gather_args(const Tensor& features, const Tensor& idx) {
  TORCH_CHECK(features.dim() == 3, "features must have shape (B, N, C), got ", features.sizes());
  TORCH_CHECK(features.scalar_type() == at::kFloat || features.scalar_type() == at::kDouble,
              "features must be float32 or float64");
  TORCH_CHECK(idx.scalar_type() == at::kLong, "idx must be int64");
  TORCH_CHECK(idx.dim() == 2 && idx.size(0) == features.size(0), "idx must have shape (B, M), got ",
              idx.sizes());
  TORCH_CHECK(idx.device() == features.device(), "idx and features devices differ");
}

// index_sum: values (E, C) float32/float64, index (E,) int64 on the same device, n >= 0 target rows.
inline void check_index_sum_args(const Tensor& values, const Tensor& index, int64_t n) {
  TORCH_CHECK(values.dim() == 2, "values must have shape (E, C), got ", values.sizes());
  TORCH_CHECK(values.scalar_type() == at::kFloat || values.scalar_type() == at::kDouble,
              "values must be float32 or float64");
  TORCH_CHECK(index.scalar_type() == at::kLong && index.dim() == 1 && index.size(0) == values.size(0),
              "index must be int64 of shape (E,)");
  TORCH_CHECK(index.device() == values.device(), "index and values devices differ");
  TORCH_CHECK(n >= 0, "n must be >= 0");
}

}  // namespace depth3d_checks
