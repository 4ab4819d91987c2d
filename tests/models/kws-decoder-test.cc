// Behaviour of the keyword decoder on hand-made posteriors, in the manner of tflite-micro's
// RecognizeCommands tests: one keyword spoken once gives exactly one hit at the right time, a score below
// the threshold gives none, suppression is honoured, and any chunking gives the same hits.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <stdexcept>

#include "features/errors.h"
#include "models/kws-decoder.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

constexpr double kKwsShift = 0.010;
const std::vector<std::string> kLabels = {"_silence_", "_unknown_", "yes", "no", "hey", "ossicle"};

// Posteriors [frames, labels]: silence at 1 - 5 * 0.02 and every other label at 0.02, except in the
// given blocks, where `label` has probability `height` and the rest is shared by the other labels.
struct Block {
  int label;
  int64_t first, last;  // frames, inclusive
  float height;
};
MatrixF Posteriors(int64_t frames, const std::vector<Block>& blocks) {
  const auto n = static_cast<Eigen::Index>(kLabels.size());
  MatrixF p = MatrixF::Constant(frames, n, 0.02f);
  p.col(0).setConstant(1.0f - 0.02f * static_cast<float>(n - 1));
  for (const Block& b : blocks) {
    for (int64_t f = b.first; f <= b.last; ++f) {
      p.row(f).setConstant((1.0f - b.height) / static_cast<float>(n - 1));
      p(f, b.label) = b.height;
    }
  }
  return p.array().log().matrix();
}

std::vector<KeywordHit> DecodeHits(const KwsDecoderConfig& config, const MatrixF& log_probs) {
  KwsDecoder d(config, kLabels, kKwsShift);
  std::vector<KeywordHit> hits = d.AcceptFrames(log_probs, 0);
  for (KeywordHit& h : d.InputFinished()) hits.push_back(h);
  return hits;
}

std::vector<KeywordHit> DecodeHitsChunked(const KwsDecoderConfig& config, const MatrixF& log_probs, int max_chunk,
                                      uint32_t seed) {
  KwsDecoder d(config, kLabels, kKwsShift);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> len(0, max_chunk);
  std::vector<KeywordHit> hits;
  for (int64_t pos = 0; pos < log_probs.rows();) {
    const int64_t n = std::min<int64_t>(len(rng), log_probs.rows() - pos);
    const MatrixF chunk = log_probs.middleRows(pos, n);
    for (KeywordHit& h : d.AcceptFrames(chunk, pos)) hits.push_back(h);
    pos += n;
  }
  for (KeywordHit& h : d.InputFinished()) hits.push_back(h);
  return hits;
}

void RequireSameHits(const std::vector<KeywordHit>& a, const std::vector<KeywordHit>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("hit " << i);
    CHECK(a[i].keyword == b[i].keyword);
    CHECK(a[i].start_s == b[i].start_s);
    CHECK(a[i].end_s == b[i].end_s);
    CHECK(a[i].score == b[i].score);
  }
}

TEST_CASE("one keyword spoken once gives exactly one hit at its time", "[models][kws]") {
  // "yes" on frames 100..129 (1.00 s to 1.30 s) at 0.9.
  const MatrixF lp = Posteriors(300, {{2, 100, 129, 0.9f}});
  const std::vector<KeywordHit> hits = DecodeHits(KwsDecoderConfig{}, lp);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].keyword == "yes");
  // The span edges come from the raw posteriors (0.9 >= 0.25 = span_fraction * threshold, 0.02 < 0.25).
  CHECK(hits[0].start_s == Approx(1.00).margin(1e-9));
  CHECK(hits[0].end_s == Approx(1.30).margin(1e-9));
  // 10-frame smoothing inside a 30-frame block reaches the full height.
  CHECK(hits[0].score == Approx(0.9).epsilon(1e-6));
}

TEST_CASE("a keyword held for a second still gives one hit", "[models][kws]") {
  // tflite-micro's test feeds the same "yes" result every 100 ms; here "yes" is high for 1 s.
  const MatrixF lp = Posteriors(400, {{2, 50, 149, 0.95f}});
  const std::vector<KeywordHit> hits = DecodeHits(KwsDecoderConfig{}, lp);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].start_s == Approx(0.50).margin(1e-9));
  CHECK(hits[0].end_s == Approx(1.50).margin(1e-9));
}

