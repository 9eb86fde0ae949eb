// Fused RGB-D streaming kernels (CPU): depth -> points with colour registered from the colour camera,
// and a one-pass hash voxel down-sampler. rgbd_cloud and voxel_down are single-threaded; the fused
// rgbd_voxel splits the image into bands of rows over the torch threads (compiled with -fopenmp, which
// at::parallel_for needs to run in parallel at all) and merges the bands' voxels in image order.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <memory>

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

struct Cam {
  // colour camera: pinhole (undistorted) intrinsics and depth->colour rigid transform
  double fx, fy, cx, cy;
  double R[9], t[3];
  int w, h;
};

inline uint64_t voxel_key(int64_t ix, int64_t iy, int64_t iz) {
  const int64_t off = 1 << 20;
  return (uint64_t(ix + off) << 42) | (uint64_t(iy + off) << 21) | uint64_t(iz + off);
}

// floor for finite |v| < 2^62 without a libm call (std::floor is one on baseline x86-64)
inline int64_t ifloor(double v) {
  const int64_t i = int64_t(v);
  return i - (v < double(i));
}

inline uint64_t mix(uint64_t k) {
  k ^= k >> 33; k *= 0xff51afd7ed558ccdULL; k ^= k >> 33; k *= 0xc4ceb9fe1a85ec53ULL; k ^= k >> 33;
  return k;
}

// Back-project valid depth pixels; colour from the registered image or by projecting into the colour camera.
// Returns the number of points written to pts/cols (capacity H*W). With ``column``, the image column of each
// point (image width W) goes there, counted along (no division per pixel).
int64_t backproject(const uint16_t* d, const float* rays, int64_t i0, int64_t i1, float scale, float zmin, float zmax,
                    const uint8_t* col, int mode, const Cam& cam, float* pts, float* cols, int32_t* column = nullptr,
                    int64_t W = 1) {
  int64_t n = 0;
  int32_t cx = column ? int32_t(i0 % W) : 0;
  const float inv255 = 1.0f / 255.0f;
  float Rf[9], tf[3];
  for (int k = 0; k < 9; ++k) Rf[k] = float(cam.R[k]);
  for (int k = 0; k < 3; ++k) tf[k] = float(cam.t[k]);
  const float fxf = float(cam.fx), fyf = float(cam.fy), cxf = float(cam.cx), cyf = float(cam.cy);
  for (int64_t i = i0; i < i1; ++i) {
    const int32_t ci = cx;
    if (column && ++cx == W) cx = 0;
    const uint16_t raw = d[i];
    if (raw == 0) continue;
    const float z = float(raw) * scale;
    if (!(z > zmin && z < zmax)) continue;
    const float x = z * rays[2 * i], y = z * rays[2 * i + 1];
    float* p = pts + 3 * n;
    p[0] = x; p[1] = y; p[2] = z;
    if (column) column[n] = ci;
    if (cols) {
      float* c = cols + 3 * n;
      if (mode == 1) {  // registered
        const uint8_t* s = col + 3 * i;
        c[0] = s[0] * inv255; c[1] = s[1] * inv255; c[2] = s[2] * inv255;
      } else {
        const float X = Rf[0] * x + Rf[1] * y + Rf[2] * z + tf[0];
        const float Y = Rf[3] * x + Rf[4] * y + Rf[5] * z + tf[1];
        const float Z = Rf[6] * x + Rf[7] * y + Rf[8] * z + tf[2];
        c[0] = c[1] = c[2] = 0.0f;
        if (Z > 0) {
          const float iz = 1.0f / Z;
          const float uf = fxf * X * iz + cxf, vf = fyf * Y * iz + cyf;
          if (uf > -0.5f && vf > -0.5f) {
          const int u = int(uf + 0.5f), v = int(vf + 0.5f);  // nearest pixel (ties away from zero)
          if (u < cam.w && v < cam.h) {
            const uint8_t* s = col + 3 * (int64_t(v) * cam.w + u);
            c[0] = s[0] * inv255; c[1] = s[1] * inv255; c[2] = s[2] * inv255;
          }
          }
        }
      }
    }
    ++n;
  }
  return n;
}

