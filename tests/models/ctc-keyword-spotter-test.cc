// Keywords given as text and spotted in CTC posteriors: one hit per occurrence at the right frames, the
// score against a brute-force sum over alignments, thresholds, suppression, CTC's repeat rule, chunking.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <stdexcept>

#include "features/errors.h"
#include "models/ctc-keyword-spotter.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

constexpr double kSpotterShift = 0.02;
const std::vector<std::string> kSpotterTokens = {"<blank>", "|", "e", "n", "o", "s", "y"};

int SpotterId(char c) {
  if (c == '_') return 0;
  for (size_t i = 1; i < kSpotterTokens.size(); ++i) {
    if (kSpotterTokens[i][0] == c) return static_cast<int>(i);
  }
  throw std::logic_error("no token");
}

// One frame per character ('_' = blank): that token at `peak`, the others share the rest.
MatrixF SpotterPathPosteriors(const std::string& path, float peak = 0.8f) {
  const auto n = static_cast<Eigen::Index>(kSpotterTokens.size());
  MatrixF p = MatrixF::Constant(static_cast<Eigen::Index>(path.size()), n, (1.0f - peak) / static_cast<float>(n - 1));
  for (size_t f = 0; f < path.size(); ++f) p(static_cast<Eigen::Index>(f), SpotterId(path[f])) = peak;
  return p.array().log().matrix();
}

std::vector<KeywordHit> SpotAll(const CtcKeywordSpotterConfig& config, const MatrixF& lp) {
  CtcKeywordSpotter s(config, kSpotterTokens, kSpotterShift);
  std::vector<KeywordHit> hits = s.AcceptFrames(lp, 0);
  for (KeywordHit& h : s.InputFinished()) hits.push_back(h);
  return hits;
}

CtcKeywordSpotterConfig Keywords(const std::string& keywords) {
  CtcKeywordSpotterConfig c;
  c.keywords = keywords;
  return c;
}

// P(window reads exactly `label`, first frame on label[0], last frame on label.back()) by enumerating
// every alignment of the window's frames.
double BruteForceWindow(const MatrixF& lp, int64_t first, int64_t last, const std::vector<int>& label) {
  const int T = static_cast<int>(last - first + 1), V = static_cast<int>(lp.cols());
  std::vector<int> path(static_cast<size_t>(T), 0);
  double total = 0.0;
  while (true) {
    if (path.front() == label.front() && path.back() == label.back()) {
      std::vector<int> collapsed;
      int prev = 0;
      double logp = 0.0;
      for (int t = 0; t < T; ++t) {
        const int s = path[static_cast<size_t>(t)];
        logp += static_cast<double>(lp(first + t, s));
        if (s != 0 && s != prev) collapsed.push_back(s);
        prev = s;
      }
      if (collapsed == label) total += std::exp(logp);
    }
    int i = 0;
    while (i < T && ++path[static_cast<size_t>(i)] == V) path[static_cast<size_t>(i++)] = 0;
    if (i == T) break;
  }
  return total;
}

TEST_CASE("a keyword spoken once gives one hit over its frames", "[models][ctc_kws]") {
  //                                       0123456789012
  const MatrixF lp = SpotterPathPosteriors("___y__e_s____");
  const std::vector<KeywordHit> hits = SpotAll(Keywords("yes"), lp);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].keyword == "yes");
  CHECK(hits[0].start_s == Approx(3 * kSpotterShift));
  CHECK(hits[0].end_s == Approx(9 * kSpotterShift));
  // The score is the per-token geometric mean of the window's CTC probability.
  const double p = BruteForceWindow(lp, 3, 8, {SpotterId('y'), SpotterId('e'), SpotterId('s')});
  CHECK(p > std::pow(0.8, 6));  // more than the one obvious alignment
  CHECK(hits[0].score == Approx(std::cbrt(p)).epsilon(1e-6));
}

