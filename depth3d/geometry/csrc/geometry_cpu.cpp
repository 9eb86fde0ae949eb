// Fused CPU kernels for depth3d.geometry: depth back-projection (with colour registration) and voxel means,
// alone or fused into one pass over the image. The arithmetic lives in backproject_voxel.h; this file checks
// the tensors (shapes, dtypes, contiguity, before any memory is read), allocates and spreads the work over
// the torch threads (compiled with -fopenmp, which at::parallel_for needs to run in parallel at all).
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "backproject_voxel.h"

using depth3d::ColorSource;
using depth3d::VoxelAcc;

namespace {

void check_depth_rays(const char* fn, const torch::Tensor& depth, const torch::Tensor& rays) {
  TORCH_CHECK(depth.device().is_cpu(), fn, ": depth must be a CPU tensor");
  TORCH_CHECK(depth.dim() == 2, fn, ": depth must be (H, W), got ", depth.sizes());
  TORCH_CHECK(depth.is_contiguous(), fn, ": depth must be contiguous");
  TORCH_CHECK(rays.device().is_cpu() && rays.scalar_type() == torch::kFloat32 && rays.is_contiguous(), fn,
              ": rays must be a contiguous float32 CPU tensor");
  TORCH_CHECK(rays.dim() == 3 && rays.size(0) == depth.size(0) && rays.size(1) == depth.size(1) && rays.size(2) == 2,
              fn, ": rays must be (H, W, 2) matching depth ", depth.sizes(), ", got ", rays.sizes());
}

// color: (H, W, 3) uint8 for mode 1, (Hc, Wc, 3) uint8 for mode 2 (cam: 16 float64 fx fy cx cy R(9) t(3)).
ColorSource color_source(const char* fn, const torch::Tensor& depth, const torch::Tensor& color, int64_t mode,
                         const torch::Tensor& cam) {
  ColorSource cs;
  cs.mode = int(mode);
  TORCH_CHECK(mode >= 0 && mode <= 2, fn, ": colour mode must be 0 (none), 1 (registered) or 2 (project), got ",
              mode);
  if (mode == 0) return cs;
  TORCH_CHECK(color.device().is_cpu() && color.scalar_type() == torch::kUInt8 && color.is_contiguous() &&
                  color.dim() == 3 && color.size(2) == 3,
              fn, ": colour must be a contiguous (H, W, 3) uint8 CPU tensor, got ", color.sizes());
  if (mode == 1)
    TORCH_CHECK(color.size(0) == depth.size(0) && color.size(1) == depth.size(1), fn,
                ": registered colour must be (H, W, 3) like depth ", depth.sizes(), ", got ", color.sizes());
  cs.rgb = color.data_ptr<uint8_t>();
  if (mode == 2) {
    TORCH_CHECK(cam.scalar_type() == torch::kFloat64 && cam.numel() == 16 && cam.is_contiguous(), fn,
                ": colour camera parameters must be 16 contiguous float64 (fx fy cx cy R(9) t(3))");
    const double* q = cam.data_ptr<double>();
    cs.fx = float(q[0]); cs.fy = float(q[1]); cs.cx = float(q[2]); cs.cy = float(q[3]);
    for (int i = 0; i < 9; ++i) cs.R[i] = float(q[4 + i]);
    for (int i = 0; i < 3; ++i) cs.t[i] = float(q[13 + i]);
    cs.w = int(color.size(1));
    cs.h = int(color.size(0));
  }
  return cs;
}

// Calls f(T{}) with the C++ type of the depth tensor.
template <typename F>
auto dispatch_depth(const char* fn, const torch::Tensor& depth, F&& f) {
  switch (depth.scalar_type()) {
    case torch::kUInt16: return f(uint16_t{});
    case torch::kInt32: return f(int32_t{});
    case torch::kFloat32: return f(float{});
    case torch::kFloat64: return f(double{});
    default:
      TORCH_CHECK(false, fn, ": depth dtype must be uint16, int32, float32 or float64, got ", depth.scalar_type());
  }
}

}  // namespace

