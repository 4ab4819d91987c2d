// Streaming properties: any chunking gives the whole-input result bit for bit; reset then rerun equals a
// fresh extractor; frames stream out before the input ends; edge cases of very short inputs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "features/cmvn.h"
#include "features/online-features.h"

namespace ossicle {
namespace {

std::vector<float> TestSignal(int64_t n, uint32_t seed) {
  // A chirp plus noise plus a stretch of digital silence, so every code path (log floor included) runs.
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.02f);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / 16000.0;
    const bool silent = i > n / 3 && i < n / 3 + 2000;
    x[static_cast<size_t>(i)] = silent ? 0.0f : static_cast<float>(0.3 * std::sin(2 * M_PI * (200 + 900 * t) * t)) + noise(rng);
  }
  return x;
}

FeatureMatrix RunChunked(const FeatureConfig& config, const std::vector<float>& x, std::mt19937& rng, int max_chunk,
                         bool release, std::shared_ptr<const CmvnStats> stats = nullptr) {
  OnlineFeatureExtractor ex(config, stats);
  FeatureMatrix m;
  m.dim = ex.Dim();
  std::uniform_int_distribution<int> len(0, max_chunk);
  auto take = [&]() {
    for (int64_t t = m.num_frames; t < ex.NumFramesReady(); ++t) {
      auto f = ex.Frame(t);
      m.data.insert(m.data.end(), f.begin(), f.end());
    }
    m.num_frames = ex.NumFramesReady();
    if (release) ex.ReleaseFramesBefore(m.num_frames);
  };
  size_t pos = 0;
  while (pos < x.size()) {
    const size_t n = std::min<size_t>(static_cast<size_t>(len(rng)), x.size() - pos);
    ex.AcceptWaveform(std::span<const float>(x.data() + pos, n));
    pos += n;
    take();
  }
  ex.InputFinished();
  take();
  return m;
}

void RequireIdentical(const FeatureMatrix& a, const FeatureMatrix& b) {
  REQUIRE(a.num_frames == b.num_frames);
  REQUIRE(a.dim == b.dim);
  for (size_t i = 0; i < a.data.size(); ++i) {
    if (a.data[i] != b.data[i]) {
      FAIL("frame " << i / static_cast<size_t>(a.dim) << " dim " << i % static_cast<size_t>(a.dim) << ": whole "
                    << a.data[i] << ", chunked " << b.data[i]);
    }
  }
}

struct NamedConfig {
  std::string name;
  FeatureConfig config;
};

std::vector<NamedConfig> Configs() {
  std::vector<NamedConfig> out;
  out.push_back({"kaldi snip_edges", FeatureConfig::KaldiFbank(40)});
  FeatureConfig c = FeatureConfig::KaldiFbank(40);
  c.frame.padding = FramePadding::kKaldiReflect;
  out.push_back({"kaldi reflect", c});
  out.push_back({"librosa center_zero", FeatureConfig::LibrosaLogMel(80)});
  c = FeatureConfig::LibrosaLogMel(40);
  c.frame.padding = FramePadding::kCenterReflect;
  out.push_back({"center_reflect", c});
  c = FeatureConfig::KaldiFbank(23);
  c.frame.dither = 1.0;
  c.frame.dither_seed = 7;
  out.push_back({"dither", c});
  c = FeatureConfig::KaldiMfcc(13);
  c.deltas.order = 2;
  out.push_back({"mfcc + deltas", c});
  c = FeatureConfig::KaldiFbank(40);
  c.cmvn.mode = CmvnMode::kSliding;
  c.cmvn.window_frames = 37;
  c.cmvn.normalize_variance = true;
  c.deltas.order = 1;
  c.deltas.window = 3;
  out.push_back({"sliding cmvn + deltas", c});
  c = FeatureConfig::LibrosaLogMel(40);
  c.cmvn.mode = CmvnMode::kUtterance;
  c.cmvn.normalize_variance = true;
  c.deltas.order = 2;
  out.push_back({"utterance cmvn + deltas", c});
  c.cmvn.skip_digital_silence = true;  // TestSignal's digital silence stays out of the statistics
  out.push_back({"utterance cmvn skipping digital silence", c});
  return out;
}

TEST_CASE("any chunking gives the whole-input frames exactly", "[features][online]") {
  const std::vector<float> x = TestSignal(16000 + 1234, 1);
  std::mt19937 rng(42);
  for (const auto& [name, config] : Configs()) {
    INFO(name);
    const FeatureMatrix whole = ComputeFeatures(config, x);
    REQUIRE(whole.num_frames > 90);
    for (int max_chunk : {1, 7, 160, 401, 5000}) {
      INFO("max chunk " << max_chunk);
      RequireIdentical(whole, RunChunked(config, x, rng, max_chunk, max_chunk % 2 == 1));
    }
  }
}