TEST_CASE("a score below the threshold gives no hit", "[models][kws]") {
  const MatrixF lp = Posteriors(300, {{2, 100, 129, 0.45f}});
  KwsDecoderConfig config;
  config.threshold = 0.5;
  CHECK(DecodeHits(config, lp).empty());
  config.threshold = 0.44;
  CHECK(DecodeHits(config, lp).size() == 1);
}

TEST_CASE("per-keyword thresholds override the common one", "[models][kws]") {
  const MatrixF lp = Posteriors(500, {{2, 100, 129, 0.9f}, {3, 300, 329, 0.9f}});
  KwsDecoderConfig config;
  config.keyword_thresholds = "yes=0.95";
  const std::vector<KeywordHit> hits = DecodeHits(config, lp);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].keyword == "no");
  CHECK(hits[0].start_s == Approx(3.00).margin(1e-9));
}

TEST_CASE("suppression: closer than suppression_ms gives one hit, farther gives two", "[models][kws]") {
  KwsDecoderConfig config;
  config.suppression_ms = 1000.0;
  // Triggers 0.85 s apart: the second "yes" starts after the first event has ended (window_ms after the
  // first block's smoothed posterior fell), so only suppression can remove it.
  const MatrixF close = Posteriors(500, {{2, 100, 129, 0.9f}, {2, 185, 214, 0.9f}});
  const std::vector<KeywordHit> one = DecodeHits(config, close);
  REQUIRE(one.size() == 1);
  CHECK(one[0].start_s == Approx(1.00).margin(1e-9));

  KwsDecoderConfig no_suppression = config;
  no_suppression.suppression_ms = 0.0;
  const std::vector<KeywordHit> both = DecodeHits(no_suppression, close);
  REQUIRE(both.size() == 2);
  CHECK(both[1].start_s == Approx(1.85).margin(1e-9));

  // Triggers 2 s apart.
  const MatrixF far = Posteriors(600, {{2, 100, 129, 0.9f}, {2, 300, 329, 0.9f}});
  const std::vector<KeywordHit> two = DecodeHits(config, far);
  REQUIRE(two.size() == 2);
  CHECK(two[0].start_s == Approx(1.00).margin(1e-9));
  CHECK(two[1].start_s == Approx(3.00).margin(1e-9));
}

TEST_CASE("suppression scope: per keyword or across keywords", "[models][kws]") {
  const MatrixF lp = Posteriors(500, {{2, 100, 129, 0.9f}, {3, 185, 214, 0.9f}});
  KwsDecoderConfig config;
  CHECK(DecodeHits(config, lp).size() == 2);  // "no" is not suppressed by "yes"
  config.suppression_scope = SuppressionScope::kAll;
  const std::vector<KeywordHit> hits = DecodeHits(config, lp);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].keyword == "yes");
}

TEST_CASE("minimum duration drops short spikes", "[models][kws]") {
  // 6 frames at 1.0: the smoothed posterior peaks at 0.6 (6 of 10 frames), the span is 60 ms.
  MatrixF lp = Posteriors(200, {});
  lp.block(100, 0, 6, lp.cols()).setConstant(-std::numeric_limits<float>::infinity());
  lp.block(100, 2, 6, 1).setZero();
  KwsDecoderConfig config;
  config.min_duration_ms = 50.0;
  const std::vector<KeywordHit> hits = DecodeHits(config, lp);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].end_s - hits[0].start_s == Approx(0.06).margin(1e-9));
  CHECK(hits[0].score == Approx((6 * 1.0 + 4 * 0.02) / 10).epsilon(1e-6));  // 6 frames at 1, 4 at 0.02
  config.min_duration_ms = 100.0;
  CHECK(DecodeHits(config, lp).empty());
}

