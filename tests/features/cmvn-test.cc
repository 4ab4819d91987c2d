// CmvnStats (mean, variance, Apply, Merge/Remove, Save/Load and its errors) and CmvnConfig::Validate.
#include "features/cmvn.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <string>
#include <utility>
#include <vector>

#include "features/errors.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

// Statistics are accumulated in double from float inputs that are exact in binary: mean/variance to 1e-12.
// Apply writes float32: relative 1e-6.
constexpr double kStatsTolerance = 1e-12;
constexpr double kApplyRelTolerance = 1e-6;

void CheckVector(const std::vector<double>& got, const std::vector<double>& want, double tol, const std::string& what) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!(std::abs(got[i] - want[i]) <= tol * std::max(1.0, std::abs(want[i])))) {
      ++bad;
      FAIL_CHECK(what << "[" << i << "]: expected " << std::setprecision(17) << want[i] << ", got " << got[i]);
    }
  }
  CHECK(bad == 0);
}

using test::HasMessage;

std::vector<double> ToDouble(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// Dimension 1 is constant (variance 0): the floor must keep the normalised output finite.
const std::vector<std::vector<float>> kFrames = {{1, 2, 5}, {3, 2, -1}, {5, 2, 0.5f}, {7, 2, 3.5f}};

CmvnStats StatsOf(const std::vector<std::vector<float>>& frames) {
  CmvnStats s(static_cast<int>(frames[0].size()));
  for (const auto& f : frames) s.Add(f);
  return s;
}

// Produced by (/usr/bin/python3, numpy 1.24.2):
//   import numpy as np
//   x = np.array([[1, 2, 5], [3, 2, -1], [5, 2, 0.5], [7, 2, 3.5]], dtype=np.float32).astype(np.float64)
//   m = x.mean(0); v = x.var(0)                      # population variance, as CmvnStats
//   f = np.array([2.0, 3.0, -0.25])
//   print(m, v, f - m, (f - m) / np.sqrt(np.maximum(v, 1e-10)))
TEST_CASE("CmvnStats: mean, variance and Apply match numpy", "[features][cmvn]") {
  const CmvnStats s = StatsOf(kFrames);
  CHECK(s.Dim() == 3);
  CHECK(s.Count() == 4.0);
  CheckVector(s.Mean(), {4.0, 2.0, 2.0}, kStatsTolerance, "mean");
  CheckVector(s.Variance(), {5.0, 0.0, 5.625}, kStatsTolerance, "variance");

  std::vector<float> f = {2.0f, 3.0f, -0.25f};
  s.Apply(false, f);
  CheckVector(ToDouble(f), {-2.0, 1.0, -2.25}, kApplyRelTolerance, "mean only");

  f = {2.0f, 3.0f, -0.25f};
  s.Apply(true, f);
  // Dimension 1: (3 - 2) / sqrt(1e-10) = 1e5 (kVarianceFloor), finite.
  CheckVector(ToDouble(f), {-0.8944271909999159, 99999.99999999999, -0.9486832980505138}, kApplyRelTolerance,
              "mean and variance");
  for (float v : f) CHECK(std::isfinite(v));
}

TEST_CASE("CmvnStats: a constant dimension normalises to 0, not NaN", "[features][cmvn]") {
  const CmvnStats s = StatsOf(kFrames);
  for (auto frame : kFrames) {
    s.Apply(true, frame);
    INFO("normalised frame: " << frame[0] << " " << frame[1] << " " << frame[2]);
    CHECK(frame[1] == 0.0f);
    for (float v : frame) CHECK(std::isfinite(v));
  }
  // The normalised frames have mean 0 and variance 1 in the varying dimensions.
  CmvnStats after(3);
  for (auto frame : kFrames) {
    s.Apply(true, frame);
    after.Add(frame);
  }
  CheckVector(after.Mean(), {0.0, 0.0, 0.0}, kApplyRelTolerance, "mean after normalisation");
  CheckVector(after.Variance(), {1.0, 0.0, 1.0}, kApplyRelTolerance, "variance after normalisation");
}

TEST_CASE("CmvnStats: Merge and Remove", "[features][cmvn]") {
  CmvnStats a(3), b(3);
  a.Add(kFrames[0]);
  a.Add(kFrames[1]);
  b.Add(kFrames[2]);
  b.Add(kFrames[3]);
  a.Merge(b);
  CHECK(a.Count() == 4.0);
  CheckVector(a.Mean(), {4.0, 2.0, 2.0}, kStatsTolerance, "merged mean");
  CheckVector(a.Variance(), {5.0, 0.0, 5.625}, kStatsTolerance, "merged variance");

  a.Remove(kFrames[0]);
  a.Remove(kFrames[1]);
  CHECK(a.Count() == 2.0);
  CheckVector(a.Mean(), {6.0, 2.0, 2.0}, kStatsTolerance, "mean after Remove");
  CheckVector(a.Variance(), {1.0, 0.0, 2.25}, kStatsTolerance, "variance after Remove");

  CHECK_THROWS_AS(a.Merge(CmvnStats(2)), Error);
}

TEST_CASE("CmvnStats: Save then Load gives back the exact doubles", "[features][cmvn]") {
  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "stats.json").string();
  CmvnStats s(3);
  // Values that need all 17 significant digits.
  s.Add(std::vector<float>{0.1f, -1.0f / 3.0f, 1e-30f});
  s.Add(std::vector<float>{3.4e38f, 2.0f / 7.0f, -123456.789f});
  s.Add(std::vector<float>{1.17549435e-38f, 0.7f, 5e-8f});
  s.Save(path);
  const CmvnStats back = CmvnStats::Load(path);
  CHECK(back.Dim() == 3);
  CHECK(back.Count() == s.Count());
  const auto m0 = s.Mean(), m1 = back.Mean(), v0 = s.Variance(), v1 = back.Variance();
  for (size_t d = 0; d < 3; ++d) {
    INFO("dim " << d << std::setprecision(17) << ": mean " << m0[d] << " vs " << m1[d] << ", variance " << v0[d]
                << " vs " << v1[d]);
    CHECK(m0[d] == m1[d]);
    CHECK(v0[d] == v1[d]);
  }
  std::vector<float> f0 = {1.0f, 2.0f, 3.0f}, f1 = f0;
  s.Apply(true, f0);
  back.Apply(true, f1);
  CHECK(f0 == f1);
}

