#include "models/ctc-keyword-spotter.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "features/errors.h"
#include "models/decoder-support.h"

namespace ossicle {

namespace {

std::vector<std::string> ParseKeywordTexts(const std::string& text, std::string_view path) {
  std::vector<std::string> out;
  for (const std::string& item : SplitList(text)) {
    if (item.empty()) {
      throw ConfigError(RuleMessage(path, "keywords", "\"" + text + "\"", "comma-separated keywords (an empty keyword)"));
    }
    if (std::find(out.begin(), out.end(), item) != out.end()) {
      throw ConfigError(RuleMessage(path, "keywords", "\"" + text + "\"",
                                    "comma-separated keywords ('" + item + "' given twice)"));
    }
    out.push_back(item);
  }
  if (out.empty()) throw ConfigError(RuleMessage(path, "keywords", "\"" + text + "\"", "at least one keyword"));
  return out;
}

// One keyword: its CTC states and a forward pass per start frame of the sliding window.
struct KeywordSearch {
  std::string name;
  std::vector<int> tokens;  // y_1..y_L
  double threshold = 0.5;
  double log_bound = 0.0;  // L * log(threshold): a window whose mass falls below can never score a hit
  // States: 2i holds token y_(i+1), 2i+1 the blank between y_(i+1) and y_(i+2); 2L - 1 states in all.
  std::vector<int> state_label;
  std::vector<char> skip_allowed;  // state k may be entered from k - 2
  // Forward variables of every start frame s, in slot s % capacity: [capacity * num_states].
  std::vector<double> alpha;
  std::vector<char> alive;
  ScoreRun run;

  int NumStates() const { return static_cast<int>(state_label.size()); }
};

}  // namespace

void CtcKeywordSpotterConfig::Validate(std::string_view path) const {
  ParseKeywordTexts(keywords, path);
  ParseThresholds(keyword_thresholds, path, "keyword_thresholds");
  if (!(threshold > 0.0 && threshold <= 1.0)) throw ConfigError(RuleMessage(path, "threshold", threshold, "in (0, 1]"));
  if (blank_index < 0) throw ConfigError(RuleMessage(path, "blank_index", blank_index, ">= 0"));
  if (!std::isfinite(min_duration_ms) || min_duration_ms < 0.0) {
    throw ConfigError(RuleMessage(path, "min_duration_ms", min_duration_ms, ">= 0"));
  }
  if (!std::isfinite(max_duration_ms) || max_duration_ms <= 0.0 || max_duration_ms < min_duration_ms) {
    throw ConfigError(RuleMessage(path, "max_duration_ms", max_duration_ms, "> 0 and >= min_duration_ms"));
  }
  // A window's forward variables cost 8 bytes per state per frame; 60 s (6000 frames at 10 ms) is far
  // beyond any keyword and still small.
  if (max_duration_ms > 60000.0) throw ConfigError(RuleMessage(path, "max_duration_ms", max_duration_ms, "<= 60000"));
  if (!std::isfinite(suppression_ms) || suppression_ms < 0.0) {
    throw ConfigError(RuleMessage(path, "suppression_ms", suppression_ms, ">= 0"));
  }
}

struct CtcKeywordSpotter::Impl {
  Impl(CtcTokenSet token_set, double frame_shift_s) : set(std::move(token_set)), shift_s(frame_shift_s) {}

  CtcTokenSet set;
  double shift_s;
  std::vector<KeywordSearch> keywords;
  std::vector<std::string> names;
  std::vector<std::vector<int>> spellings;
  int64_t min_frames = 1, max_frames = 1;
  int64_t next_frame = 0;
  int64_t segment_start = 0;
  HitSuppression suppression{SuppressionScope::kKeyword, 0, 0};

  size_t Slot(int64_t start) const { return static_cast<size_t>(start % max_frames); }

  void ClearWindows() {
    for (KeywordSearch& k : keywords) std::fill(k.alive.begin(), k.alive.end(), 0);
  }

