// MakeWindow against numpy / scipy.signal: every window type, symmetric and periodic, lengths 1, 2, 7, 400.
#include "features/window.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <iomanip>
#include <string>
#include <vector>

#include "features/errors.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

// Window coefficients are O(1) sums of two or three cosines: 1e-12 leaves room for libm-vs-numpy cos
// differences (a few ulp) and nothing else. Sums over 400 values: 1e-10.
constexpr double kCoeffTolerance = 1e-12;
constexpr double kSumTolerance = 1e-10;

// Compares got[index[i]] with want[i]; reports every mismatch with index, expected and actual.
void CheckValues(const std::vector<double>& got, const std::vector<size_t>& index, const std::vector<double>& want,
                 const std::string& what) {
  REQUIRE(index.size() == want.size());
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const size_t n = index[i];
    REQUIRE(n < got.size());
    if (!(std::abs(got[n] - want[i]) <= kCoeffTolerance)) {
      ++bad;
      FAIL_CHECK(what << " n=" << n << ": expected " << std::setprecision(17) << want[i] << ", got " << got[n]);
    }
  }
  CHECK(bad == 0);
}

std::vector<size_t> Iota(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

struct WindowGolden {
  WindowType type;
  bool periodic;
  std::vector<double> w1, w2, w7;  // every coefficient
  std::vector<double> w400_spots;  // at kSpots
  double w400_sum, w400_sum_sq;
};

const std::vector<size_t> kSpots = {0, 1, 57, 199, 200, 333, 399};

// Produced by (/usr/bin/python3, numpy 1.24.2, scipy 1.10.1):
//   import numpy as np, scipy.signal as ss
//   sym = {"hann": np.hanning, "hamming": np.hamming, "blackman": np.blackman,
//          "povey": lambda n: np.hanning(n) ** 0.85, "rectangular": np.ones}
//   per = {"hann": lambda n: ss.get_window("hann", n), "hamming": lambda n: ss.get_window("hamming", n),
//          "blackman": lambda n: ss.get_window("blackman", n),   # get_window default: fftbins=True
//          "povey": lambda n: ss.get_window("hann", n) ** 0.85, "rectangular": lambda n: ss.get_window("boxcar", n)}
//   spots = [0, 1, 57, 199, 200, 333, 399]
//   f = lambda a: ", ".join(repr(float(v)) for v in a)
//   for name in ["hann", "hamming", "povey", "blackman", "rectangular"]:
//       for periodic in [False, True]:
//           w = (per if periodic else sym)[name]; w400 = w(400)
//           print("{WindowType::k%s, %s, {%s}, {%s}, {%s}, {%s}, %r, %r}," % (name.capitalize(),
//                 "true" if periodic else "false", f(w(1)), f(w(2)), f(w(7)), f(w400[spots]),
//                 float(w400.sum()), float((w400 ** 2).sum())))
const std::vector<WindowGolden> kGoldens = {
    {WindowType::kHann,
     false,
     {1.0},
     {0.0, 0.0},
     {0.0, 0.2500000000000001, 0.75, 1.0, 0.75, 0.2500000000000001, 0.0},
     {0.0, 6.199333200590518e-05, 0.18825509907063326, 0.9999845014267927, 0.9999845014267927, 0.24659838721268018,
      0.0},
     199.5,
     149.625},
    {WindowType::kHann,
     true,
     {1.0},
     {0.0, 1.0},
     {0.0, 0.18825509907063326, 0.6112604669781572, 0.9504844339512095, 0.9504844339512095, 0.6112604669781572,
      0.18825509907063326},
     {0.0, 6.168375916970614e-05, 0.18737867183214757, 0.9999383162408303, 1.0, 0.252270665783796,
      6.168375916970614e-05},
     200.0,
     150.0},
    {WindowType::kHamming,
     false,
     {1.0},
     {0.08000000000000002, 0.08000000000000002},
     {0.08000000000000002, 0.31000000000000016, 0.7700000000000001, 1.0, 0.7700000000000001, 0.31000000000000016,
      0.08000000000000002},
     {0.08000000000000002, 0.08005703386544544, 0.2531946911449826, 0.9999857413126494, 0.9999857413126494,
      0.3068705162356658, 0.08000000000000002},
     215.54000000000002,
     158.56900000000002},
    {WindowType::kHamming,
     true,
     {1.0},
     {0.08000000000000007, 1.0},
     {0.08000000000000007, 0.25319469114498266, 0.6423596296199047, 0.9544456792351128, 0.9544456792351128,
      0.6423596296199047, 0.25319469114498266},
     {0.08000000000000007, 0.08005674905843618, 0.25238837808557585, 0.9999432509415639, 1.0, 0.3120890125210924,
      0.08005674905843618},
     216.0,
     158.96},
    {WindowType::kPovey,
     false,
     {1.0},
     {0.0, 0.0},
     {0.0, 0.3077861033362292, 0.7830726825351271, 1.0, 0.7830726825351271, 0.3077861033362292, 0.0},
     {0.0, 0.0002651509774601967, 0.24184367634284062, 0.9999868261974606, 0.9999868261974606, 0.30422275654561043,
      0.0},
     212.1469846749723,
     160.56894064994998},
    {WindowType::kPovey,
     true,
     {1.0},
     {0.0, 1.0},
     {0.0, 0.24184367634284062, 0.6581007148538761, 0.9577524188972842, 0.9577524188972842, 0.6581007148538761,
      0.24184367634284062},
     {0.0, 0.0002640250952422374, 0.2408863176940479, 0.9999475685621385, 1.0, 0.3101606801547802,
      0.0002640250952422374},
     212.67868142319912,
     160.9713690726233},
    {WindowType::kBlackman,
     false,
     {1.0},
     {-1.3877787807814457e-17, -1.3877787807814457e-17},
     {-1.3877787807814457e-17, 0.13000000000000006, 0.6300000000000001, 0.9999999999999999, 0.6300000000000001,
      0.13000000000000006, -1.3877787807814457e-17},
     {-1.3877787807814457e-17, 2.232005915296653e-05, 0.09045342435412808, 0.9999745824936718, 0.9999745824936718,
      0.12769430872513762, -1.3877787807814457e-17},
     167.58,
     121.53539999999998},
    {WindowType::kBlackman,
     true,
     {1.0},
     {-1.3877787807814457e-17, 0.9999999999999999},
     {-1.3877787807814457e-17, 0.09045342435412808, 0.45918295754596367, 0.9203636180999082, 0.9203636180999082,
      0.45918295754596367, 0.09045342435412808},
     {-1.3877787807814457e-17, 2.22085884282186e-05, 0.0899272125204241, 0.9998988410700889, 0.9999999999999999,
      0.13154735252376637, 2.22085884282186e-05},
     167.99999999999997,
     121.83999999999999},
    {WindowType::kRectangular,
     false,
     {1.0},
     {1.0, 1.0},
     {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0},
     {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0},
     400.0,
     400.0},
    {WindowType::kRectangular,
     true,
     {1.0},
     {1.0, 1.0},
     {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0},
     {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0},
     400.0,
     400.0},
};

std::string Name(const WindowGolden& g) {
  return std::string(EnumToString(g.type)) + (g.periodic ? " periodic" : " symmetric");
}

TEST_CASE("MakeWindow matches numpy and scipy.signal.get_window", "[features][window]") {
  for (const WindowGolden& g : kGoldens) {
    const std::string name = Name(g);
    INFO(name);
    CheckValues(MakeWindow(g.type, 1, g.periodic), Iota(1), g.w1, name + " length 1");
    CheckValues(MakeWindow(g.type, 2, g.periodic), Iota(2), g.w2, name + " length 2");
    CheckValues(MakeWindow(g.type, 7, g.periodic), Iota(7), g.w7, name + " length 7");

    const std::vector<double> w = MakeWindow(g.type, 400, g.periodic);
    REQUIRE(w.size() == 400);
    CheckValues(w, kSpots, g.w400_spots, name + " length 400");
    double sum = 0.0, sum_sq = 0.0;
    for (double v : w) {
      sum += v;
      sum_sq += v * v;
    }
    INFO("length 400: sum expected " << std::setprecision(17) << g.w400_sum << ", got " << sum
                                     << "; sum of squares expected " << g.w400_sum_sq << ", got " << sum_sq);
    CHECK(std::abs(sum - g.w400_sum) <= kSumTolerance);
    CHECK(std::abs(sum_sq - g.w400_sum_sq) <= kSumTolerance);
  }
}

TEST_CASE("Symmetric windows are symmetric, periodic windows are the symmetric window one longer, truncated",
          "[features][window]") {
  for (const WindowGolden& g : kGoldens) {
    if (g.periodic) continue;
    INFO(Name(g));
    for (int n : {7, 400, 401}) {
      const std::vector<double> sym = MakeWindow(g.type, n, false);
      const std::vector<double> per = MakeWindow(g.type, n, true);
      const std::vector<double> longer = MakeWindow(g.type, n + 1, false);
      int bad = 0;
      for (size_t i = 0; i < sym.size(); ++i) {
        const double mirror = sym[sym.size() - 1 - i];
        if (!(std::abs(sym[i] - mirror) <= kCoeffTolerance) || !(std::abs(per[i] - longer[i]) <= kCoeffTolerance)) {
          ++bad;
          FAIL_CHECK("length " << n << " n=" << i << std::setprecision(17) << ": symmetric " << sym[i] << " vs mirror "
                               << mirror << "; periodic " << per[i] << " vs symmetric(n+1) " << longer[i]);
        }
      }
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("Window names round-trip through EnumToString / EnumFromString", "[features][window]") {
  CHECK(EnumChoices<WindowType>() == "hann|hamming|povey|blackman|rectangular");
  for (const auto& [value, name] : EnumNames<WindowType>::kValues) {
    CHECK(EnumToString(value) == name);
    CHECK(EnumFromString<WindowType>(name) == value);
  }
  CHECK_FALSE(EnumFromString<WindowType>("hanning").has_value());
  CHECK_FALSE(EnumFromString<WindowType>("Hann").has_value());
}

TEST_CASE("MakeWindow refuses a length below one", "[features][window]") {
  CHECK_THROWS_MATCHES(MakeWindow(WindowType::kHann, 0, false), ConfigError,
                       HasMessage("window length = 0 samples; expected >= 1"));
  CHECK_THROWS_AS(MakeWindow(WindowType::kPovey, -5, true), ConfigError);
}

}  // namespace
}  // namespace ossicle