TEST_CASE("CTC keyword scores match brute force on random posteriors", "[models][ctc_kws]") {
  // Every window of a short random sequence: the spotter's best window score, recomputed by enumeration.
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0.0f, 2.0f);
  MatrixF lp(7, static_cast<Eigen::Index>(kSpotterTokens.size()));
  for (Eigen::Index i = 0; i < lp.size(); ++i) lp.data()[i] = d(rng);
  for (Eigen::Index r = 0; r < lp.rows(); ++r) {
    const float m = lp.row(r).maxCoeff();
    lp.row(r).array() -= m + std::log((lp.row(r).array() - m).exp().sum());
  }
  const std::vector<int> label = {SpotterId('n'), SpotterId('o')};
  double best = 0.0;
  for (int64_t first = 0; first < 7; ++first) {
    for (int64_t last = first + 1; last < 7; ++last) best = std::max(best, BruteForceWindow(lp, first, last, label));
  }
  CtcKeywordSpotterConfig c = Keywords("no");
  c.threshold = 0.01;  // low enough for a hit: its score is the best window's
  c.suppression_ms = 0;
  double top = 0.0;
  for (const KeywordHit& h : SpotAll(c, lp)) top = std::max(top, h.score);
  CHECK(top == Approx(std::sqrt(best)).epsilon(1e-6));
}

TEST_CASE("a keyword that is not said gives no hit, thresholds per keyword", "[models][ctc_kws]") {
  const MatrixF lp = SpotterPathPosteriors("___y__e_s____");
  CHECK(SpotAll(Keywords("no"), lp).empty());
  CHECK(SpotAll(Keywords("yeses"), lp).empty());
  CtcKeywordSpotterConfig c = Keywords("yes,no");
  c.keyword_thresholds = "yes=0.9";
  CHECK(SpotAll(c, lp).empty());
  c.keyword_thresholds = "yes=0.6";
  CHECK(SpotAll(c, lp).size() == 1);
}

TEST_CASE("CTC's repeat rule: a doubled letter needs a blank in between", "[models][ctc_kws]") {
  CHECK(SpotAll(Keywords("noon"), SpotterPathPosteriors("__n_o_o_n__")).size() == 1);
  CHECK(SpotAll(Keywords("noon"), SpotterPathPosteriors("__n_ooo_n__")).empty());  // reads "non"
  CHECK(SpotAll(Keywords("non"), SpotterPathPosteriors("__n_ooo_n__")).size() == 1);
}

TEST_CASE("keywords of several words use the word separator", "[models][ctc_kws]") {
  //                                                    0123456789012345
  const std::vector<KeywordHit> hits = SpotAll(Keywords("no yes"), SpotterPathPosteriors("__n_o_|_y_e_s___"));
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].keyword == "no yes");
  CHECK(hits[0].start_s == Approx(2 * kSpotterShift));
  CHECK(hits[0].end_s == Approx(13 * kSpotterShift));
}

TEST_CASE("CTC keywords: suppression and maximum duration", "[models][ctc_kws]") {
  // "yes" twice, 10 frames (0.2 s) apart.
  const MatrixF close = SpotterPathPosteriors("__y_e_s_____y_e_s___");
  CtcKeywordSpotterConfig c = Keywords("yes");
  CHECK(SpotAll(c, close).size() == 1);
  c.suppression_ms = 100;
  const std::vector<KeywordHit> two = SpotAll(c, close);
  REQUIRE(two.size() == 2);
  CHECK(two[1].start_s == Approx(12 * kSpotterShift));

  // Spoken slowly: the window spans 13 frames = 0.26 s.
  const MatrixF slow = SpotterPathPosteriors("__y_____e_____s__", 0.9f);
  c.max_duration_ms = 300;
  CHECK(SpotAll(c, slow).size() == 1);
  c.max_duration_ms = 200;
  CHECK(SpotAll(c, slow).empty());
}