TEST_CASE("global CMVN applies saved statistics and chunks like the rest", "[features][online][cmvn]") {
  const std::vector<float> x = TestSignal(8000, 3);
  FeatureConfig base = FeatureConfig::KaldiFbank(20);
  const FeatureMatrix raw = ComputeFeatures(base, x);
  auto stats = std::make_shared<CmvnStats>(20);
  for (int64_t t = 0; t < raw.num_frames; ++t) stats->Add(raw.Row(t));

  FeatureConfig c = base;
  c.cmvn.mode = CmvnMode::kGlobal;
  c.cmvn.stats_file = "unused-because-stats-are-given";
  c.cmvn.normalize_variance = true;
  const FeatureMatrix norm = ComputeFeatures(c, x, stats);
  // With the statistics of this very input, every dimension has mean 0 and variance 1.
  for (int d = 0; d < 20; ++d) {
    double s = 0, s2 = 0;
    for (int64_t t = 0; t < norm.num_frames; ++t) {
      s += norm.Row(t)[static_cast<size_t>(d)];
      s2 += std::pow(norm.Row(t)[static_cast<size_t>(d)], 2);
    }
    CHECK(s / static_cast<double>(norm.num_frames) == Approx(0.0).margin(1e-4));
    CHECK(s2 / static_cast<double>(norm.num_frames) == Approx(1.0).epsilon(1e-4));
  }
  std::mt19937 rng(5);
  RequireIdentical(norm, RunChunked(c, x, rng, 333, true, stats));
}

TEST_CASE("utterance CMVN skipping digital silence: zeros added at the edges leave the speech's frames unchanged",
          "[features][online][cmvn]") {
  // 480 zeros (more than a 400-sample window), 8000 samples of signal, 480 zeros.
  std::vector<float> x(480, 0.0f);
  for (float v : TestSignal(8000, 21)) x.push_back(v);
  x.insert(x.end(), 480, 0.0f);
  // The same with 1600 more zeros before it (10 frame shifts) and 3200 after it.
  std::vector<float> padded(1600, 0.0f);
  padded.insert(padded.end(), x.begin(), x.end());
  padded.insert(padded.end(), 3200, 0.0f);

  FeatureConfig c = FeatureConfig::KaldiFbank(20);
  c.cmvn.mode = CmvnMode::kUtterance;
  c.cmvn.normalize_variance = true;
  c.cmvn.skip_digital_silence = true;
  const FeatureMatrix a = ComputeFeatures(c, x);
  const FeatureMatrix b = ComputeFeatures(c, padded);
  REQUIRE(a.num_frames == 54);
  REQUIRE(b.num_frames == 84);
  // Frame t of x covers the same samples as frame t + 10 of the padded input: bit for bit the same features,
  // because the frames of zeros (skipped) are the only difference.
  for (int64_t t = 0; t < a.num_frames; ++t) {
    for (int d = 0; d < 20; ++d) {
      if (a.Row(t)[static_cast<size_t>(d)] != b.Row(t + 10)[static_cast<size_t>(d)]) {
        FAIL("frame " << t << " dim " << d << ": " << a.Row(t)[static_cast<size_t>(d)] << " padded "
                      << b.Row(t + 10)[static_cast<size_t>(d)]);
      }
    }
  }
  // Without the skip the padding moves every frame's normalised value.
  c.cmvn.skip_digital_silence = false;
  const FeatureMatrix a0 = ComputeFeatures(c, x);
  const FeatureMatrix b0 = ComputeFeatures(c, padded);
  double largest = 0;
  for (int d = 0; d < 20; ++d) {
    largest = std::max(largest, std::abs(static_cast<double>(a0.Row(20)[static_cast<size_t>(d)]) - b0.Row(30)[static_cast<size_t>(d)]));
  }
  CHECK(largest > 0.1);

  // Nothing but zeros: every frame counts, as without the skip (no division by an empty count).
  const std::vector<float> zeros(4000, 0.0f);
  const FeatureMatrix z0 = ComputeFeatures(c, zeros);
  c.cmvn.skip_digital_silence = true;
  const FeatureMatrix z1 = ComputeFeatures(c, zeros);
  RequireIdentical(z0, z1);
  for (float v : z1.data) REQUIRE(std::isfinite(v));
}