  void FinishRun(size_t k, std::vector<KeywordHit>& hits) {
    ScoreRun& run = keywords[k].run;
    if (!run.active) return;
    run.active = false;
    if (suppression.Suppressed(k, run.trigger)) return;
    suppression.Record(k, run.trigger);
    hits.push_back(KeywordHit{keywords[k].name, static_cast<double>(run.span_start) * shift_s,
                              static_cast<double>(run.span_end) * shift_s, run.peak_score});
  }

  void FinishAll(std::vector<KeywordHit>& hits) {
    for (size_t k = 0; k < keywords.size(); ++k) FinishRun(k, hits);
  }

  void AcceptFrame(const float* lp, int64_t t, std::vector<KeywordHit>& hits) {
    const int64_t oldest = std::max(segment_start, t - max_frames + 1);
    for (size_t ki = 0; ki < keywords.size(); ++ki) {
      KeywordSearch& k = keywords[ki];
      const int S = k.NumStates();
      // Advance every live window by frame t. States are updated from the last down, so alpha[k - 1] and
      // alpha[k - 2] still hold frame t - 1's values when alpha[k] is computed.
      for (int64_t s = oldest; s < t; ++s) {
        const size_t slot = Slot(s);
        if (!k.alive[slot]) continue;
        double* a = &k.alpha[slot * static_cast<size_t>(S)];
        double mass = kNegInf;
        for (int j = S - 1; j >= 0; --j) {
          double in = a[j];
          if (j >= 1) in = LogAddExp(in, a[j - 1]);
          if (j >= 2 && k.skip_allowed[static_cast<size_t>(j)]) in = LogAddExp(in, a[j - 2]);
          a[j] = in + static_cast<double>(lp[k.state_label[static_cast<size_t>(j)]]);
          mass = LogAddExp(mass, a[j]);
        }
        // The total mass of a window never grows with more frames (each state's successors have distinct
        // labels), so once it is below the bound no later window end can reach the threshold.
        if (!(mass >= k.log_bound)) k.alive[slot] = 0;
      }
      // A window starting at t: y_1 on frame t.
      {
        const size_t slot = Slot(t);
        double* a = &k.alpha[slot * static_cast<size_t>(S)];
        std::fill(a, a + S, kNegInf);
        a[0] = static_cast<double>(lp[k.tokens[0]]);
        k.alive[slot] = a[0] >= k.log_bound ? 1 : 0;
      }
      // The best window ending at t on y_L; the latest start wins ties (the tightest window).
      double best = kNegInf;
      int64_t best_start = -1;
      for (int64_t s = oldest; s <= t - min_frames + 1; ++s) {
        const size_t slot = Slot(s);
        if (!k.alive[slot]) continue;
        const double v = k.alpha[slot * static_cast<size_t>(S) + static_cast<size_t>(S - 1)];
        if (v >= best && v > kNegInf) {
          best = v;
          best_start = s;
        }
      }
      const double score = best_start >= 0 ? std::exp(best / static_cast<double>(k.tokens.size())) : 0.0;
      const bool above = score >= k.threshold;
      ScoreRun& run = k.run;
      if (run.active && !above) FinishRun(ki, hits);
      if (!above) continue;
      if (!run.active) {
        run = ScoreRun{true, false, t, t, score, best_start, t + 1};
      } else if (score > run.peak_score) {
        run.peak_score = score;
        run.peak = t;
        run.span_start = best_start;
        run.span_end = t + 1;
      }
    }
    next_frame = t + 1;
  }
};

CtcKeywordSpotter::CtcKeywordSpotter(const CtcKeywordSpotterConfig& config, std::vector<std::string> tokens,
                                     double frame_shift_s, std::string_view path) {
  config.Validate(path);
  if (!std::isfinite(frame_shift_s) || frame_shift_s <= 0.0) {
    throw ConfigError(std::string(path) + ": frame shift " + std::to_string(frame_shift_s) + " s; expected > 0");
  }
  impl_ = std::make_unique<Impl>(CtcTokenSet(std::move(tokens), config.blank_index, config.word_separator, path),
                                 frame_shift_s);
  Impl& d = *impl_;
  d.min_frames = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(config.min_duration_ms / (1000.0 * frame_shift_s) - 1e-9)));
  d.max_frames = std::max(d.min_frames, FramesFromMs(config.max_duration_ms, frame_shift_s, 1));
  for (const std::string& text : ParseKeywordTexts(config.keywords, path)) {
    const auto spelled = d.set.SpellText(text);
    if (!spelled) {
      throw ConfigError(JoinPath(path, "keywords") + ": '" + text + "' cannot be spelled with the model's tokens");
    }
    KeywordSearch k;
    k.name = text;
    k.tokens = *spelled;
    k.threshold = config.threshold;
    d.keywords.push_back(std::move(k));
  }
  for (const auto& [name, value] : ParseThresholds(config.keyword_thresholds, path, "keyword_thresholds")) {
    auto it = std::find_if(d.keywords.begin(), d.keywords.end(),
                           [&wanted = name](const KeywordSearch& k) { return k.name == wanted; });  // clang 14
    if (it == d.keywords.end()) {
      throw ConfigError(JoinPath(path, "keyword_thresholds") + ": '" + name + "' is not one of the keywords (" +
                        config.keywords + ")");
    }
    it->threshold = value;
  }
  for (KeywordSearch& k : d.keywords) {
    const size_t L = k.tokens.size();
    k.log_bound = static_cast<double>(L) * std::log(k.threshold);
    for (size_t i = 0; i < L; ++i) {
      k.state_label.push_back(k.tokens[i]);
      k.skip_allowed.push_back(i > 0 && k.tokens[i] != k.tokens[i - 1] ? 1 : 0);
      if (i + 1 < L) {
        k.state_label.push_back(d.set.Blank());
        k.skip_allowed.push_back(0);
      }
    }
    k.alpha.assign(static_cast<size_t>(d.max_frames) * k.state_label.size(), kNegInf);
    k.alive.assign(static_cast<size_t>(d.max_frames), 0);
    d.names.push_back(k.name);
    d.spellings.push_back(k.tokens);
  }
  d.suppression = HitSuppression(config.suppression_scope, FramesFromMs(config.suppression_ms, frame_shift_s, 0),
                                 d.keywords.size());
}