// Mean of points (and colours) per voxel, voxels in order of first appearance: open addressing, a one-entry
// cache for runs of pixels in the same voxel, a table that starts small and doubles at half load.
struct VoxelAcc {
  // open-addressing slot: the key beside its voxel id, so a probe touches one cache line
  struct Slot {
    uint64_t key;
    int64_t id;
  };
  double inv;
  int64_t cap = 1 << 14;
  uint64_t mask = (1 << 14) - 1;
  std::vector<Slot> table;
  std::vector<uint64_t> keys;
  std::vector<double> acc;  // x y z r g b count
  uint64_t last_key = ~uint64_t(0);
  int32_t last_id = -1;
  // small direct-mapped cache of recently used voxels (fits in L1/L2): depth noise makes neighbouring
  // pixels alternate between a few voxels, which the one-entry and column caches miss
  static constexpr int64_t kRecent = 2048;
  std::vector<Slot> recent;

  VoxelAcc(double size, int64_t expect) : inv(1.0 / size), table(1 << 14, Slot{0, -1}), recent(kRecent, Slot{~uint64_t(0), -1}) {
    keys.reserve(expect / 4 + 16);
    acc.reserve(7 * (expect / 4 + 16));
  }

  // Column cache: the voxel last seen in each image column (the row above usually shares it).
  std::vector<uint64_t> col_key;
  std::vector<int32_t> col_id;
  int64_t width = 0;

  // column: the image column of each point (enables the column cache), or null
  void add(const float* pts, const float* cols, int64_t n, const int32_t* column = nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      const float* p = pts + 3 * i;
      const double fx = p[0] * inv, fy = p[1] * inv, fz = p[2] * inv;
      // also catches NaN and values too large for ifloor
      TORCH_CHECK(std::fabs(fx) < (1 << 20) && std::fabs(fy) < (1 << 20) && std::fabs(fz) < (1 << 20),
                  "voxel grid: points span more than 2^20 voxels from the origin; use a larger voxel size");
      const int64_t ix = ifloor(fx), iy = ifloor(fy), iz = ifloor(fz);
      const uint64_t k = voxel_key(ix, iy, iz);
      int32_t id;
      const int64_t cx = column ? column[i] : -1;
      if (k == last_key) {
        id = last_id;
      } else {
        if (cx >= 0 && col_key[cx] == k) {
          id = col_id[cx];
        } else {
          const uint64_t h = mix(k);
          Slot& rc = recent[h & (kRecent - 1)];
          if (rc.key == k) {
            id = int32_t(rc.id);
          } else {
            id = find_or_insert(k, h);
            recent[h & (kRecent - 1)] = Slot{k, id};  // find_or_insert may grow the table, not `recent`
          }
        }
        last_key = k;
        last_id = id;
      }
      if (cx >= 0) { col_key[cx] = k; col_id[cx] = id; }
      double* a = acc.data() + 7 * int64_t(id);
      a[0] += p[0]; a[1] += p[1]; a[2] += p[2];
      if (cols) { a[3] += cols[3 * i]; a[4] += cols[3 * i + 1]; a[5] += cols[3 * i + 2]; }
      a[6] += 1.0;
    }
  }

  // id of voxel ``k`` (h = mix(k)), appended with zero sums when new
  int32_t find_or_insert(uint64_t k, uint64_t h) {
    uint64_t s = h & mask;
    while (true) {
      Slot& sl = table[s];
      if (sl.id < 0) {
        const int32_t id = int32_t(keys.size());
        sl.key = k;
        sl.id = id;
        keys.push_back(k);
        acc.resize(acc.size() + 7, 0.0);
        if (int64_t(keys.size()) * 2 > cap) grow();
        return id;
      }
      if (sl.key == k) return int32_t(sl.id);
      s = (s + 1) & mask;
    }
  }

  // Add the sums of ``o`` (points that came after this accumulator's): voxels new to this one are
  // appended in o's order, so the first-appearance order of the whole image is kept.
  void merge(const VoxelAcc& o) {
    for (size_t j = 0; j < o.keys.size(); ++j) {
      const int32_t id = find_or_insert(o.keys[j], mix(o.keys[j]));
      double* a = acc.data() + 7 * int64_t(id);
      const double* b = o.acc.data() + 7 * j;
      for (int t = 0; t < 7; ++t) a[t] += b[t];
    }
  }

  void grow() {
    cap <<= 1;
    mask = uint64_t(cap - 1);
    table.assign(cap, Slot{0, -1});
    for (int32_t j = 0; j < int32_t(keys.size()); ++j) {
      uint64_t q = mix(keys[j]) & mask;
      while (table[q].id >= 0) q = (q + 1) & mask;
      table[q] = Slot{keys[j], j};
    }
  }

  int64_t finish(float* out_p, float* out_c) const {
    const int64_t V = int64_t(keys.size());
    for (int64_t v = 0; v < V; ++v) {
      const double* a = acc.data() + 7 * v;
      const double c = 1.0 / a[6];
      out_p[3 * v] = float(a[0] * c); out_p[3 * v + 1] = float(a[1] * c); out_p[3 * v + 2] = float(a[2] * c);
      if (out_c) { out_c[3 * v] = float(a[3] * c); out_c[3 * v + 1] = float(a[4] * c); out_c[3 * v + 2] = float(a[5] * c); }
    }
    return V;
  }
};