std::string WriteText(const test::ScopedTempDir& tmp, const std::string& name, const std::string& text) {
  const std::string path = (tmp.path() / name).string();
  std::ofstream(path) << text;
  return path;
}

void CheckLoadFails(const std::string& path, const std::string& problem) {
  INFO(path);
  CHECK_THROWS_MATCHES(CmvnStats::Load(path), ModelFormatError, HasMessage(problem, path + ": "));
}

TEST_CASE("CmvnStats::Load: every malformed file is a ModelFormatError naming the file", "[features][cmvn]") {
  test::ScopedTempDir tmp;
  const std::string ok = R"("format": "ossicle-cmvn-stats", "version": 1)";
  CheckLoadFails((tmp.path() / "missing.json").string(), "cannot open");
  CheckLoadFails(WriteText(tmp, "text.json", "mean 1 2 3\n"), "not a JSON CMVN statistics file");
  CheckLoadFails(WriteText(tmp, "empty.json", ""), "not a JSON CMVN statistics file");
  CheckLoadFails(WriteText(tmp, "array.json", "[1, 2, 3]"), "CMVN statistics");
  CheckLoadFails(
      WriteText(tmp, "format.json", R"({"format": "kaldi", "dim": 1, "count": 1, "sum": [1], "sum_sq": [1]})"),
      "\"format\" is not \"ossicle-cmvn-stats\"");
  CheckLoadFails(WriteText(tmp, "no-format.json", R"({"dim": 1, "count": 1, "sum": [1], "sum_sq": [1]})"),
                 "\"format\" is not \"ossicle-cmvn-stats\"");
  CheckLoadFails(WriteText(tmp, "sum-size.json", "{" + ok + R"(, "dim": 2, "count": 1, "sum": [1], "sum_sq": [1, 2]})"),
                 "\"sum\" and \"sum_sq\" must both have \"dim\" = 2 values");
  CheckLoadFails(
      WriteText(tmp, "sumsq-size.json", "{" + ok + R"(, "dim": 2, "count": 1, "sum": [1, 2], "sum_sq": [1, 2, 3]})"),
      "\"sum\" and \"sum_sq\" must both have \"dim\" = 2 values");
  CheckLoadFails(WriteText(tmp, "dim-zero.json", "{" + ok + R"(, "dim": 0, "count": 1, "sum": [], "sum_sq": []})"),
                 "\"dim\" = 0; expected >= 1");
  // A negative (or huge) dim must be refused before anything is allocated from it.
  CheckLoadFails(
      WriteText(tmp, "dim-negative.json", "{" + ok + R"(, "dim": -1, "count": 1, "sum": [1], "sum_sq": [1]})"),
      "\"dim\" = -1; expected >= 1");
  CheckLoadFails(
      WriteText(tmp, "dim-huge.json", "{" + ok + R"(, "dim": 2147483647, "count": 1, "sum": [1], "sum_sq": [1]})"),
      "\"sum\" and \"sum_sq\" must both have \"dim\" = 2147483647 values");
  CheckLoadFails(WriteText(tmp, "count-zero.json", "{" + ok + R"(, "dim": 1, "count": 0, "sum": [1], "sum_sq": [1]})"),
                 "\"count\" must be > 0");
  CheckLoadFails(
      WriteText(tmp, "count-negative.json", "{" + ok + R"(, "dim": 1, "count": -2, "sum": [1], "sum_sq": [1]})"),
      "\"count\" must be > 0");
  CheckLoadFails(WriteText(tmp, "no-sum.json", "{" + ok + R"(, "dim": 1, "count": 1, "sum_sq": [1]})"),
                 "malformed CMVN statistics");
  CheckLoadFails(
      WriteText(tmp, "sum-strings.json", "{" + ok + R"(, "dim": 1, "count": 1, "sum": ["a"], "sum_sq": [1]})"),
      "malformed CMVN statistics");

  // The same document with valid values loads.
  const std::string good =
      WriteText(tmp, "good.json", "{" + ok + R"(, "dim": 2, "count": 4, "sum": [4, -8], "sum_sq": [8, 20]})");
  const CmvnStats s = CmvnStats::Load(good);
  CheckVector(s.Mean(), {1.0, -2.0}, kStatsTolerance, "loaded mean");
  CheckVector(s.Variance(), {1.0, 1.0}, kStatsTolerance, "loaded variance");
}