CtcKeywordSpotter::~CtcKeywordSpotter() = default;
CtcKeywordSpotter::CtcKeywordSpotter(CtcKeywordSpotter&&) noexcept = default;
CtcKeywordSpotter& CtcKeywordSpotter::operator=(CtcKeywordSpotter&&) noexcept = default;

std::vector<KeywordHit> CtcKeywordSpotter::AcceptFrames(const MatrixF& log_probs, int64_t first_frame) {
  Impl& d = *impl_;
  CheckLogProbChunk(log_probs, first_frame, d.next_frame, d.set.Size(), "CTC keyword spotter");
  std::vector<KeywordHit> hits;
  if (log_probs.rows() == 0) return hits;
  if (first_frame > d.next_frame) {  // a gap: windows never span it
    d.FinishAll(hits);
    d.ClearWindows();
    d.segment_start = first_frame;
  }
  for (Eigen::Index r = 0; r < log_probs.rows(); ++r) d.AcceptFrame(log_probs.row(r).data(), first_frame + r, hits);
  return hits;
}

std::vector<KeywordHit> CtcKeywordSpotter::InputFinished() {
  Impl& d = *impl_;
  std::vector<KeywordHit> hits;
  d.FinishAll(hits);
  d.ClearWindows();
  d.segment_start = d.next_frame;
  return hits;
}

void CtcKeywordSpotter::Reset() {
  Impl& d = *impl_;
  d.ClearWindows();
  for (KeywordSearch& k : d.keywords) k.run = ScoreRun{};
  d.suppression.Reset();
  d.next_frame = 0;
  d.segment_start = 0;
}

int64_t CtcKeywordSpotter::NumFramesAccepted() const { return impl_->next_frame; }
const std::vector<std::string>& CtcKeywordSpotter::Keywords() const { return impl_->names; }
const std::vector<std::vector<int>>& CtcKeywordSpotter::KeywordTokens() const { return impl_->spellings; }

}  // namespace ossicle
