// Torch-free CUDA launchers for the depth3d ops (raw device pointers + cudaStream_t). All arrays are
// contiguous; points are (B, N, 3) row-major; int64 indices. Defined in cuda_kernels.cu for float and
// double; called from cuda_bindings.cpp.
#pragma once
#include <cstdint>
#include <cuda_runtime_api.h>

namespace depth3d_cuda {

// idx (B, n_out) must be pre-filled with -1; mind is a (B, N) workspace. skip >= 0: points with
// x*x+y*y+z*z <= skip are never sampled after the start (official PointNet++ rule with skip = 1e-3);
// skip < 0: off. Non-finite points are never sampled.
template <typename T>
cudaError_t fps(const T* points, const int64_t* lengths, const int64_t* counts, const int64_t* start,
                int64_t B, int64_t N, int64_t n_out, double skip, T* mind, int64_t* idx,
                cudaStream_t stream);

// dist/idx (B, M, K) are fully written.
template <typename T>
cudaError_t ball_query(const T* query, const T* points, const int64_t* qlen, const int64_t* plen,
                       int64_t B, int64_t M, int64_t N, double radius, int64_t K, bool nearest,
                       bool pad_first, T* dist, int64_t* idx, cudaStream_t stream);

template <typename T>
cudaError_t knn(const T* query, const T* points, const int64_t* qlen, const int64_t* plen, int64_t B,
                int64_t M, int64_t N, int64_t K, T* dist, int64_t* idx, cudaStream_t stream);

template <typename T>
cudaError_t gather(const T* features, const int64_t* idx, int64_t B, int64_t N, int64_t C, int64_t M,
                   T* out, cudaStream_t stream);

// out[t] = sum_{o in [ptr[t], ptr[t+1])} values[perm[o]] (fixed order: deterministic).
template <typename T>
cudaError_t csr_sum(const T* values, const int64_t* perm, const int64_t* ptr, int64_t n, int64_t C,
                    T* out, cudaStream_t stream);

}  // namespace depth3d_cuda
