// DeltaComputer against a numpy implementation of Kaldi's add-deltas; Context(); DeltaConfig::Validate.
#include "features/deltas.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "features/errors.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

// Output is float32 computed from double accumulators; values are O(1), so float rounding is ~3e-7.
constexpr double kTolerance = 1e-6;

using Frames = std::vector<std::vector<float>>;

// Runs the computer over every frame of `x` (T x dim); returns T x dim * (order + 1).
Frames ComputeAll(const DeltaComputer& dc, const Frames& x) {
  const int dim = static_cast<int>(x[0].size());
  const int64_t num_frames = static_cast<int64_t>(x.size());
  Frames out;
  for (int64_t t = 0; t < num_frames; ++t) {
    std::vector<float> frame(static_cast<size_t>(dim * (dc.Order() + 1)), -999.0f);
    dc.Compute(
        t, num_frames, dim,
        [&](int64_t s) {
          REQUIRE(s >= 0);
          REQUIRE(s < num_frames);
          REQUIRE(s >= t - dc.Context());
          REQUIRE(s <= t + dc.Context());
          return std::span<const float>(x[static_cast<size_t>(s)]);
        },
        frame);
    out.push_back(frame);
  }
  return out;
}

void CheckFrames(const Frames& got, const std::vector<std::vector<double>>& want) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (size_t t = 0; t < want.size(); ++t) {
    REQUIRE(got[t].size() == want[t].size());
    for (size_t d = 0; d < want[t].size(); ++d) {
      if (!(std::abs(got[t][d] - want[t][d]) <= kTolerance)) {
        ++bad;
        FAIL_CHECK("frame " << t << " value " << d << ": expected " << std::setprecision(17) << want[t][d] << ", got "
                            << got[t][d]);
      }
    }
  }
  CHECK(bad == 0);
}

const Frames kInput = {{1.0f, -2.0f}, {3.0f, 0.5f}, {-1.0f, 4.0f}, {2.0f, 2.0f}, {0.0f, -3.0f}, {5.0f, 1.0f}};

// Produced by (/usr/bin/python3, numpy 1.24.2), Kaldi's add-deltas (DeltaFeatures in feat/feature-functions.cc):
//   import numpy as np
//   def scales(order, w):
//       s = [np.array([1.0])]
//       k = np.arange(-w, w + 1) / float(np.sum(np.arange(-w, w + 1) ** 2))   # w = 2: [-2, -1, 0, 1, 2] / 10
//       for i in range(order): s.append(np.convolve(s[-1], k))               # order i: k convolved i times
//       return s
//   def add_deltas(x, order, w):
//       T = len(x); out = []
//       for s in scales(order, w):
//           c = (len(s) - 1) // 2
//           idx = np.clip(np.arange(T)[:, None] + np.arange(-c, c + 1)[None, :], 0, T - 1)   # edges clamped
//           out.append(np.einsum("tj,tjd->td", np.broadcast_to(s, idx.shape), x[idx]))
//       return np.concatenate(out, axis=1)
//   x = np.array([[1.0, -2.0], [3.0, 0.5], [-1.0, 4.0], [2.0, 2.0], [0.0, -3.0], [5.0, 1.0]])
//   for order, w in ((1, 2), (2, 2), (1, 1)):
//       for r in add_deltas(x, order, w): print("{" + ", ".join(repr(float(v)) for v in r) + "},")
TEST_CASE("Deltas, order 1, window 2, match Kaldi's add-deltas", "[features][deltas]") {
  DeltaConfig c;
  c.order = 1;
  c.window = 2;
  const DeltaComputer dc(c);
  CHECK(dc.Order() == 1);
  CHECK(dc.Context() == 2);
  CheckFrames(ComputeAll(dc, kInput), {
                                          {1.0, -2.0, -0.2, 1.4500000000000002},
                                          {3.0, 0.5, 0.0, 1.4},
                                          {-1.0, 4.0, -0.3, -0.050000000000000044},
                                          {2.0, 2.0, 0.4999999999999999, -0.6000000000000001},
                                          {0.0, -3.0, 1.5, -0.7},
                                          {5.0, 1.0, 1.1, 0.20000000000000004},
                                      });
}