TEST_CASE("CmvnStats::Save to an unwritable path throws IoError naming it", "[features][cmvn]") {
  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "no-such-dir" / "stats.json").string();
  CHECK_THROWS_MATCHES(CmvnStats(2).Save(path), IoError, HasMessage("cannot open for writing", path + ": "));
}

TEST_CASE("CmvnConfig::Validate names the field, the value and the rule", "[features][cmvn][validate]") {
  CmvnConfig c;
  CHECK_NOTHROW(c.Validate());

  c.mode = CmvnMode::kSliding;
  for (int frames : {0, -5, 1000001}) {
    c.window_frames = frames;
    CHECK_THROWS_MATCHES(c.Validate("features.cmvn"), ConfigError,
                         HasMessage("features.cmvn.window_frames = " + std::to_string(frames) +
                                    "; expected between 1 and 1000000 in sliding mode"));
  }
  c.window_frames = 1;
  CHECK_NOTHROW(c.Validate());
  // window_frames only matters in sliding mode.
  c.window_frames = 0;
  c.mode = CmvnMode::kUtterance;
  CHECK_NOTHROW(c.Validate());

  c.mode = CmvnMode::kGlobal;
  c.window_frames = 600;
  c.stats_file = "";
  CHECK_THROWS_MATCHES(c.Validate("features.cmvn"), ConfigError,
                       HasMessage("features.cmvn.stats_file = \"\"; expected a statistics file in global mode"));
  CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage("cmvn.stats_file = ", "cmvn.stats_file"));
  c.stats_file = "stats.json";
  CHECK_NOTHROW(c.Validate());
  c.stats_file = "";
  c.mode = CmvnMode::kNone;  // the file only matters in global mode
  CHECK_NOTHROW(c.Validate());

  // Skipping digital silence is a rule of utterance statistics only.
  c.skip_digital_silence = true;
  CHECK_THROWS_MATCHES(c.Validate("features.cmvn"), ConfigError,
                       HasMessage("features.cmvn.skip_digital_silence = true; expected false unless mode is utterance"));
  c.mode = CmvnMode::kSliding;
  CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage("cmvn.skip_digital_silence = true"));
  c.mode = CmvnMode::kUtterance;
  CHECK_NOTHROW(c.Validate());
}

TEST_CASE("CMVN mode names", "[features][cmvn]") {
  CHECK(EnumChoices<CmvnMode>() == "none|utterance|global|sliding");
  for (const auto& [value, name] : EnumNames<CmvnMode>::kValues) CHECK(EnumFromString<CmvnMode>(name) == value);
}

}  // namespace
}  // namespace ossicle
