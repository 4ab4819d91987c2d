// RealFft against numpy.fft.rfft and a direct DFT; size rules; RoundUpToPowerOfTwo.
#include "features/rfft.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <complex>
#include <iomanip>
#include <numbers>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "features/errors.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

// Errors of an O(N log N) double FFT are ~1e-16 * log2(N) relative to the spectrum's norm; 1e-9 of the norm
// catches any wrong bin, scaling or sign while leaving a wide margin for the backend's rounding.
constexpr double kRelativeTolerance = 1e-9;

// A fixed broadband test vector, exact in double in both C++ and numpy:
//   x[n] = ((n * 7919 + 13) % 1009) / 1009 - 0.5
std::vector<double> TestInput(int n) {
  std::vector<double> x(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) x[static_cast<size_t>(i)] = ((i * 7919 + 13) % 1009) / 1009.0 - 0.5;
  return x;
}

std::vector<std::complex<double>> Forward(const std::vector<double>& x) {
  RealFft fft(static_cast<int>(x.size()));
  std::vector<std::complex<double>> out(static_cast<size_t>(fft.NumBins()));
  fft.Forward(x, out);
  return out;
}

double Norm(const std::vector<std::complex<double>>& v) {
  double s = 0.0;
  for (const auto& c : v) s += std::norm(c);
  return std::sqrt(s);
}

struct Bin {
  int k;
  std::complex<double> value;
};

void CheckBins(const std::vector<std::complex<double>>& got, const std::vector<Bin>& want, double norm) {
  int bad = 0;
  for (const Bin& b : want) {
    REQUIRE(b.k < static_cast<int>(got.size()));
    const std::complex<double> g = got[static_cast<size_t>(b.k)];
    if (!(std::abs(g - b.value) <= kRelativeTolerance * norm)) {
      ++bad;
      FAIL_CHECK("size " << 2 * (got.size() - 1) << " bin " << b.k << std::setprecision(17) << ": expected " << b.value
                         << ", got " << g);
    }
  }
  CHECK(bad == 0);
}

// Produced by (/usr/bin/python3, numpy 1.24.2):
//   import numpy as np
//   def x(N): n = np.arange(N); return ((n * 7919 + 13) % 1009) / 1009.0 - 0.5
//   for N in (2, 8, 512):
//       X = np.fft.rfft(x(N))
//       print(N, "norm", repr(float(np.linalg.norm(X))))
//       bins = range(N//2+1) if N <= 8 else [0, 1, 2, 17, 100, 128, 200, 255, 256]
//       for k in bins: print("{%d, {%r, %r}}," % (k, float(X[k].real), float(X[k].imag)))
TEST_CASE("RealFft matches numpy.fft.rfft", "[features][rfft]") {
  SECTION("size 2") {
    const auto got = Forward(TestInput(2));
    REQUIRE(got.size() == 2);
    const double norm = 0.8576510040853537;
    CHECK(std::abs(Norm(got) - norm) <= kRelativeTolerance * norm);
    CheckBins(got, {{0, {-0.1258671952428147, 0.0}}, {1, {-0.848364717542121, 0.0}}}, norm);
  }
  SECTION("size 8") {
    const auto got = Forward(TestInput(8));
    REQUIRE(got.size() == 5);
    const double norm = 2.0886654154509174;
    CHECK(std::abs(Norm(got) - norm) <= kRelativeTolerance * norm);
    CheckBins(got,
              {{0, {-0.14271555996035679, 0.0}},
               {1, {0.31364791101806383, -0.7572130405897997}},
               {2, {-0.39345887016848363, 0.3934588701684837}},
               {3, {-1.100565651355031, 0.45586921907323324}},
               {4, {-1.3934588701684838, 0.0}}},
              norm);
  }
  SECTION("size 512") {
    const auto got = Forward(TestInput(512));
    REQUIRE(got.size() == 257);
    const double norm = 104.58859154179079;
    CHECK(std::abs(Norm(got) - norm) <= kRelativeTolerance * norm);
    CheckBins(got,
              {{0, {0.2755203171456892, 0.0}},
               {1, {0.46420039552558257, 0.26284781916379674}},
               {2, {-0.552758609390906, 2.1788295893843466}},
               {17, {-2.0389451457179106, 3.579924672962303}},
               {100, {-1.120662275301056, -0.1439443932520712}},
               {128, {0.8186323092170461, -0.8186323092170462}},
               {200, {-6.065357986967333, -0.5390495446787043}},
               {255, {-0.2523936510710548, 0.10542692477443191}},
               {256, {0.8186323092170462, 0.0}}},
              norm);
  }
}