TEST_CASE("a multi-unit keyword needs all of its units (Chen et al.'s confidence)", "[models][kws]") {
  KwsDecoderConfig config;
  config.keywords = "hey ossicle=hey+ossicle";
  // "hey" on 100..119, "ossicle" on 125..154: both within one 500 ms window.
  const MatrixF both = Posteriors(400, {{4, 100, 119, 0.8f}, {5, 125, 154, 0.9f}});
  const std::vector<KeywordHit> hits = DecodeHits(config, both);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].keyword == "hey ossicle");
  CHECK(hits[0].score == Approx(std::sqrt(0.8 * 0.9)).epsilon(1e-6));
  CHECK(hits[0].start_s == Approx(1.00).margin(1e-9));
  CHECK(hits[0].end_s == Approx(1.55).margin(1e-9));
  // "ossicle" alone: sqrt(0.9 * 0.02) = 0.13 < 0.5.
  CHECK(DecodeHits(config, Posteriors(400, {{5, 125, 154, 0.9f}})).empty());
}

TEST_CASE("any chunking gives the same hits as one call", "[models][kws][streaming]") {
  // Noisy posteriors with several keywords, some close together, some weak.
  std::mt19937 rng(7);
  std::vector<Block> blocks;
  std::uniform_int_distribution<int> label(2, 3), length(5, 60);
  std::uniform_real_distribution<float> height(0.3f, 0.99f);
  for (int64_t f = 20; f < 1900; f += std::uniform_int_distribution<int64_t>(40, 250)(rng)) {
    blocks.push_back({label(rng), f, f + length(rng), height(rng)});
  }
  MatrixF lp = Posteriors(2000, blocks);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  for (Eigen::Index i = 0; i < lp.size(); ++i) lp.data()[i] += noise(rng);
  for (Eigen::Index r = 0; r < lp.rows(); ++r) {  // renormalise to log-probabilities
    const float m = lp.row(r).maxCoeff();
    lp.row(r).array() -= m + std::log((lp.row(r).array() - m).exp().sum());
  }
  KwsDecoderConfig config;
  config.suppression_ms = 300.0;
  config.max_event_ms = 400.0;  // long events are cut too
  const std::vector<KeywordHit> whole = DecodeHits(config, lp);
  CHECK(whole.size() >= 4);
  for (uint32_t seed : {1u, 2u, 3u}) {
    for (int max_chunk : {1, 7, 130}) {
      INFO("seed " << seed << ", chunks up to " << max_chunk << " frames");
      RequireSameHits(whole, DecodeHitsChunked(config, lp, max_chunk, seed));
    }
  }
}

TEST_CASE("reset then rerun equals a fresh decoder, times follow absolute frame indices", "[models][kws]") {
  const MatrixF lp = Posteriors(300, {{3, 100, 129, 0.9f}});
  KwsDecoder d(KwsDecoderConfig{}, kLabels, kKwsShift);
  const std::vector<KeywordHit> first = d.AcceptFrames(lp, 0);
  const std::vector<KeywordHit> first_end = d.InputFinished();
  d.Reset();
  CHECK(d.NumFramesAccepted() == 0);
  std::vector<KeywordHit> again = d.AcceptFrames(lp, 0);
  for (KeywordHit& h : d.InputFinished()) again.push_back(h);
  std::vector<KeywordHit> fresh = first;
  fresh.insert(fresh.end(), first_end.begin(), first_end.end());
  RequireSameHits(fresh, again);

  // The same posteriors after a gap, starting at frame 5000: the hit moves by 50 s.
  KwsDecoder gap(KwsDecoderConfig{}, kLabels, kKwsShift);
  gap.AcceptFrames(Posteriors(10, {}), 0);
  std::vector<KeywordHit> later = gap.AcceptFrames(lp, 5000);
  for (KeywordHit& h : gap.InputFinished()) later.push_back(h);
  REQUIRE(later.size() == 1);
  CHECK(later[0].start_s == Approx(51.00).margin(1e-9));
  CHECK(gap.NumFramesAccepted() == 5300);
}

TEST_CASE("default keywords are the non-filler labels", "[models][kws]") {
  KwsDecoder d(KwsDecoderConfig{}, kLabels, kKwsShift);
  CHECK(d.Keywords() == std::vector<std::string>{"yes", "no", "hey", "ossicle"});
  KwsDecoderConfig config;
  config.keywords = "no, yes";
  config.keyword_thresholds = "yes=0.7";
  KwsDecoder e(config, kLabels, kKwsShift);
  CHECK(e.Keywords() == std::vector<std::string>{"no", "yes"});
  CHECK(e.Threshold(0) == 0.5);
  CHECK(e.Threshold(1) == 0.7);
}