int64_t voxel_mean(const float* pts, const float* cols, int64_t n, double size, float* out_p, float* out_c) {
  VoxelAcc va(size, n);
  va.add(pts, cols, n);
  return va.finish(out_p, cols ? out_c : nullptr);
}


Cam make_cam(const torch::Tensor& cam_params, int64_t w, int64_t h) {
  TORCH_CHECK(cam_params.scalar_type() == torch::kFloat64 && cam_params.numel() == 16 && cam_params.is_contiguous(),
              "colour camera parameters must be 16 contiguous float64 (fx fy cx cy R(9) t(3))");
  const double* q = cam_params.data_ptr<double>();
  Cam c;
  c.fx = q[0]; c.fy = q[1]; c.cx = q[2]; c.cy = q[3];
  for (int i = 0; i < 9; ++i) c.R[i] = q[4 + i];
  for (int i = 0; i < 3; ++i) c.t[i] = q[13 + i];
  c.w = int(w); c.h = int(h);
  return c;
}

}  // namespace

// depth (H, W) uint16; rays (H, W, 2) float32; color (Hc, Wc, 3) uint8 or empty; mode 0 none, 1 registered,
// 2 project into the colour camera described by cam (16 float64). Returns [points (N,3), colors (N,3) or empty].
std::vector<torch::Tensor> rgbd_cloud(const torch::Tensor& depth, const torch::Tensor& rays, double scale, double zmin,
                                      double zmax, const torch::Tensor& color, int64_t mode, const torch::Tensor& cam) {
  TORCH_CHECK(depth.scalar_type() == torch::kUInt16 && depth.dim() == 2 && depth.is_contiguous(),
              "depth must be a contiguous (H, W) uint16 tensor");
  const int64_t H = depth.size(0), W = depth.size(1);
  TORCH_CHECK(rays.scalar_type() == torch::kFloat32 && rays.numel() == H * W * 2 && rays.is_contiguous(),
              "rays must be a contiguous (H, W, 2) float32 tensor");
  Cam c{};
  if (mode == 1) TORCH_CHECK(color.numel() == H * W * 3, "registered colour must be (H, W, 3)");
  if (mode == 2) c = make_cam(cam, color.size(1), color.size(0));
  auto pts = torch::empty({H * W, 3}, torch::kFloat32);
  auto cols = mode ? torch::empty({H * W, 3}, torch::kFloat32) : torch::empty({0, 3}, torch::kFloat32);
  const int64_t n = backproject(depth.data_ptr<uint16_t>(), rays.data_ptr<float>(), 0, H * W, float(scale), float(zmin),
                                float(zmax), mode ? color.data_ptr<uint8_t>() : nullptr, int(mode), c,
                                pts.data_ptr<float>(), mode ? cols.data_ptr<float>() : nullptr);
  return {pts.narrow(0, 0, n), mode ? cols.narrow(0, 0, n) : cols};
}

std::vector<torch::Tensor> voxel_down(const torch::Tensor& pts, const torch::Tensor& cols, double size) {
  TORCH_CHECK(pts.scalar_type() == torch::kFloat32 && pts.dim() == 2 && pts.size(1) == 3 && pts.is_contiguous(),
              "points must be contiguous (N, 3) float32");
  const bool has_c = cols.numel() > 0;
  if (has_c) TORCH_CHECK(cols.scalar_type() == torch::kFloat32 && cols.sizes() == pts.sizes() && cols.is_contiguous(),
                         "colors must be contiguous (N, 3) float32 like points");
  TORCH_CHECK(size > 0, "voxel size must be positive");
  const int64_t n = pts.size(0);
  auto op = torch::empty({n, 3}, torch::kFloat32);
  auto oc = has_c ? torch::empty({n, 3}, torch::kFloat32) : torch::empty({0, 3}, torch::kFloat32);
  const int64_t V = voxel_mean(pts.data_ptr<float>(), has_c ? cols.data_ptr<float>() : nullptr, n, size,
                               op.data_ptr<float>(), has_c ? oc.data_ptr<float>() : nullptr);
  return {op.narrow(0, 0, V), has_c ? oc.narrow(0, 0, V) : oc};
}


