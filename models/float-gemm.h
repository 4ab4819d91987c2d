// Single-precision matrix products for the training pass, faster than Eigen's general product for its
// shapes (batch 32 recurrent steps, [rows, 4H] gate matrices): register-blocked tiles of 6 rows x 16 columns
// (AVX2 + FMA when the build targets them, plain C++ otherwise) over a right-hand operand packed into
// contiguous column panels, so that the tile loop reads it sequentially from L1 whatever its stride.
//
//   ossicle::gemm::PackedMatrix w_hh_t;
//   w_hh_t.Pack(w_hh.data(), hidden, /*transposed=*/true, hidden, 4 * hidden);  // B = W_hh^T [H, 4H]
//   ossicle::gemm::MultiplyPacked(n, h_prev, hidden, w_hh_t, gates, 4 * hidden, /*accumulate=*/true);
//
// All matrices are row-major with explicit leading dimensions (row strides, in floats). Results depend only
// on the shapes (fixed summation order), never on alignment or threads. Each product sums over k in order
// within a tile; the rounding differs from Eigen's, within float accuracy.
#pragma once

#include <cstdint>
#include <vector>

namespace ossicle::gemm {

// Columns per packed panel (two 8-float vectors).
inline constexpr int64_t kPanelWidth = 16;

// A [k, n] right-hand operand as ceil(n / 16) panels; panel p holds columns [16 p, 16 p + 16) of every row,
// 16 floats per row (columns past n are zero).
class PackedMatrix {
 public:
  // Packs B: transposed = false: B[r][c] = src[r * ld + c]; true: B[r][c] = src[c * ld + r] (src is B^T).
  void Pack(const float* src, int64_t ld, bool transposed, int64_t k, int64_t n);
  // Shapes the matrix [k, n] for writing in place through MutablePanel (padding columns zero). Keeps the
  // values when the shape is unchanged.
  void Resize(int64_t k, int64_t n);
  int64_t Rows() const { return k_; }
  int64_t Cols() const { return n_; }
  const float* Panel(int64_t p) const { return data_.data() + p * k_ * kPanelWidth; }
  float* MutablePanel(int64_t p) { return data_.data() + p * k_ * kPanelWidth; }

 private:
  std::vector<float> data_;
  int64_t k_ = 0, n_ = 0;
};

// C[m, n] = A[m, k] B, or C += A B with `accumulate`; k and n from b.
void MultiplyPacked(int64_t m, const float* a, int64_t lda, const PackedMatrix& b, float* c, int64_t ldc,
                    bool accumulate);

// W[ni, nj] += G^T X for G [k, ni] and X [k, nj]: the weight gradient over all rows k (time steps x batch).
// `scratch` holds the packed blocks between calls (no allocation once it has grown).
void AddTransposedProduct(int64_t k, int64_t ni, int64_t nj, const float* g, int64_t ldg, const float* x,
                          int64_t ldx, float* w, int64_t ldw, std::vector<float>& scratch);
// The same with G [k, ni] already packed (ni = g.Cols()): no packing of G, so several products with one G
// (dW_ih = G^T X, dW_hh = G^T H_prev) share it. Same values as the unpacked form.
void AddTransposedProduct(const PackedMatrix& g, int64_t nj, const float* x, int64_t ldx, float* w, int64_t ldw,
                          std::vector<float>& scratch);

}  // namespace ossicle::gemm
