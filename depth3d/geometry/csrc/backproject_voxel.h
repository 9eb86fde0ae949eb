// The one CPU implementation of depth back-projection (with optional colour registration) and of the
// per-voxel mean, used by every depth3d kernel that needs them (geometry_cpu.cpp). Torch-free: raw
// pointers in, counts out; the callers validate shapes and dtypes and allocate.
//
// Frames: depth camera x right, y down, z forward, metres. Pixel i = v * W + u back-projects to
// z * (ray[i].x, ray[i].y, 1) with z = depth[i] * scale, kept when zmin < z < zmax (NaN is dropped).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace depth3d {

// Where point colours come from: none (mode 0), the registered colour image on the depth grid (mode 1), or
// the colour camera (mode 2): each point is moved by (R, t) into it, projected with its pinhole (undistorted)
// intrinsics and takes the nearest pixel (black outside the image or behind the camera).
struct ColorSource {
  const uint8_t* rgb = nullptr;  // (h, w, 3) for mode 2, (H, W, 3) for mode 1
  int mode = 0;
  float fx = 0, fy = 0, cx = 0, cy = 0;
  float R[9] = {0}, t[3] = {0};
  int w = 0, h = 0;
};

template <typename T>
inline float depth_metres(T d, float scale) { return static_cast<float>(d) * scale; }

// Number of valid pixels in [i0, i1).
template <typename T>
int64_t count_valid(const T* d, int64_t i0, int64_t i1, float scale, float zmin, float zmax) {
  int64_t c = 0;
  for (int64_t i = i0; i < i1; ++i) {
    const float z = depth_metres(d[i], scale);
    c += (z > zmin && z < zmax);  // NaN compares false: dropped
  }
  return c;
}