// Depth (H, W) uint16/int32/float32/float64 and rays (H, W, 2) float32 -> [points (N, 3) float32 of the valid
// pixels in row-major order, flat pixel index (N,) int64 (empty unless with_index), colours (N, 3) float32
// in 0..1 (empty for mode 0)]. parallel: two passes over bands of rows on the torch threads (count, then fill
// at the band's offset); otherwise one pass on the calling thread into image-sized buffers (returned as views
// of them), which never waits on other threads (per-frame streaming on a loaded machine).
std::vector<torch::Tensor> backproject_depth(const torch::Tensor& depth, const torch::Tensor& rays, double scale,
                                             double min_depth, double max_depth, bool with_index,
                                             const torch::Tensor& color, int64_t mode, const torch::Tensor& cam,
                                             bool parallel) {
  const char* fn = "backproject_depth";
  check_depth_rays(fn, depth, rays);
  const ColorSource cs = color_source(fn, depth, color, mode, cam);
  const int64_t H = depth.size(0), W = depth.size(1);
  const float s = float(scale), zmin = float(min_depth), zmax = float(max_depth);
  const float* rp = rays.data_ptr<float>();
  return dispatch_depth(fn, depth, [&](auto tag) {
    using T = decltype(tag);
    const T* dp = depth.data_ptr<T>();
    if (!parallel) {
      auto points = torch::empty({H * W, 3}, torch::kFloat32);
      auto index = torch::empty({with_index ? H * W : 0}, torch::kInt64);
      auto colors = torch::empty({mode ? H * W : 0, 3}, torch::kFloat32);
      const int64_t n = depth3d::backproject(dp, rp, 0, H * W, W, s, zmin, zmax, cs, points.data_ptr<float>(),
                                             mode ? colors.data_ptr<float>() : nullptr,
                                             with_index ? index.data_ptr<int64_t>() : nullptr);
      return std::vector<torch::Tensor>{points.narrow(0, 0, n), with_index ? index.narrow(0, 0, n) : index,
                                        mode ? colors.narrow(0, 0, n) : colors};
    }
    std::vector<int64_t> row_count(H + 1, 0);
    at::parallel_for(0, H, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) row_count[r + 1] = depth3d::count_valid(dp, r * W, (r + 1) * W, s, zmin, zmax);
    });
    for (int64_t r = 0; r < H; ++r) row_count[r + 1] += row_count[r];
    const int64_t n = row_count[H];
    auto points = torch::empty({n, 3}, torch::kFloat32);
    auto index = torch::empty({with_index ? n : 0}, torch::kInt64);
    auto colors = torch::empty({mode ? n : 0, 3}, torch::kFloat32);
    float* out = points.data_ptr<float>();
    int64_t* idx = with_index ? index.data_ptr<int64_t>() : nullptr;
    float* oc = mode ? colors.data_ptr<float>() : nullptr;
    at::parallel_for(0, H, 16, [&](int64_t r0, int64_t r1) {
      const int64_t k = row_count[r0];
      depth3d::backproject(dp, rp, r0 * W, r1 * W, W, s, zmin, zmax, cs, out + 3 * k, oc ? oc + 3 * k : nullptr,
                           idx ? idx + k : nullptr);
    });
    return std::vector<torch::Tensor>{points, index, colors};
  });
}

// Voxel mean: points (N, 3) float32, values (N, C) float32 (C may be 0), origin (3,) float64. Returns [voxel
// coords (V, 3) int64, mean points (V, 3) float32, mean values (V, C) float32, counts (V,) int64,
// point_to_voxel (N,) int64, empty unless with_point_to_voxel], voxels sorted by (x, y, z) coordinate (sorted)
// or in order of first appearance.
// Sums are float64 in point order. One thread: hashing is sequential, and the rest (O(N + V)) costs less than
// waking other threads on a busy machine.
std::vector<torch::Tensor> voxel_mean(const torch::Tensor& points, const torch::Tensor& values, double voxel_size,
                                      const torch::Tensor& origin, bool sorted, bool with_point_to_voxel) {
  TORCH_CHECK(points.device().is_cpu() && points.scalar_type() == torch::kFloat32 && points.is_contiguous() &&
                  points.dim() == 2 && points.size(1) == 3,
              "voxel_mean: points must be a contiguous (N, 3) float32 CPU tensor, got ", points.sizes());
  TORCH_CHECK(values.device().is_cpu() && values.scalar_type() == torch::kFloat32 && values.is_contiguous() &&
                  values.dim() == 2 && values.size(0) == points.size(0),
              "voxel_mean: values must be a contiguous (N, C) float32 CPU tensor");
  TORCH_CHECK(origin.device().is_cpu() && origin.scalar_type() == torch::kFloat64 && origin.numel() == 3 &&
                  origin.is_contiguous(),
              "voxel_mean: origin must be 3 contiguous float64");
  TORCH_CHECK(voxel_size > 0, "voxel_mean: voxel_size must be positive");
  const int64_t N = points.size(0), C = values.size(1);
  const float* p = points.data_ptr<float>();
  const float* v = C ? values.data_ptr<float>() : nullptr;
  const double* o = origin.data_ptr<double>();
  auto run = [&](auto& va) {
    auto p2v = torch::empty({with_point_to_voxel ? N : 0}, torch::kInt64);
    int64_t* pv = with_point_to_voxel ? p2v.data_ptr<int64_t>() : nullptr;
    va.add(p, v, N, nullptr, pv);
    const int64_t V = va.size();
    std::vector<int64_t> order;
    if (sorted) {
      order = va.sorted_ids();
      if (pv) {
        std::vector<int64_t> rank(V);
        for (int64_t j = 0; j < V; ++j) rank[order[j]] = j;
        for (int64_t i = 0; i < N; ++i) pv[i] = rank[pv[i]];
      }
    }
    auto coords = torch::empty({V, 3}, torch::kInt64);
    auto mean_p = torch::empty({V, 3}, torch::kFloat32);
    auto mean_v = torch::empty({V, C}, torch::kFloat32);
    auto counts = torch::empty({V}, torch::kInt64);
    va.finish(0, V, sorted ? order.data() : nullptr, mean_p.data_ptr<float>(), C ? mean_v.data_ptr<float>() : nullptr,
              counts.data_ptr<int64_t>(), coords.data_ptr<int64_t>());
    return std::vector<torch::Tensor>{coords, mean_p, mean_v, counts, p2v};
  };
  if (C == 3) {
    VoxelAcc<3> va(voxel_size, N, o);
    return run(va);
  }
  VoxelAcc<> va(voxel_size, N, o, int(C));
  return run(va);
}