TEST_CASE("Deltas, order 2, window 2, match Kaldi's add-deltas", "[features][deltas]") {
  DeltaConfig c;
  c.order = 2;
  c.window = 2;
  const DeltaComputer dc(c);
  CHECK(dc.Order() == 2);
  CHECK(dc.Context() == 4);
  CheckFrames(ComputeAll(dc, kInput),
              {
                  {1.0, -2.0, -0.2, 1.4500000000000002, -0.10000000000000003, 0.07999999999999999},
                  {3.0, 0.5, 0.0, 1.4, 0.010000000000000037, -0.37},
                  {-1.0, 4.0, -0.3, -0.050000000000000044, 0.3900000000000001, -0.6300000000000001},
                  {2.0, 2.0, 0.4999999999999999, -0.6000000000000001, 0.4000000000000001, -0.30500000000000005},
                  {0.0, -3.0, 1.5, -0.7, 0.32000000000000006, 0.25},
                  {5.0, 1.0, 1.1, 0.20000000000000004, -0.14999999999999994, 0.27},
              });
}

TEST_CASE("Deltas, order 1, window 1, match Kaldi's add-deltas", "[features][deltas]") {
  DeltaConfig c;
  c.order = 1;
  c.window = 1;
  const DeltaComputer dc(c);
  CHECK(dc.Context() == 1);
  CheckFrames(ComputeAll(dc, kInput), {
                                          {1.0, -2.0, 1.0, 1.25},
                                          {3.0, 0.5, -1.0, 3.0},
                                          {-1.0, 4.0, -0.5, 0.75},
                                          {2.0, 2.0, 0.5, -3.5},
                                          {0.0, -3.0, 1.5, -0.5},
                                          {5.0, 1.0, 2.5, 2.0},
                                      });
}

TEST_CASE("Deltas: order 0 copies the input, one frame has zero derivatives, Context is order * window",
          "[features][deltas]") {
  DeltaConfig c;
  c.order = 0;
  const DeltaComputer copy(c);
  CHECK(copy.Order() == 0);
  CHECK(copy.Context() == 0);
  CheckFrames(ComputeAll(copy, kInput), {{1, -2}, {3, 0.5}, {-1, 4}, {2, 2}, {0, -3}, {5, 1}});

  c.order = 2;
  c.window = 2;
  CheckFrames(ComputeAll(DeltaComputer(c), {{7.0f, -1.5f}}), {{7.0, -1.5, 0, 0, 0, 0}});

  for (int order : {0, 1, 2, 3, 4}) {
    for (int window : {1, 2, 3, 9}) {
      c.order = order;
      c.window = window;
      INFO("order " << order << " window " << window);
      CHECK(DeltaComputer(c).Order() == order);
      CHECK(DeltaComputer(c).Context() == order * window);
    }
  }
}

TEST_CASE("Deltas of a linear ramp: slope 1 in the interior, 0 for delta-deltas", "[features][deltas]") {
  // Kaldi's normaliser makes the order-1 filter an exact slope estimator: d[t] = 1 for x[t] = t.
  Frames ramp;
  for (int t = 0; t < 12; ++t) ramp.push_back({static_cast<float>(t)});
  DeltaConfig c;
  c.order = 2;
  c.window = 2;
  const Frames out = ComputeAll(DeltaComputer(c), ramp);
  for (size_t t = 4; t < 8; ++t) {  // frames whose whole context (4 each side) is inside the ramp
    INFO("frame " << t << ": " << out[t][0] << " " << out[t][1] << " " << out[t][2]);
    CHECK(std::abs(out[t][1] - 1.0) <= kTolerance);
    CHECK(std::abs(out[t][2]) <= kTolerance);
  }
}

TEST_CASE("DeltaConfig::Validate names the field, the value and the rule", "[features][deltas][validate]") {
  const DeltaConfig good;
  CHECK_NOTHROW(good.Validate());
  DeltaConfig c = good;
  for (int order : {-1, 5}) {
    c.order = order;
    CHECK_THROWS_MATCHES(c.Validate("features.deltas"), ConfigError,
                         HasMessage("features.deltas.order = " + std::to_string(order) + "; expected between 0 and 4"));
  }
  c = good;
  for (int window : {0, -3, 101}) {
    c.window = window;
    CHECK_THROWS_MATCHES(
        c.Validate("features.deltas"), ConfigError,
        HasMessage("features.deltas.window = " + std::to_string(window) + "; expected between 1 and 100"));
  }
  c.window = 100;
  c.order = 4;
  CHECK_NOTHROW(c.Validate());
  c.window = 0;
  CHECK_THROWS_MATCHES(c.Validate(), ConfigError,
                       HasMessage("deltas.window = 0; expected", "deltas.window = 0; expected"));
}

}  // namespace
}  // namespace ossicle
