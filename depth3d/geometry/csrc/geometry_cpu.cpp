// Fused CPU kernels for depth3d.geometry: depth back-projection with compaction and voxel averaging.
// Inputs are validated in Python and again here (shapes, dtypes, contiguity) before any memory is read.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

template <typename T>
inline float depth_value(T d, float scale) { return static_cast<float>(d) * scale; }

template <typename T>
std::vector<torch::Tensor> backproject_impl(const torch::Tensor& depth, const torch::Tensor& rays, double scale_d,
                                            double min_depth_d, double max_depth_d, bool with_index) {
  const int64_t H = depth.size(0), W = depth.size(1);
  const float scale = static_cast<float>(scale_d);
  const float zmin = static_cast<float>(min_depth_d), zmax = static_cast<float>(max_depth_d);
  const T* dp = depth.data_ptr<T>();
  const float* rp = rays.data_ptr<float>();
  std::vector<int64_t> row_count(H + 1, 0);
  at::parallel_for(0, H, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t c = 0;
      const T* row = dp + r * W;
      for (int64_t u = 0; u < W; ++u) {
        const float z = depth_value(row[u], scale);
        c += (z > zmin && z < zmax);  // NaN compares false: dropped
      }
      row_count[r + 1] = c;
    }
  });
  for (int64_t r = 0; r < H; ++r) row_count[r + 1] += row_count[r];
  const int64_t n = row_count[H];
  auto points = torch::empty({n, 3}, torch::dtype(torch::kFloat32));
  torch::Tensor index = with_index ? torch::empty({n}, torch::dtype(torch::kInt64)) : torch::Tensor();
  float* out = points.data_ptr<float>();
  int64_t* idx = with_index ? index.data_ptr<int64_t>() : nullptr;
  at::parallel_for(0, H, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t k = row_count[r];
      const T* row = dp + r * W;
      const float* ray = rp + r * W * 2;
      for (int64_t u = 0; u < W; ++u) {
        const float z = depth_value(row[u], scale);
        if (z > zmin && z < zmax) {
          out[3 * k] = z * ray[2 * u];
          out[3 * k + 1] = z * ray[2 * u + 1];
          out[3 * k + 2] = z;
          if (idx) idx[k] = r * W + u;
          ++k;
        }
      }
    }
  });
  return {points, with_index ? index : torch::empty({0}, torch::dtype(torch::kInt64))};
}

}  // namespace

std::vector<torch::Tensor> backproject_depth(const torch::Tensor& depth, const torch::Tensor& rays, double scale,
                                             double min_depth, double max_depth, bool with_index) {
  TORCH_CHECK(depth.device().is_cpu(), "backproject_depth: depth must be a CPU tensor");
  TORCH_CHECK(depth.dim() == 2, "backproject_depth: depth must be (H, W), got ", depth.sizes());
  TORCH_CHECK(depth.is_contiguous(), "backproject_depth: depth must be contiguous");
  TORCH_CHECK(rays.device().is_cpu() && rays.scalar_type() == torch::kFloat32 && rays.is_contiguous(),
              "backproject_depth: rays must be a contiguous float32 CPU tensor");
  TORCH_CHECK(rays.dim() == 3 && rays.size(0) == depth.size(0) && rays.size(1) == depth.size(1) &&
                  rays.size(2) == 2,
              "backproject_depth: rays must be (H, W, 2) matching depth ", depth.sizes(), ", got ", rays.sizes());
  switch (depth.scalar_type()) {
    case torch::kUInt16: return backproject_impl<uint16_t>(depth, rays, scale, min_depth, max_depth, with_index);
    case torch::kInt32: return backproject_impl<int32_t>(depth, rays, scale, min_depth, max_depth, with_index);
    case torch::kFloat32: return backproject_impl<float>(depth, rays, scale, min_depth, max_depth, with_index);
    case torch::kFloat64: return backproject_impl<double>(depth, rays, scale, min_depth, max_depth, with_index);
    default: TORCH_CHECK(false, "backproject_depth: depth dtype must be uint16, int32, float32 or float64, got ",
                         depth.scalar_type());
  }
  return {};
}