// Fused: depth + colour -> voxel means in one pass over the image, in blocks of rows small enough to stay in
// cache (no full-size intermediate cloud). Same arguments as rgbd_cloud plus the voxel size.
std::vector<torch::Tensor> rgbd_voxel(const torch::Tensor& depth, const torch::Tensor& rays, double scale, double zmin,
                                      double zmax, const torch::Tensor& color, int64_t mode, const torch::Tensor& cam,
                                      double size) {
  TORCH_CHECK(depth.scalar_type() == torch::kUInt16 && depth.dim() == 2 && depth.is_contiguous(),
              "depth must be a contiguous (H, W) uint16 tensor");
  const int64_t H = depth.size(0), W = depth.size(1);
  TORCH_CHECK(rays.scalar_type() == torch::kFloat32 && rays.numel() == H * W * 2 && rays.is_contiguous(),
              "rays must be a contiguous (H, W, 2) float32 tensor");
  TORCH_CHECK(size > 0, "voxel size must be positive");
  Cam c{};
  if (mode == 1) TORCH_CHECK(color.numel() == H * W * 3, "registered colour must be (H, W, 3)");
  if (mode == 2) c = make_cam(cam, color.size(1), color.size(0));
  const int64_t block = std::max<int64_t>(1, 8192 / std::max<int64_t>(W, 1)) * W;
  const uint16_t* d = depth.data_ptr<uint16_t>();
  const float* r = rays.data_ptr<float>();
  const uint8_t* col = mode ? color.data_ptr<uint8_t>() : nullptr;
  // Bands of at least 64 rows, one a thread; band t's accumulator sees only its rows, in image order, and
  // the merge appends each later band's new voxels after the earlier ones: the same voxels in the same
  // first-appearance order as one pass (sums may differ in the last bit of their double precision).
  const int64_t bands = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), H / 64));
  const int64_t rows_per = (H + bands - 1) / bands;
  std::vector<std::unique_ptr<VoxelAcc>> part(bands);
  at::parallel_for(0, bands, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> bp(3 * block), bc(mode ? 3 * block : 0);
    std::vector<int32_t> column(block);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t p0 = std::min(H, t * rows_per) * W, p1 = std::min(H, (t + 1) * rows_per) * W;
      auto va = std::make_unique<VoxelAcc>(size, p1 - p0);
      va->width = W;
      va->col_key.assign(W, ~uint64_t(0));
      va->col_id.assign(W, -1);
      for (int64_t i0 = p0; i0 < p1; i0 += block) {
        const int64_t i1 = std::min(p1, i0 + block);
        // backproject writes point j of the block at bp[3 * j]; rays/colour are indexed by the global pixel
        const int64_t n = backproject(d, r, i0, i1, float(scale), float(zmin), float(zmax), col, int(mode), c,
                                      bp.data(), mode ? bc.data() : nullptr, column.data(), W);
        va->add(bp.data(), mode ? bc.data() : nullptr, n, column.data());
      }
      part[t] = std::move(va);
    }
  });
  VoxelAcc& va = *part[0];
  for (int64_t t = 1; t < bands; ++t) va.merge(*part[t]);
  const int64_t V = int64_t(va.keys.size());
  auto op = torch::empty({V, 3}, torch::kFloat32);
  auto oc = mode ? torch::empty({V, 3}, torch::kFloat32) : torch::empty({0, 3}, torch::kFloat32);
  va.finish(op.data_ptr<float>(), mode ? oc.data_ptr<float>() : nullptr);
  return {op, oc};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("rgbd_cloud", &rgbd_cloud, "depth + colour -> coloured points (CPU)");
  m.def("rgbd_voxel", &rgbd_voxel, "depth + colour -> voxel means in one pass (CPU)");
  m.def("voxel_down", &voxel_down, "hash voxel mean of points and colours, first-seen order (CPU)");
}
