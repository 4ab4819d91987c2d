// training.frame_targets: which frames of a class-labelled clip carry which target, and the clip decision.
#include "pipeline/frame-targets.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

namespace ossicle {
namespace {

const std::vector<std::string> kLabels{"_silence_", "_unknown_", "yes", "no"};
constexpr int32_t kIgnore = -1;

// A clip of 20 frames x 3 values whose frame level (row mean) is levels[t].
MatrixF ClipWithLevels(const std::vector<float>& levels) {
  MatrixF m(static_cast<Eigen::Index>(levels.size()), 3);
  for (size_t t = 0; t < levels.size(); ++t) {
    // Values differ per column but average to the level.
    m.row(static_cast<Eigen::Index>(t)) << levels[t] - 1.0f, levels[t], levels[t] + 1.0f;
  }
  return m;
}

// 4 quiet frames (level -1), 2 rising (0, 0.5: between), 8 loud (level 2), 2 falling (0.2), 4 quiet.
// Sorted: ten values <= 0.2 ... 10th percentile (rank 2) = -1, 95th (rank 19) = 2: speech from 0.5,
// quiet up to -0.25.
std::vector<float> Levels() {
  return {-1, -1, -1, -1, 0, 0.5f, 2, 2, 2, 2, 2, 2, 2, 2, 0.2f, 0.2f, -1, -1, -1, -1};
}

std::vector<int32_t> Fill(const FrameTargetRule& rule, const MatrixF& clip, int32_t label) {
  std::vector<int32_t> out(static_cast<size_t>(clip.rows()), 99);
  rule.Fill(clip, label, out);
  return out;
}

TEST_CASE("frame targets speech: loud frames the keyword, quiet frames _silence_, the rest ignored",
          "[pipeline][training][frame-targets]") {
  const auto rule = FrameTargetRule::ForLabels(kLabels, FrameTargets::kSpeech, kIgnore);
  CHECK(rule.SilenceLabel() == 0);
  const std::vector<int32_t> expected{0, 0, 0, 0, -1, 2, 2, 2, 2, 2, 2, 2, 2, 2, -1, -1, 0, 0, 0, 0};
  CHECK(Fill(rule, ClipWithLevels(Levels()), 2) == expected);
}

TEST_CASE("frame targets speech: filler clips keep their label on every frame", "[pipeline][training][frame-targets]") {
  const auto rule = FrameTargetRule::ForLabels(kLabels, FrameTargets::kSpeech, kIgnore);
  CHECK(Fill(rule, ClipWithLevels(Levels()), 1) == std::vector<int32_t>(20, 1));
  CHECK(Fill(rule, ClipWithLevels(Levels()), 0) == std::vector<int32_t>(20, 0));
}

TEST_CASE("frame targets speech: without _silence_ the quiet frames are ignored, a flat clip keeps its label",
          "[pipeline][training][frame-targets]") {
  const auto rule = FrameTargetRule::ForLabels({"jarvis", "_unknown_"}, FrameTargets::kSpeech, -100);
  CHECK(rule.SilenceLabel() == -1);
  const std::vector<int32_t> out = Fill(rule, ClipWithLevels(Levels()), 0);
  CHECK(out[0] == -100);
  CHECK(out[4] == -100);
  CHECK(out[6] == 0);
  CHECK(out[19] == -100);
  // Levels within kMinLevelRange of each other: no speech/quiet split is trusted.
  const auto flat = FrameTargetRule::ForLabels(kLabels, FrameTargets::kSpeech, kIgnore);
  CHECK(Fill(flat, ClipWithLevels(std::vector<float>(10, 0.3f)), 3) == std::vector<int32_t>(10, 3));
  CHECK(Fill(flat, ClipWithLevels({0.0f, 0.1f, 0.2f, 0.1f}), 3) == std::vector<int32_t>(4, 3));
}

TEST_CASE("frame targets speech: digital silence at the edges is quiet and stays out of the levels",
          "[pipeline][training][frame-targets]") {
  const auto rule = FrameTargetRule::ForLabels(kLabels, FrameTargets::kSpeech, kIgnore);
  // Levels() with 6 frames of digital silence (level -10) before it and 4 after.
  std::vector<float> padded(6, -10.0f);
  for (float l : Levels()) padded.push_back(l);
  padded.insert(padded.end(), 4, -10.0f);
  const MatrixF clip = ClipWithLevels(padded);
  // Told nothing, the rule measures from the silence (10th percentile -10, speech from -4), and the clip's
  // quiet frames (-1) count as the keyword.
  std::vector<int32_t> blind = Fill(rule, clip, 2);
  CHECK(blind[6] == 2);
  CHECK(blind[0] == 0);
  // Told where the zeros are: those frames are _silence_, the rest exactly as without the padding.
  std::vector<int32_t> out(padded.size(), 99);
  rule.Fill(clip, 2, out, 6, 4);
  std::vector<int32_t> expected(6, 0);
  for (int32_t v : std::vector<int32_t>{0, 0, 0, 0, -1, 2, 2, 2, 2, 2, 2, 2, 2, 2, -1, -1, 0, 0, 0, 0}) expected.push_back(v);
  expected.insert(expected.end(), 4, 0);
  CHECK(out == expected);
  // A filler clip keeps its label everywhere; padding counts larger than the clip are clamped.
  std::vector<int32_t> filler(padded.size(), 99);
  rule.Fill(clip, 1, filler, 6, 4);
  CHECK(filler == std::vector<int32_t>(padded.size(), 1));
  std::vector<int32_t> all(padded.size(), 99);
  rule.Fill(clip, 2, all, 100, 100);
  CHECK(all == std::vector<int32_t>(padded.size(), 0));
}

TEST_CASE("frame targets clip: every frame carries the clip's label", "[pipeline][training][frame-targets]") {
  const auto rule = FrameTargetRule::ForLabels(kLabels, FrameTargets::kClip, kIgnore);
  CHECK(Fill(rule, ClipWithLevels(Levels()), 2) == std::vector<int32_t>(20, 2));
  std::vector<int32_t> wrong(3);
  CHECK_THROWS_AS(rule.Fill(ClipWithLevels(Levels()), 2, wrong), std::invalid_argument);
}

TEST_CASE("frame targets decisions: summed log-probabilities (clip), peak keyword else filler (speech)",
          "[pipeline][training][frame-targets]") {
  // 4 frames: mostly _silence_, one frame where "no" has posterior 0.6.
  auto lp = [](std::vector<std::vector<float>> p) {
    MatrixF m(static_cast<Eigen::Index>(p.size()), 4);
    for (size_t t = 0; t < p.size(); ++t)
      for (size_t c = 0; c < 4; ++c) m(static_cast<Eigen::Index>(t), static_cast<Eigen::Index>(c)) = std::log(p[t][c]);
    return m;
  };
  const MatrixF one_peak = lp({{0.7f, 0.1f, 0.1f, 0.1f},
                               {0.7f, 0.1f, 0.1f, 0.1f},
                               {0.1f, 0.2f, 0.1f, 0.6f},
                               {0.7f, 0.1f, 0.1f, 0.1f}});
  CHECK(FrameTargetRule::ForLabels(kLabels, FrameTargets::kClip, kIgnore).Decide(one_peak) == 0);
  const auto speech = FrameTargetRule::ForLabels(kLabels, FrameTargets::kSpeech, kIgnore);
  CHECK(speech.Decide(one_peak) == 3);
  // Below 0.5 the filler with the largest summed log-probability wins (_unknown_ here).
  const MatrixF weak = lp({{0.2f, 0.5f, 0.2f, 0.1f},
                           {0.2f, 0.5f, 0.2f, 0.1f},
                           {0.1f, 0.4f, 0.1f, 0.4f},
                           {0.3f, 0.4f, 0.2f, 0.1f}});
  CHECK(speech.Decide(weak) == 1);
}

}  // namespace
}  // namespace ossicle