// Voxel mean: points (N, 3) float32, values (N, C) float32 (C may be 0). Returns (voxel coords (V, 3) int64
// sorted lexicographically by (x, y, z), mean points (V, 3), mean values (V, C), counts (V,), point_to_voxel (N,)).
// Voxels are found with an open-addressing hash table (O(N)); sums are accumulated in float64 in point order, so
// the result does not depend on the thread count.
std::vector<torch::Tensor> voxel_mean(const torch::Tensor& points, const torch::Tensor& values, double voxel_size,
                                      const torch::Tensor& origin) {
  TORCH_CHECK(points.device().is_cpu() && points.scalar_type() == torch::kFloat32 && points.is_contiguous() &&
                  points.dim() == 2 && points.size(1) == 3,
              "voxel_mean: points must be a contiguous (N, 3) float32 CPU tensor, got ", points.sizes());
  TORCH_CHECK(values.device().is_cpu() && values.scalar_type() == torch::kFloat32 && values.is_contiguous() &&
                  values.dim() == 2 && values.size(0) == points.size(0),
              "voxel_mean: values must be a contiguous (N, C) float32 CPU tensor");
  TORCH_CHECK(origin.scalar_type() == torch::kFloat64 && origin.numel() == 3 && origin.is_contiguous(),
              "voxel_mean: origin must be 3 contiguous float64");
  TORCH_CHECK(voxel_size > 0, "voxel_mean: voxel_size must be positive");
  const int64_t N = points.size(0), C = values.size(1);
  const float* p = points.data_ptr<float>();
  const float* v = values.data_ptr<float>();
  const double* o = origin.data_ptr<double>();
  const double inv = 1.0 / voxel_size;
  constexpr int64_t kOff = int64_t(1) << 20, kMask = (int64_t(1) << 21) - 1;
  std::vector<int64_t> keys(N);
  bool in_range = true;
  at::parallel_for(0, N, 8192, [&](int64_t a, int64_t b) {
    bool ok = true;
    for (int64_t i = a; i < b; ++i) {
      int64_t c[3];
      for (int d = 0; d < 3; ++d) {
        const double q = std::floor((static_cast<double>(p[3 * i + d]) - o[d]) * inv);
        ok = ok && q >= -kOff && q < kOff;
        c[d] = static_cast<int64_t>(std::isfinite(q) ? q : 0) + kOff;
      }
      keys[i] = ((c[0] & kMask) << 42) | ((c[1] & kMask) << 21) | (c[2] & kMask);
    }
    if (!ok) in_range = false;
  });
  TORCH_CHECK(in_range, "voxel_mean: points span more than 2^21 voxels along an axis (or are not finite); "
              "use a larger voxel_size");
  int64_t cap = 16;
  while (cap < 2 * N) cap <<= 1;
  std::vector<int64_t> table(cap, -1);  // slot -> provisional voxel id
  std::vector<int64_t> ukeys;
  ukeys.reserve(N / 2 + 1);
  std::vector<int64_t> prov(N);
  for (int64_t i = 0; i < N; ++i) {
    const uint64_t h = static_cast<uint64_t>(keys[i]) * 0x9E3779B97F4A7C15ull;
    int64_t slot = static_cast<int64_t>(h >> 20) & (cap - 1);
    while (true) {
      const int64_t id = table[slot];
      if (id < 0) {
        table[slot] = static_cast<int64_t>(ukeys.size());
        prov[i] = table[slot];
        ukeys.push_back(keys[i]);
        break;
      }
      if (ukeys[id] == keys[i]) { prov[i] = id; break; }
      slot = (slot + 1) & (cap - 1);
    }
  }
  const int64_t V = static_cast<int64_t>(ukeys.size());
  std::vector<int64_t> order(V);
  for (int64_t j = 0; j < V; ++j) order[j] = j;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ukeys[a] < ukeys[b]; });
  std::vector<int64_t> rank(V);
  for (int64_t j = 0; j < V; ++j) rank[order[j]] = j;
  auto coords = torch::empty({V, 3}, torch::dtype(torch::kInt64));
  auto mean_p = torch::empty({V, 3}, torch::dtype(torch::kFloat32));
  auto mean_v = torch::empty({V, C}, torch::dtype(torch::kFloat32));
  auto counts = torch::zeros({V}, torch::dtype(torch::kInt64));
  auto p2v = torch::empty({N}, torch::dtype(torch::kInt64));
  int64_t* co = coords.data_ptr<int64_t>();
  float* mp = mean_p.data_ptr<float>();
  float* mv = mean_v.data_ptr<float>();
  int64_t* cn = counts.data_ptr<int64_t>();
  int64_t* pv = p2v.data_ptr<int64_t>();
  std::vector<double> acc(static_cast<size_t>(V) * (3 + C), 0.0);
  for (int64_t i = 0; i < N; ++i) {
    const int64_t j = rank[prov[i]];
    pv[i] = j;
    cn[j] += 1;
    double* a = acc.data() + j * (3 + C);
    for (int d = 0; d < 3; ++d) a[d] += p[3 * i + d];
    for (int64_t c = 0; c < C; ++c) a[3 + c] += v[i * C + c];
  }
  at::parallel_for(0, V, 1024, [&](int64_t a, int64_t b) {
    for (int64_t j = a; j < b; ++j) {
      const int64_t key = ukeys[order[j]];
      co[3 * j] = ((key >> 42) & kMask) - kOff;
      co[3 * j + 1] = ((key >> 21) & kMask) - kOff;
      co[3 * j + 2] = (key & kMask) - kOff;
      const double cnt = static_cast<double>(cn[j]);
      const double* s = acc.data() + j * (3 + C);
      for (int d = 0; d < 3; ++d) mp[3 * j + d] = static_cast<float>(s[d] / cnt);
      for (int64_t c = 0; c < C; ++c) mv[j * C + c] = static_cast<float>(s[3 + c] / cnt);
    }
  });
  return {coords, mean_p, mean_v, counts, p2v};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("backproject_depth", &backproject_depth, "Depth image to compacted points (CPU)");
  m.def("voxel_mean", &voxel_mean, "Mean of points and values per voxel (CPU)");
}