TEST_CASE("reset then rerun equals a fresh extractor", "[features][online]") {
  const std::vector<float> a = TestSignal(9000, 11), b = TestSignal(7000, 12);
  FeatureConfig c = FeatureConfig::KaldiFbank(40);
  c.frame.dither = 2.0;
  c.cmvn.mode = CmvnMode::kSliding;
  c.deltas.order = 2;
  OnlineFeatureExtractor ex(c);
  ex.AcceptWaveform(a);
  ex.InputFinished();
  ex.Reset();
  CHECK(ex.NumFramesReady() == 0);
  ex.AcceptWaveform(b);
  ex.InputFinished();
  const FeatureMatrix fresh = ComputeFeatures(c, b);
  FeatureMatrix rerun{ex.NumFramesReady(), ex.Dim(), {}};
  auto all = ex.FramesFrom(0);
  rerun.data.assign(all.begin(), all.end());
  RequireIdentical(fresh, rerun);
}

TEST_CASE("frames stream out before the input is finished", "[features][online]") {
  const std::vector<float> x = TestSignal(16000, 2);
  SECTION("snip edges: every whole frame is ready at once") {
    OnlineFeatureExtractor ex(FeatureConfig::KaldiFbank(40));
    ex.AcceptWaveform(x);
    CHECK(ex.NumFramesReady() == 98);  // 1 + (16000 - 400) / 160
    ex.InputFinished();
    CHECK(ex.NumFramesReady() == 98);
  }
  SECTION("centred padding holds back the frames that reach past the end") {
    OnlineFeatureExtractor ex(FeatureConfig::LibrosaLogMel(40));
    ex.AcceptWaveform(x);
    CHECK(ex.NumFramesReady() == 99);  // frames whose window [160t - 200, 160t + 200) ends by 16000
    ex.InputFinished();
    CHECK(ex.NumFramesReady() == 101);  // 1 + 16000 / 160
  }
  SECTION("deltas wait for their right context") {
    FeatureConfig c = FeatureConfig::KaldiFbank(40);
    c.deltas.order = 2;  // context 2 * 2 = 4 frames
    OnlineFeatureExtractor ex(c);
    ex.AcceptWaveform(x);
    CHECK(ex.NumFramesReady() == 98 - 4);
    ex.InputFinished();
    CHECK(ex.NumFramesReady() == 98);
  }
}

TEST_CASE("frame counts for short inputs follow each padding rule", "[features][online]") {
  struct Case {
    FramePadding padding;
    int64_t samples;
    int64_t frames;
  };
  // win 400, shift 160: snip 1 + (N-400)/160 (0 below 400); kaldi reflect (N+80)/160; centred 1 + N/160.
  const Case cases[] = {{FramePadding::kSnipEdges, 0, 0},       {FramePadding::kSnipEdges, 399, 0},
                        {FramePadding::kSnipEdges, 400, 1},     {FramePadding::kSnipEdges, 560, 2},
                        {FramePadding::kKaldiReflect, 0, 0},    {FramePadding::kKaldiReflect, 79, 0},
                        {FramePadding::kKaldiReflect, 80, 1},   {FramePadding::kKaldiReflect, 1, 0},
                        {FramePadding::kKaldiReflect, 240, 2},  {FramePadding::kCenterZero, 0, 0},
                        {FramePadding::kCenterZero, 1, 1},      {FramePadding::kCenterZero, 160, 2},
                        {FramePadding::kCenterReflect, 1, 1},   {FramePadding::kCenterReflect, 2, 1},
                        {FramePadding::kCenterReflect, 321, 3}};
  for (const Case& c : cases) {
    FeatureConfig config = FeatureConfig::KaldiFbank(10);
    config.frame.padding = c.padding;
    INFO(EnumToString(c.padding) << " with " << c.samples << " samples");
    const std::vector<float> x = TestSignal(c.samples, 4);
    const FeatureMatrix m = ComputeFeatures(config, x);
    CHECK(m.num_frames == c.frames);
    for (float v : m.data) REQUIRE(std::isfinite(v));
  }
}

TEST_CASE("dither is seeded: same seed same frames, other seed other frames", "[features][online]") {
  const std::vector<float> x = TestSignal(4000, 9);
  FeatureConfig c = FeatureConfig::KaldiFbank(40);
  c.frame.dither = 1.0;
  c.frame.dither_seed = 1;
  const FeatureMatrix a = ComputeFeatures(c, x), b = ComputeFeatures(c, x);
  RequireIdentical(a, b);
  c.frame.dither_seed = 2;
  const FeatureMatrix other = ComputeFeatures(c, x);
  CHECK(other.data != a.data);
  c.frame.dither = 0.0;
  const FeatureMatrix none = ComputeFeatures(c, x);
  CHECK(none.data != a.data);
}

}  // namespace
}  // namespace ossicle
