#include "models/float-gemm.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define OSSICLE_GEMM_AVX2 1
#else
#define OSSICLE_GEMM_AVX2 0
#endif

namespace ossicle::gemm {

namespace {

constexpr int kTileRows = 6;
// Rows of the left operand per block of MultiplyPacked (their data stays in L2 while every panel passes).
constexpr int64_t kRowBlock = 96;
// Rows k per block of AddTransposedProduct: one packed G panel (16 KB) stays in L1, X packed in L2 (nj <= 512).
constexpr int64_t kDepthBlock = 256;

using Tile = float[kTileRows][kPanelWidth];

// out[r][0..16) = sum over q < k of a[r * ar + q * ak] * b[q * 16 + 0..16), for r < R; the sum runs over q
// in order. b is one packed panel.
#if OSSICLE_GEMM_AVX2
template <int R>
__attribute__((always_inline)) inline void TileProduct(int64_t k, const float* a, int64_t ar, int64_t ak,
                                                       const float* b, Tile& out) {
  __m256 c[R][2];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) c[r][0] = c[r][1] = _mm256_setzero_ps();
  for (int64_t q = 0; q < k; ++q) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * ar);
      c[r][0] = _mm256_fmadd_ps(av, b0, c[r][0]);
      c[r][1] = _mm256_fmadd_ps(av, b1, c[r][1]);
    }
    a += ak;
    b += kPanelWidth;
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(out[r], c[r][0]);
    _mm256_storeu_ps(out[r] + 8, c[r][1]);
  }
}
#else
template <int R>
inline void TileProduct(int64_t k, const float* a, int64_t ar, int64_t ak, const float* b, Tile& out) {
  float c[R][kPanelWidth] = {};
  for (int64_t q = 0; q < k; ++q) {
    for (int r = 0; r < R; ++r) {
      const float av = a[r * ar];
      for (int64_t j = 0; j < kPanelWidth; ++j) c[r][j] += av * b[j];
    }
    a += ak;
    b += kPanelWidth;
  }
  for (int r = 0; r < R; ++r) std::copy(c[r], c[r] + kPanelWidth, out[r]);
}
#endif

// TileProduct for rows < 6 (the last tile of a block).
void TileProductRows(int rows, int64_t k, const float* a, int64_t ar, int64_t ak, const float* b, Tile& out) {
  switch (rows) {
    case 6: TileProduct<6>(k, a, ar, ak, b, out); break;
    case 5: TileProduct<5>(k, a, ar, ak, b, out); break;
    case 4: TileProduct<4>(k, a, ar, ak, b, out); break;
    case 3: TileProduct<3>(k, a, ar, ak, b, out); break;
    case 2: TileProduct<2>(k, a, ar, ak, b, out); break;
    case 1: TileProduct<1>(k, a, ar, ak, b, out); break;
    default: break;
  }
}

// dst[0, width) = src[0, width), dst[width, n) = 0: short copies inline (a library call per row costs more
// than the copy).
template <int64_t N>
inline void CopyPadded(const float* src, int64_t width, float* dst) {
  if (width == N) {
    std::memcpy(dst, src, N * sizeof(float));  // a few vector moves (the loop compiled to scalar ones)
    return;
  }
  for (int64_t j = 0; j < N; ++j) dst[j] = j < width ? src[j] : 0.0f;
}

}  // namespace

void PackedMatrix::Pack(const float* src, int64_t ld, bool transposed, int64_t k, int64_t n) {
  k_ = k;
  n_ = n;
  const int64_t panels = (n + kPanelWidth - 1) / kPanelWidth;
  data_.assign(static_cast<size_t>(panels * k * kPanelWidth), 0.0f);
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t c0 = p * kPanelWidth;
    const int64_t width = std::min(kPanelWidth, n - c0);
    float* dst = data_.data() + p * k * kPanelWidth;
    for (int64_t r = 0; r < k; ++r, dst += kPanelWidth) {
      if (transposed) {
        for (int64_t j = 0; j < width; ++j) dst[j] = src[(c0 + j) * ld + r];
      } else {
        CopyPadded<kPanelWidth>(src + r * ld + c0, width, dst);
      }
    }
  }
}

void PackedMatrix::Resize(int64_t k, int64_t n) {
  if (k == k_ && n == n_) return;
  k_ = k;
  n_ = n;
  const int64_t panels = (n + kPanelWidth - 1) / kPanelWidth;
  data_.assign(static_cast<size_t>(panels * k * kPanelWidth), 0.0f);
}

