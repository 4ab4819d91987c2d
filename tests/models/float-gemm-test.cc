// The packed float products of the training pass against the same products computed in double, over
// shapes that hit every edge: rows not a multiple of the 6-row tile, columns not a multiple of the 16-column
// panel, empty dimensions, strided (sub-matrix) operands, and more than one depth block.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "models/float-gemm.h"
#include "models/tensor-types.h"

namespace ossicle {
namespace {

MatrixF RandomMatrix(int64_t rows, int64_t cols, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  MatrixF m(rows, cols);
  for (float& v : m.reshaped()) v = u(rng);
  return m;
}

// Largest |got - want| relative to the sum of |terms| that make each value (the bound of float rounding).
double RelativeError(const MatrixF& got, const MatrixD& want, const MatrixD& scale) {
  REQUIRE(got.rows() == want.rows());
  REQUIRE(got.cols() == want.cols());
  double worst = 0;
  for (Eigen::Index r = 0; r < want.rows(); ++r) {
    for (Eigen::Index c = 0; c < want.cols(); ++c) {
      worst = std::max(worst, std::abs(static_cast<double>(got(r, c)) - want(r, c)) / (scale(r, c) + 1e-30));
    }
  }
  return worst;
}

TEST_CASE("packed float product equals the double product for every edge shape", "[models][gemm]") {
  std::mt19937 rng(7);
  for (int64_t m : {0, 1, 5, 6, 7, 32, 97, 200}) {
    for (int64_t n : {1, 3, 16, 17, 40, 64}) {
      for (int64_t k : {0, 1, 9, 128}) {
        for (bool transposed : {false, true}) {
          for (bool accumulate : {false, true}) {
            INFO("m " << m << " n " << n << " k " << k << " transposed " << transposed << " accumulate "
                      << accumulate);
            // A is a sub-matrix (row stride k + 3); C is a sub-matrix with stride n + 5; B^T has row stride
            // k + 1. Every buffer has one spare row, so that no operand is a null pointer when m or k is 0,
            // and the spare rows of C must stay untouched.
            const MatrixF a_full = RandomMatrix(m + 1, k + 3, rng);
            const MatrixF b_t_full = RandomMatrix(n, k + 1, rng);
            MatrixF b_full = MatrixF::Zero(k + 1, n);
            b_full.topRows(k) = b_t_full.leftCols(k).transpose();
            const MatrixF b = b_full.topRows(k);
            MatrixF c_full = RandomMatrix(m + 1, n + 5, rng);
            const MatrixF c_before = c_full;
            gemm::PackedMatrix packed;
            if (transposed) {
              packed.Pack(b_t_full.data(), k + 1, true, k, n);
            } else {
              packed.Pack(b_full.data(), n, false, k, n);
            }
            CHECK(packed.Rows() == k);
            CHECK(packed.Cols() == n);
            gemm::MultiplyPacked(m, a_full.data(), k + 3, packed, c_full.data(), n + 5, accumulate);
            const MatrixD a = a_full.topRows(m).leftCols(k).cast<double>();
            MatrixD want = a * b.cast<double>();
            MatrixD scale = a.cwiseAbs() * b.cast<double>().cwiseAbs();
            if (accumulate) {
              want += c_before.topRows(m).leftCols(n).cast<double>();
              scale += c_before.topRows(m).leftCols(n).cast<double>().cwiseAbs();
            }
            CHECK(RelativeError(c_full.topRows(m).leftCols(n), want, scale) <= 1e-6);
            // The columns past n and the spare row are not touched.
            CHECK(c_full.topRows(m).rightCols(5) == c_before.topRows(m).rightCols(5));
            CHECK(c_full.bottomRows(1) == c_before.bottomRows(1));
          }
        }
      }
    }
  }
}

TEST_CASE("transposed product accumulates G^T X for every edge shape", "[models][gemm]") {
  std::mt19937 rng(8);
  std::vector<float> scratch;
  for (int64_t k : {0, 1, 7, 256, 600}) {
    for (int64_t ni : {1, 15, 16, 33, 64}) {
      for (int64_t nj : {1, 5, 6, 13, 40}) {
        INFO("k " << k << " ni " << ni << " nj " << nj);
        // G and X are column slices of wider matrices; W is a sub-matrix with row stride nj + 2.
        // One spare row each, so that G and X are never null pointers when k is 0.
        const MatrixF g_full = RandomMatrix(k + 1, ni + 4, rng);
        const MatrixF x_full = RandomMatrix(k + 1, nj + 1, rng);
        MatrixF w_full = RandomMatrix(ni, nj + 2, rng);
        const MatrixF w_before = w_full;
        gemm::AddTransposedProduct(k, ni, nj, g_full.data() + 2, ni + 4, x_full.data(), nj + 1, w_full.data(), nj + 2,
                                   scratch);
        const MatrixD g = g_full.topRows(k).middleCols(2, ni).cast<double>();
        const MatrixD x = x_full.topRows(k).leftCols(nj).cast<double>();
        const MatrixD want = w_before.leftCols(nj).cast<double>() + g.transpose() * x;
        const MatrixD scale = w_before.leftCols(nj).cast<double>().cwiseAbs() + g.cwiseAbs().transpose() * x.cwiseAbs();
        CHECK(RelativeError(w_full.leftCols(nj), want, scale) <= 1e-6);
        CHECK(w_full.rightCols(2) == w_before.rightCols(2));
      }
    }
  }
}

TEST_CASE("packed products are repeatable bit for bit", "[models][gemm]") {
  std::mt19937 rng(9);
  const MatrixF a = RandomMatrix(37, 128, rng);
  const MatrixF w = RandomMatrix(512, 128, rng);
  gemm::PackedMatrix packed;
  packed.Pack(w.data(), 128, true, 128, 512);
  MatrixF c1(37, 512), c2(37, 512);
  gemm::MultiplyPacked(37, a.data(), 128, packed, c1.data(), 512, false);
  gemm::MultiplyPacked(37, a.data(), 128, packed, c2.data(), 512, false);
  CHECK(c1 == c2);
  // Row r of a product does not depend on the other rows (a step with fewer active sequences gives the
  // same values for the ones that remain).
  MatrixF c3(5, 512);
  gemm::MultiplyPacked(5, a.data() + 10 * 128, 128, packed, c3.data(), 512, false);
  CHECK(c3 == c1.middleRows(10, 5));
}

}  // namespace
}  // namespace ossicle