TEST_CASE("CTC keywords: any chunking gives the same hits", "[models][ctc_kws][streaming]") {
  std::mt19937 rng(3);
  std::string path;
  const char* words[] = {"y_e_s", "n_o", "s_e_e", "o_n_e_s"};
  std::uniform_int_distribution<int> pick(0, 3), pause(2, 30);
  while (path.size() < 600) path += std::string(static_cast<size_t>(pause(rng)), '_') + words[pick(rng)];
  MatrixF lp = SpotterPathPosteriors(path, 0.7f);
  std::normal_distribution<float> noise(0.0f, 0.4f);
  for (Eigen::Index i = 0; i < lp.size(); ++i) lp.data()[i] += noise(rng);
  for (Eigen::Index r = 0; r < lp.rows(); ++r) {
    const float m = lp.row(r).maxCoeff();
    lp.row(r).array() -= m + std::log((lp.row(r).array() - m).exp().sum());
  }
  CtcKeywordSpotterConfig c = Keywords("yes,no,ones");
  c.threshold = 0.3;
  c.suppression_ms = 200;
  const std::vector<KeywordHit> whole = SpotAll(c, lp);
  CHECK(whole.size() >= 10);
  for (uint32_t seed : {1u, 2u}) {
    for (int max_chunk : {1, 9, 100}) {
      INFO("seed " << seed << ", chunks up to " << max_chunk);
      CtcKeywordSpotter s(c, kSpotterTokens, kSpotterShift);
      std::mt19937 chunk_rng(seed);
      std::uniform_int_distribution<int> len(0, max_chunk);
      std::vector<KeywordHit> hits;
      for (int64_t pos = 0; pos < lp.rows();) {
        const int64_t n = std::min<int64_t>(len(chunk_rng), lp.rows() - pos);
        const MatrixF chunk = lp.middleRows(pos, n);
        for (KeywordHit& h : s.AcceptFrames(chunk, pos)) hits.push_back(h);
        pos += n;
      }
      for (KeywordHit& h : s.InputFinished()) hits.push_back(h);
      REQUIRE(hits.size() == whole.size());
      for (size_t i = 0; i < hits.size(); ++i) {
        CHECK(hits[i].keyword == whole[i].keyword);
        CHECK(hits[i].start_s == whole[i].start_s);
        CHECK(hits[i].end_s == whole[i].end_s);
        CHECK(hits[i].score == whole[i].score);
      }
    }
  }
}

TEST_CASE("a gap ends the windows, times stay absolute", "[models][ctc_kws]") {
  CtcKeywordSpotter s(Keywords("yes"), kSpotterTokens, kSpotterShift);
  // "y_e" then a gap, then "s": the keyword must not be found across the gap.
  CHECK(s.AcceptFrames(SpotterPathPosteriors("__y_e"), 0).empty());
  CHECK(s.AcceptFrames(SpotterPathPosteriors("s___"), 100).empty());
  CHECK(s.InputFinished().empty());
  std::vector<KeywordHit> hits = s.AcceptFrames(SpotterPathPosteriors("__y_e_s__"), 500);
  for (KeywordHit& h : s.InputFinished()) hits.push_back(h);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].start_s == Approx(502 * kSpotterShift));
  s.Reset();
  CHECK(s.NumFramesAccepted() == 0);
  CHECK(s.KeywordTokens() == std::vector<std::vector<int>>{{SpotterId('y'), SpotterId('e'), SpotterId('s')}});
}

TEST_CASE("CTC keyword spotter errors name the field", "[models][ctc_kws][errors]") {
  const auto make = [](const CtcKeywordSpotterConfig& c) { CtcKeywordSpotter s(c, kSpotterTokens, kSpotterShift); };
  CHECK_THROWS_MATCHES(make(Keywords("")), ConfigError, HasMessage("expected at least one keyword", "ctc_keywords.keywords"));
  CHECK_THROWS_MATCHES(make(Keywords("yes,,no")), ConfigError, HasMessage("an empty keyword", "ctc_keywords.keywords"));
  CHECK_THROWS_MATCHES(make(Keywords("yes,yes")), ConfigError, HasMessage("'yes' given twice", "ctc_keywords.keywords"));
  CHECK_THROWS_MATCHES(make(Keywords("maybe")), ConfigError,
                       HasMessage("'maybe' cannot be spelled with the model's tokens", "ctc_keywords.keywords"));
  CtcKeywordSpotterConfig c = Keywords("yes");
  c.keyword_thresholds = "no=0.5";
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("'no' is not one of the keywords", "ctc_keywords.keyword_thresholds"));
  c = Keywords("yes");
  c.threshold = 1.5;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("threshold = 1.5; expected in (0, 1]", "ctc_keywords."));
  c = Keywords("yes");
  c.min_duration_ms = 500;
  c.max_duration_ms = 400;
  CHECK_THROWS_MATCHES(make(c), ConfigError,
                       HasMessage("max_duration_ms = 400; expected > 0 and >= min_duration_ms", "ctc_keywords."));
  c = Keywords("yes");
  c.blank_index = 9;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("blank_index = 9; expected in [0, 7)", "ctc_keywords."));
  c = Keywords("yes");
  c.suppression_ms = -1;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("suppression_ms = -1; expected >= 0", "ctc_keywords."));
  CtcKeywordSpotter s(Keywords("yes"), kSpotterTokens, kSpotterShift);
  CHECK_THROWS_MATCHES(s.AcceptFrames(MatrixF::Constant(2, 3, -1.0f), 0), ModelFormatError,
                       HasMessage("have 3 columns; expected 7"));
}

}  // namespace
}  // namespace ossicle