TEST_CASE("RealFft equals a direct DFT in every bin, for power-of-two and other even sizes", "[features][rfft]") {
  // Sizes 2 and 6 take KissFFT's generic path (size not a multiple of 4), 8/400/512 the packed real path.
  for (int n : {2, 6, 8, 10, 400, 512}) {
    const std::vector<double> x = TestInput(n);
    const auto got = Forward(x);
    REQUIRE(static_cast<int>(got.size()) == n / 2 + 1);
    std::vector<Bin> want;
    for (int k = 0; k <= n / 2; ++k) {
      long double re = 0.0L, im = 0.0L;
      for (int i = 0; i < n; ++i) {
        // Reduce k*i mod n first so the angle stays in [0, 2 pi).
        const long double angle = -2.0L * std::numbers::pi_v<long double> * ((k * i) % n) / n;
        re += x[static_cast<size_t>(i)] * std::cos(angle);
        im += x[static_cast<size_t>(i)] * std::sin(angle);
      }
      want.push_back({k, {static_cast<double>(re), static_cast<double>(im)}});
    }
    std::vector<std::complex<double>> want_values;
    for (const Bin& b : want) want_values.push_back(b.value);
    INFO("size " << n);
    CheckBins(got, want, Norm(want_values));
  }
}

TEST_CASE("RealFft: sizes and buffers", "[features][rfft]") {
  RealFft fft(512);
  CHECK(fft.Size() == 512);
  CHECK(fft.NumBins() == 257);

  std::vector<double> in(512, 0.0);
  std::vector<std::complex<double>> out(257);
  std::vector<double> short_in(511, 0.0);
  std::vector<std::complex<double>> short_out(256), long_out(258);
  CHECK_THROWS_AS(fft.Forward(short_in, out), std::invalid_argument);
  CHECK_THROWS_AS(fft.Forward(in, short_out), std::invalid_argument);
  CHECK_THROWS_AS(fft.Forward(in, long_out), std::invalid_argument);
  CHECK_NOTHROW(fft.Forward(in, out));

  // An impulse has a flat spectrum: checks the transform is unscaled.
  in[0] = 1.0;
  fft.Forward(in, out);
  for (size_t k = 0; k < out.size(); ++k) {
    INFO("bin " << k << ": got " << out[k]);
    REQUIRE(std::abs(out[k] - std::complex<double>(1.0, 0.0)) <= 1e-15);
  }

  // A moved-from object's transform keeps working in the new owner.
  RealFft moved = std::move(fft);
  CHECK(moved.Size() == 512);
  moved.Forward(in, out);
  CHECK(std::abs(out[100] - std::complex<double>(1.0, 0.0)) <= 1e-15);
}

TEST_CASE("RealFft rejects odd and too small sizes with a ConfigError naming the size", "[features][rfft]") {
  for (int n : {7, 513, 1, 0, -2}) {
    INFO("size " << n);
    CHECK_THROWS_MATCHES(RealFft(n), ConfigError,
                         HasMessage("fft size = " + std::to_string(n) + "; expected an even number"));
  }
}

TEST_CASE("RoundUpToPowerOfTwo", "[features][rfft]") {
  const std::pair<int, int> cases[] = {{1, 1}, {2, 2}, {3, 4}, {400, 512}, {512, 512}, {513, 1024}, {1102, 2048}};
  for (const auto& [n, want] : cases) {
    INFO("n = " << n);
    CHECK(RoundUpToPowerOfTwo(n) == want);
  }
}

}  // namespace
}  // namespace ossicle

namespace ossicle {
namespace {

TEST_CASE("RealFft::Inverse undoes Forward and matches a direct inverse DFT", "[features][rfft]") {
  for (int n : {6, 8, 400, 512}) {
    const std::vector<double> x = TestInput(n);
    RealFft fft(n);
    std::vector<std::complex<double>> bins(static_cast<size_t>(fft.NumBins()));
    fft.Forward(x, bins);
    std::vector<double> back(static_cast<size_t>(n));
    fft.Inverse(bins, back);
    INFO("size " << n);
    for (int i = 0; i < n; ++i) REQUIRE(back[static_cast<size_t>(i)] == Approx(x[static_cast<size_t>(i)]).margin(1e-12));
  }
  // One bin (k = 3 of N = 16, value 16): the inverse is 2 cos(2 pi 3 n / 16) (the bin and its mirror).
  RealFft fft(16);
  std::vector<std::complex<double>> bins(9, 0.0);
  bins[3] = 16.0;
  std::vector<double> y(16);
  fft.Inverse(bins, y);
  for (int i = 0; i < 16; ++i) {
    REQUIRE(y[static_cast<size_t>(i)] == Approx(2.0 * std::cos(2.0 * std::numbers::pi * 3 * i / 16)).margin(1e-12));
  }
  std::vector<double> short_out(15);
  CHECK_THROWS_AS(fft.Inverse(bins, short_out), std::invalid_argument);
}

}  // namespace
}  // namespace ossicle