// (kIndex, kColumn, kMode: whether index/column are written and the colour mode, fixed at compile time so the
// per-pixel loop carries no tests for them; callers use backproject below.)
template <typename T, bool kIndex, bool kColumn, int kMode>
int64_t backproject_fixed(const T* d, const float* rays, int64_t i0, int64_t i1, int64_t W, float scale, float zmin,
                          float zmax, const ColorSource& cs, float* pts, float* cols, int64_t* index,
                          int32_t* column) {
  int64_t n = 0;
  int32_t cx = kColumn ? int32_t(i0 % W) : 0;
  const float inv255 = 1.0f / 255.0f;
  // local copies: the stores to pts/cols could otherwise alias cs and force reloads per point
  float R[9], t[3];
  for (int k = 0; k < 9; ++k) R[k] = cs.R[k];
  for (int k = 0; k < 3; ++k) t[k] = cs.t[k];
  const float fx = cs.fx, fy = cs.fy, ccx = cs.cx, ccy = cs.cy;
  const int cw = cs.w, ch = cs.h;
  const uint8_t* rgb = cs.rgb;
  for (int64_t i = i0; i < i1; ++i) {
    const int32_t ci = cx;
    if (kColumn && ++cx == W) cx = 0;
    const float z = depth_metres(d[i], scale);
    if (!(z > zmin && z < zmax)) continue;
    const float x = z * rays[2 * i], y = z * rays[2 * i + 1];
    float* p = pts + 3 * n;
    p[0] = x; p[1] = y; p[2] = z;
    if (kIndex) index[n] = i;
    if (kColumn) column[n] = ci;
    if (kMode) {
      float* c = cols + 3 * n;
      if (kMode == 1) {
        const uint8_t* s = rgb + 3 * i;
        c[0] = s[0] * inv255; c[1] = s[1] * inv255; c[2] = s[2] * inv255;
      } else {
        const float X = R[0] * x + R[1] * y + R[2] * z + t[0];
        const float Y = R[3] * x + R[4] * y + R[5] * z + t[1];
        const float Z = R[6] * x + R[7] * y + R[8] * z + t[2];
        c[0] = c[1] = c[2] = 0.0f;
        if (Z > 0) {
          const float iz = 1.0f / Z;
          const float uf = fx * X * iz + ccx, vf = fy * Y * iz + ccy;
          if (uf > -0.5f && vf > -0.5f) {
            const int u = int(uf + 0.5f), v = int(vf + 0.5f);  // nearest pixel (ties away from zero)
            if (u < cw && v < ch) {
              const uint8_t* s = rgb + 3 * (int64_t(v) * cw + u);
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

// Back-project the valid pixels of [i0, i1) (flat indices into the (H, W) image) in pixel order. Point j goes
// to pts[3j..3j+2]; with cols (and cs.mode > 0) its colour in 0..1 to cols[3j..]; with index its flat pixel
// index; with column its image column (counted along, no division per pixel); index and column are not
// both given. Returns the number of points.
template <typename T>
int64_t backproject(const T* d, const float* rays, int64_t i0, int64_t i1, int64_t W, float scale, float zmin,
                    float zmax, const ColorSource& cs, float* pts, float* cols, int64_t* index = nullptr,
                    int32_t* column = nullptr) {
  const int mode = cols ? cs.mode : 0;
  auto run = [&](auto idx_tag, auto col_tag) {
    constexpr bool kI = decltype(idx_tag)::value, kC = decltype(col_tag)::value;
    switch (mode) {
      case 1:
        return backproject_fixed<T, kI, kC, 1>(d, rays, i0, i1, W, scale, zmin, zmax, cs, pts, cols, index, column);
      case 2:
        return backproject_fixed<T, kI, kC, 2>(d, rays, i0, i1, W, scale, zmin, zmax, cs, pts, cols, index, column);
      default:
        return backproject_fixed<T, kI, kC, 0>(d, rays, i0, i1, W, scale, zmin, zmax, cs, pts, cols, index, column);
    }
  };
  if (index) return run(std::true_type{}, std::false_type{});
  if (column) return run(std::false_type{}, std::true_type{});
  return run(std::false_type{}, std::false_type{});
}

// Voxel (i, j, k) covers origin + [i, i+1) * size along x (likewise y, z); coordinates must lie in
// [-2^20, 2^20). Key: the three coordinates offset by 2^20 in 21 bits each, so key order = (x, y, z) order.
constexpr int64_t kVoxelOff = int64_t(1) << 20;
constexpr int64_t kVoxelMask = (int64_t(1) << 21) - 1;

inline uint64_t voxel_key(int64_t ix, int64_t iy, int64_t iz) {
  return (uint64_t(ix + kVoxelOff) << 42) | (uint64_t(iy + kVoxelOff) << 21) | uint64_t(iz + kVoxelOff);
}

inline void voxel_coords(uint64_t key, int64_t* c) {
  c[0] = int64_t((key >> 42) & kVoxelMask) - kVoxelOff;
  c[1] = int64_t((key >> 21) & kVoxelMask) - kVoxelOff;
  c[2] = int64_t(key & kVoxelMask) - kVoxelOff;
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

struct VoxelRangeError : std::runtime_error {
  VoxelRangeError()
      : std::runtime_error("voxel grid: points span more than 2^20 voxels from the origin (or are not finite); "
                           "use a larger voxel size") {}
};

// Sums of points (and of NV values per point; NV < 0: the count is given at run time) per voxel, voxels
// numbered in order of first appearance. Open addressing (key beside id, one cache line per probe) in a table
// that starts small and doubles at half load, with three caches in front: the previous point's voxel, the
// voxel last seen in the same image column (the row above usually shares it), and a small direct-mapped
// cache of recent voxels (depth noise makes neighbouring pixels alternate between a few voxels). Sums are
// float64, added in point order.
template <int NV = -1>
struct VoxelAcc {
  struct Slot {
    uint64_t key;
    int64_t id;
  };
  static constexpr int64_t kRecent = 2048;

  double inv, origin[3];
  int nv_;
  int64_t cap = 1 << 14;
  uint64_t mask = (1 << 14) - 1;
  std::vector<Slot> table;
  std::vector<Slot> recent;
  std::vector<uint64_t> keys;  // voxel id -> key
  std::vector<double> acc;     // per voxel: x y z, values, count
  uint64_t last_key = ~uint64_t(0);
  int32_t last_id = -1;
  std::vector<uint64_t> col_key;
  std::vector<int32_t> col_id;

  VoxelAcc(double size, int64_t expect, const double* o = nullptr, int nvalues = NV < 0 ? 0 : NV)
      : inv(1.0 / size), nv_(NV >= 0 ? NV : nvalues), table(1 << 14, Slot{0, -1}),
        recent(kRecent, Slot{~uint64_t(0), -1}) {
    for (int d = 0; d < 3; ++d) origin[d] = o ? o[d] : 0.0;
    keys.reserve(expect / 4 + 16);
    acc.reserve(stride() * (expect / 4 + 16));
  }

  inline int nv() const { return NV >= 0 ? NV : nv_; }
  inline int64_t stride() const { return 4 + nv(); }
  int64_t size() const { return int64_t(keys.size()); }

  // Enable the column cache for points that come with their image column (image width W).
  void use_columns(int64_t W) {
    col_key.assign(W, ~uint64_t(0));
    col_id.assign(W, -1);
  }

  // Add n points (and their values, nv per point, or null); column: image column of each point (needs
  // use_columns) or null; ids: where to write each point's voxel id, or null. Throws VoxelRangeError.
  void add(const float* pts, const float* vals, int64_t n, const int32_t* column = nullptr,
           int64_t* ids = nullptr) {
    // a zero origin needs no subtraction (x - 0.0 == x, so the voxels are the same)
    const bool o = origin[0] != 0.0 || origin[1] != 0.0 || origin[2] != 0.0;
    if (ids) o ? add_impl<true, true>(pts, vals, n, column, ids) : add_impl<true, false>(pts, vals, n, column, ids);
    else o ? add_impl<false, true>(pts, vals, n, column, ids) : add_impl<false, false>(pts, vals, n, column, ids);
  }

  template <bool kIds, bool kOrigin>
  void add_impl(const float* pts, const float* vals, int64_t n, const int32_t* column, int64_t* ids) {
    const double lim = double(kVoxelOff);
    const int m = nv();
    const int64_t st = stride();
    const double s = inv, ox = origin[0], oy = origin[1], oz = origin[2];  // locals: the sums' stores can't alias
    for (int64_t i = 0; i < n; ++i) {
      const float* p = pts + 3 * i;
      const double fx = (kOrigin ? double(p[0]) - ox : double(p[0])) * s,
                   fy = (kOrigin ? double(p[1]) - oy : double(p[1])) * s,
                   fz = (kOrigin ? double(p[2]) - oz : double(p[2])) * s;
      // also catches NaN and values too large for ifloor
      if (!(fx >= -lim && fx < lim && fy >= -lim && fy < lim && fz >= -lim && fz < lim)) throw VoxelRangeError();
      const uint64_t k = voxel_key(ifloor(fx), ifloor(fy), ifloor(fz));
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
      if (kIds) ids[i] = id;
      double* a = acc.data() + st * int64_t(id);
      a[0] += p[0]; a[1] += p[1]; a[2] += p[2];
      if (vals) {
        const float* v = vals + int64_t(m) * i;
        for (int c = 0; c < m; ++c) a[3 + c] += v[c];
      }
      a[3 + m] += 1.0;
    }
  }

  // id of voxel k (h = mix(k)), appended with zero sums when new
  int32_t find_or_insert(uint64_t k, uint64_t h) {
    uint64_t s = h & mask;
    while (true) {
      Slot& sl = table[s];
      if (sl.id < 0) {
        const int32_t id = int32_t(keys.size());
        sl.key = k;
        sl.id = id;
        keys.push_back(k);
        acc.resize(acc.size() + stride(), 0.0);
        if (int64_t(keys.size()) * 2 > cap) grow();
        return id;
      }
      if (sl.key == k) return int32_t(sl.id);
      s = (s + 1) & mask;
    }
  }

  // Add the sums of o (points that came after this accumulator's): voxels new to this one are appended in
  // o's order, so the first-appearance order of the whole sequence is kept.
  void merge(const VoxelAcc& o) {
    const int64_t st = stride();
    for (size_t j = 0; j < o.keys.size(); ++j) {
      const int32_t id = find_or_insert(o.keys[j], mix(o.keys[j]));
      double* a = acc.data() + st * int64_t(id);
      const double* b = o.acc.data() + st * int64_t(j);
      for (int64_t q = 0; q < st; ++q) a[q] += b[q];
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

  // Voxel ids in (x, y, z) coordinate order.
  std::vector<int64_t> sorted_ids() const {
    std::vector<int64_t> order(keys.size());
    for (size_t j = 0; j < order.size(); ++j) order[j] = int64_t(j);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
    return order;
  }

  // Write output voxel j = voxel order[j] (order null: voxel j): mean point (3), mean values (nv, if out_v),
  // count (if out_n), coordinates (3, if out_c), for j in [j0, j1).
  void finish(int64_t j0, int64_t j1, const int64_t* order, float* out_p, float* out_v, int64_t* out_n = nullptr,
              int64_t* out_c = nullptr) const {
    const int m = nv();
    const int64_t st = stride();
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t v = order ? order[j] : j;
      const double* a = acc.data() + st * v;
      const double cnt = a[3 + m], rc = 1.0 / cnt;  // one division per voxel
      for (int d = 0; d < 3; ++d) out_p[3 * j + d] = float(a[d] * rc);
      if (out_v) for (int c = 0; c < m; ++c) out_v[int64_t(m) * j + c] = float(a[3 + c] * rc);
      if (out_n) out_n[j] = int64_t(cnt);
      if (out_c) voxel_coords(keys[v], out_c + 3 * j);
    }
  }
};

}  // namespace depth3d