TEST_CASE("keyword decoder configuration errors name the field", "[models][kws][errors]") {
  const auto make = [](const KwsDecoderConfig& c) { KwsDecoder d(c, kLabels, kKwsShift); };
  KwsDecoderConfig c;
  c.threshold = 0.0;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("threshold = 0; expected in (0, 1]", "kws."));
  c = {};
  c.smoothing_ms = -1;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("smoothing_ms = -1; expected > 0", "kws."));
  c = {};
  c.window_ms = 0;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("window_ms = 0; expected > 0", "kws."));
  c = {};
  c.min_duration_ms = -5;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("min_duration_ms = -5; expected >= 0", "kws."));
  c = {};
  c.suppression_ms = std::nan("");
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("suppression_ms = nan; expected >= 0", "kws."));
  c = {};
  c.span_fraction = 1.5;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("span_fraction = 1.5; expected in (0, 1]", "kws."));
  c = {};
  c.max_event_ms = 0;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("max_event_ms = 0; expected > 0", "kws."));
  c = {};
  c.keywords = "yess";
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("'yess' is not a label of the model", "kws.keywords"));
  c.keywords = "yes,,no";
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("an empty keyword", "kws.keywords"));
  c.keywords = "yes,yes";
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("'yes' given twice", "kws.keywords"));
  c.keywords = "x=hey+";
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("has an empty unit", "kws.keywords"));
  c.keywords = "_silence_";
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("'_silence_' is a filler label", "kws.keywords"));
  c = {};
  c.keyword_thresholds = "maybe=0.5";
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("'maybe' is not a keyword", "kws.keyword_thresholds"));
  c.keyword_thresholds = "yes=2";
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("values in (0, 1]", "kws.keyword_thresholds"));
  c.keyword_thresholds = "yes";
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("has no '='", "kws.keyword_thresholds"));
  CHECK_THROWS_MATCHES(KwsDecoder(KwsDecoderConfig{}, {"_silence_", "_unknown_"}, kKwsShift), ConfigError,
                       HasMessage("every label of the model is a filler label", "kws.keywords"));
  CHECK_THROWS_MATCHES(KwsDecoder(KwsDecoderConfig{}, kLabels, 0.0), ConfigError, HasMessage("expected > 0", "kws"));
  // A CTC model's labels (blank first): its outputs are not keyword classes, so it is refused.
  CHECK_THROWS_MATCHES(KwsDecoder(KwsDecoderConfig{}, {"<blank>", " ", "g", "o"}, kKwsShift), ConfigError,
                       HasMessage("the model's first label is <blank>: a CTC model", "kws"));
  // The stage's own key path is used when given.
  c = {};
  c.threshold = 2;
  CHECK_THROWS_MATCHES(KwsDecoder(c, kLabels, kKwsShift, "stages.spot.options"), ConfigError,
                       HasMessage("threshold = 2", "stages.spot.options.threshold"));
}

TEST_CASE("keyword decoder input errors", "[models][kws][errors]") {
  KwsDecoder d(KwsDecoderConfig{}, kLabels, kKwsShift);
  CHECK_THROWS_MATCHES(d.AcceptFrames(MatrixF::Constant(3, 4, -1.0f), 0), ModelFormatError,
                       HasMessage("have 4 columns; expected 6 (the labels)"));
  MatrixF bad = Posteriors(5, {});
  bad(3, 2) = std::nanf("");
  CHECK_THROWS_MATCHES(d.AcceptFrames(bad, 0), ModelFormatError, HasMessage("frame 3, column 2 is nan"));
  MatrixF probs = Posteriors(5, {}).array().exp().matrix();
  probs.array() += 0.5f;  // probabilities, not log-probabilities
  CHECK_THROWS_MATCHES(d.AcceptFrames(probs, 0), ModelFormatError, HasMessage("expected log-probabilities"));
  d.AcceptFrames(Posteriors(5, {}), 0);
  CHECK_THROWS_AS(d.AcceptFrames(Posteriors(5, {}), 3), std::invalid_argument);
}

}  // namespace
}  // namespace ossicle