void MultiplyPacked(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc,
                    bool accumulate) {
  const int64_t k = b.Rows(), n = b.Cols();
  const int64_t panels = (n + kPanelWidth - 1) / kPanelWidth;
  alignas(32) Tile tile;
  for (int64_t m0 = 0; m0 < m; m0 += kRowBlock) {
    const int64_t m1 = std::min(m, m0 + kRowBlock);
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t c0 = p * kPanelWidth;
      const int64_t width = std::min(kPanelWidth, n - c0);
      for (int64_t r0 = m0, rows = 0; r0 < m1; r0 += rows) {
        // Tiles of 6 rows; 7 to 11 left are split in two near-equal tiles (32 rows: 6 6 6 6 4 4, not
        // 6 6 6 6 6 2: a tile of fewer than 4 rows waits on FMA latency, not throughput). Each row's sums
        // are the same in any tile.
        const int64_t left = m1 - r0;
        rows = left > kTileRows && left < 2 * kTileRows ? (left + 1) / 2 : std::min<int64_t>(kTileRows, left);
        TileProductRows(static_cast<int>(rows), k, a + r0 * lda, lda, 1, b.Panel(p), tile);
        for (int r = 0; r < rows; ++r) {
          float* dst = c + (r0 + r) * ldc + c0;
          const float* t = tile[r];
          if (width == kPanelWidth) {
            if (accumulate) {
              for (int64_t j = 0; j < kPanelWidth; ++j) dst[j] += t[j];
            } else {
              for (int64_t j = 0; j < kPanelWidth; ++j) dst[j] = t[j];
            }
          } else if (accumulate) {
            for (int64_t j = 0; j < width; ++j) dst[j] += t[j];
          } else {
            for (int64_t j = 0; j < width; ++j) dst[j] = t[j];
          }
        }
      }
    }
  }
}

namespace {

// W[ni, nj] += G^T X, G's 16-column panels for rows [k0, k0 + kn) from panel(p, k0, kn, buffer) (a pointer
// to [kn][16] floats: into G when it is packed, else `buffer` filled).
template <class GetPanel>
void AddTransposedBlocks(int64_t k, int64_t ni, int64_t nj, GetPanel&& panel, const float* x, int64_t ldx,
                         float* w, int64_t ldw, std::vector<float>& scratch) {
  // W^T [nj, ni] += X^T G: tiles of 6 columns of X (broadcast) by one 16-column panel of G. Per depth
  // block, X is packed whole (it stays in L2) and G one panel at a time, just before its tiles (it stays
  // in L1): packing all of G's panels first made a block as large as L2, so the tiles read it from L3.
  const int64_t i_panels = (ni + kPanelWidth - 1) / kPanelWidth;
  const int64_t j_blocks = (nj + kTileRows - 1) / kTileRows;
  alignas(32) Tile tile;
  for (int64_t k0 = 0; k0 < k; k0 += kDepthBlock) {
    const int64_t kn = std::min(kDepthBlock, k - k0);
    const size_t g_size = static_cast<size_t>(kn * kPanelWidth);
    const size_t x_size = static_cast<size_t>(j_blocks * kn * kTileRows);
    if (scratch.size() < g_size + x_size) scratch.resize(g_size + x_size);
    float* gp = scratch.data();
    float* xp = gp + g_size;
    // X rows k0.. as blocks [kn][6], zero padded.
    for (int64_t jb = 0; jb < j_blocks; ++jb) {
      const int64_t c0 = jb * kTileRows, width = std::min<int64_t>(kTileRows, nj - c0);
      float* dst = xp + jb * kn * kTileRows;
      for (int64_t q = 0; q < kn; ++q, dst += kTileRows) {
        CopyPadded<kTileRows>(x + (k0 + q) * ldx + c0, width, dst);
      }
    }
    for (int64_t p = 0; p < i_panels; ++p) {
      const int64_t i0 = p * kPanelWidth, i_width = std::min(kPanelWidth, ni - i0);
      const float* g_panel = panel(p, k0, kn, gp);
      for (int64_t jb = 0; jb < j_blocks; ++jb) {
        const int64_t j0 = jb * kTileRows;
        const int j_width = static_cast<int>(std::min<int64_t>(kTileRows, nj - j0));
        TileProductRows(j_width, kn, xp + jb * kn * kTileRows, 1, kTileRows, g_panel, tile);
        for (int64_t i = 0; i < i_width; ++i) {
          float* out = w + (i0 + i) * ldw + j0;
          for (int r = 0; r < j_width; ++r) out[r] += tile[r][i];
        }
      }
    }
  }
}

}  // namespace

void AddTransposedProduct(int64_t k, int64_t ni, int64_t nj, const float* g, int64_t ldg, const float* x,
                          int64_t ldx, float* w, int64_t ldw, std::vector<float>& scratch) {
  // G rows k0.. of panel p as [kn][16], zero padded.
  const auto pack = [&](int64_t p, int64_t k0, int64_t kn, float* dst) -> const float* {
    const int64_t i0 = p * kPanelWidth, i_width = std::min(kPanelWidth, ni - i0);
    float* out = dst;
    for (int64_t q = 0; q < kn; ++q, out += kPanelWidth) {
      CopyPadded<kPanelWidth>(g + (k0 + q) * ldg + i0, i_width, out);
    }
    return dst;
  };
  AddTransposedBlocks(k, ni, nj, pack, x, ldx, w, ldw, scratch);
}

void AddTransposedProduct(const PackedMatrix& g, int64_t nj, const float* x, int64_t ldx, float* w, int64_t ldw,
                          std::vector<float>& scratch) {
  const auto packed = [&](int64_t p, int64_t k0, int64_t, float*) { return g.Panel(p) + k0 * kPanelWidth; };
  AddTransposedBlocks(g.Rows(), g.Cols(), nj, packed, x, ldx, w, ldw, scratch);
}

}  // namespace ossicle::gemm