// Fused: depth (+ colour) -> voxel means in one pass over the image, in blocks of rows small enough to stay in
// cache (no full-size intermediate cloud). Same arguments as backproject_depth plus the voxel size; returns
// [mean points (V, 3) float32, mean colours (V, 3) float32 or (0, 3)], voxels in order of first appearance
// (row-major), voxel grid origin 0. Bands of at least 64 rows, one a thread; band t's accumulator sees only
// its rows, in image order, and the merge appends each later band's new voxels after the earlier ones: the
// same voxels in the same order as one pass (sums may differ in the last bit of their double precision).
std::vector<torch::Tensor> rgbd_voxel(const torch::Tensor& depth, const torch::Tensor& rays, double scale,
                                      double min_depth, double max_depth, const torch::Tensor& color, int64_t mode,
                                      const torch::Tensor& cam, double size) {
  const char* fn = "rgbd_voxel";
  check_depth_rays(fn, depth, rays);
  TORCH_CHECK(size > 0, fn, ": voxel size must be positive");
  const ColorSource cs = color_source(fn, depth, color, mode, cam);
  const int64_t H = depth.size(0), W = depth.size(1);
  const float s = float(scale), zmin = float(min_depth), zmax = float(max_depth);
  const float* r = rays.data_ptr<float>();
  const int64_t block = std::max<int64_t>(1, 8192 / std::max<int64_t>(W, 1)) * W;
  const int64_t bands = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), H / 64));
  const int64_t rows_per = (H + bands - 1) / bands;
  using Acc = VoxelAcc<3>;
  std::vector<std::unique_ptr<Acc>> part(bands);
  dispatch_depth(fn, depth, [&](auto tag) {
    using T = decltype(tag);
    const T* d = depth.data_ptr<T>();
    at::parallel_for(0, bands, 1, [&](int64_t t0, int64_t t1) {
      std::vector<float> bp(3 * block), bc(mode ? 3 * block : 0);
      std::vector<int32_t> column(block);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t p0 = std::min(H, t * rows_per) * W, p1 = std::min(H, (t + 1) * rows_per) * W;
        auto va = std::make_unique<Acc>(size, p1 - p0);
        va->use_columns(W);
        for (int64_t i0 = p0; i0 < p1; i0 += block) {
          const int64_t i1 = std::min(p1, i0 + block);
          // point j of the block goes to bp[3 * j]; rays/colour are indexed by the global pixel
          const int64_t n = depth3d::backproject(d, r, i0, i1, W, s, zmin, zmax, cs, bp.data(),
                                                 mode ? bc.data() : nullptr, nullptr, column.data());
          va->add(bp.data(), mode ? bc.data() : nullptr, n, column.data());
        }
        part[t] = std::move(va);
      }
    });
    return 0;
  });
  Acc& va = *part[0];
  for (int64_t t = 1; t < bands; ++t) va.merge(*part[t]);
  const int64_t V = va.size();
  auto op = torch::empty({V, 3}, torch::kFloat32);
  auto oc = torch::empty({mode ? V : 0, 3}, torch::kFloat32);
  va.finish(0, V, nullptr, op.data_ptr<float>(), mode ? oc.data_ptr<float>() : nullptr);
  return {op, oc};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("backproject_depth", &backproject_depth, "Depth image (+ colour) to compacted points (CPU)");
  m.def("voxel_mean", &voxel_mean, "Mean of points and values per voxel, sorted or first-seen order (CPU)");
  m.def("rgbd_voxel", &rgbd_voxel, "Depth (+ colour) to voxel means in one pass over the image (CPU)");
}
