#include "models/kws-decoder.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "features/errors.h"
#include "models/decoder-support.h"

namespace ossicle {

namespace {

void CheckPositive(std::string_view path, std::string_view field, double value) {
  if (!std::isfinite(value) || value <= 0.0) throw ConfigError(RuleMessage(path, field, value, "> 0"));
}

void CheckNonNegative(std::string_view path, std::string_view field, double value) {
  if (!std::isfinite(value) || value < 0.0) throw ConfigError(RuleMessage(path, field, value, ">= 0"));
}

void CheckFraction(std::string_view path, std::string_view field, double value) {
  if (!(value > 0.0 && value <= 1.0)) throw ConfigError(RuleMessage(path, field, value, "in (0, 1]"));
}

struct KeywordSpec {
  std::string name;
  std::vector<std::string> units;
};

// "yes, hey=hey+ossicle" -> {{"yes", {"yes"}}, {"hey", {"hey", "ossicle"}}}.
std::vector<KeywordSpec> ParseKeywords(const std::string& text, std::string_view path) {
  std::vector<KeywordSpec> out;
  const auto fail = [&](const std::string& why) {
    return ConfigError(RuleMessage(path, "keywords", "\"" + text + "\"",
                                   "comma-separated labels or name=unit+unit (" + why + ")"));
  };
  for (const std::string& item : SplitList(text)) {
    if (item.empty()) throw fail("an empty keyword");
    KeywordSpec spec;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      spec.name = item;
      spec.units = {item};
    } else {
      spec.name = Trimmed(std::string_view(item).substr(0, eq));
      spec.units = SplitList(std::string_view(item).substr(eq + 1), '+');
      if (spec.name.empty()) throw fail("'" + item + "' has no name");
      if (spec.units.empty()) throw fail("'" + item + "' has no units");
      for (const std::string& u : spec.units) {
        if (u.empty()) throw fail("'" + item + "' has an empty unit");
      }
    }
    for (const KeywordSpec& other : out) {
      if (other.name == spec.name) throw fail("'" + spec.name + "' given twice");
    }
    out.push_back(std::move(spec));
  }
  return out;
}

struct Keyword {
  std::string name;
  std::vector<int> units;  // indices into the decoder's unit columns
  double threshold = 0.5;
};

}  // namespace

void KwsDecoderConfig::Validate(std::string_view path) const {
  ParseKeywords(keywords, path);
  ParseThresholds(keyword_thresholds, path, "keyword_thresholds");
  CheckPositive(path, "smoothing_ms", smoothing_ms);
  CheckPositive(path, "window_ms", window_ms);
  CheckFraction(path, "threshold", threshold);
  CheckNonNegative(path, "min_duration_ms", min_duration_ms);
  CheckNonNegative(path, "suppression_ms", suppression_ms);
  CheckFraction(path, "span_fraction", span_fraction);
  CheckPositive(path, "max_event_ms", max_event_ms);
}

struct KwsDecoder::Impl {
  KwsDecoderConfig config;
  std::vector<std::string> labels;
  double shift_s = 0.01;
  std::vector<Keyword> keywords;
  std::vector<std::string> keyword_names;
  std::vector<int> unit_columns;  // label column of each unit used by some keyword
  int64_t smooth_frames = 1, window_frames = 1, max_event_frames = 1, min_duration_frames = 0;
  int64_t lookback_frames = 0;

  // History ring of raw and smoothed posteriors of the units: frame f lives in slot f % capacity.
  int64_t capacity = 0;
  std::vector<float> raw, smoothed;  // [capacity * num_units]

  int64_t next_frame = 0;     // one past the last frame accepted
  int64_t segment_start = 0;  // h: first frame of the contiguous input (smoothing restarts here)
  std::vector<ScoreRun> runs;
  HitSuppression suppression{SuppressionScope::kKeyword, 0, 0};

  size_t NumUnits() const { return unit_columns.size(); }
  float& Raw(int64_t frame, size_t unit) {
    return raw[static_cast<size_t>(frame % capacity) * NumUnits() + unit];
  }
  float& Smoothed(int64_t frame, size_t unit) {
    return smoothed[static_cast<size_t>(frame % capacity) * NumUnits() + unit];
  }
  // The oldest frame still in the history.
  int64_t HistoryBegin() const { return std::max(segment_start, next_frame - capacity); }

  double Confidence(const Keyword& k, int64_t j) {
    const int64_t lo = std::max(segment_start, j - window_frames + 1);
    double log_sum = 0.0;
    for (int u : k.units) {
      float best = 0.0f;
      for (int64_t f = lo; f <= j; ++f) best = std::max(best, Smoothed(f, static_cast<size_t>(u)));
      if (best <= 0.0f) return 0.0;
      log_sum += std::log(static_cast<double>(best));
    }
    return std::exp(log_sum / static_cast<double>(k.units.size()));
  }

  // Span of an event of keyword k that ended before frame `end` (see the header): [first, last] frames.
  std::pair<int64_t, int64_t> Span(const Keyword& k, const ScoreRun& run, int64_t end) {
    const float level = static_cast<float>(config.span_fraction * k.threshold);
    const int64_t lo = std::max({HistoryBegin(), segment_start, run.trigger - (window_frames + 2 * smooth_frames)});
    int64_t first = std::numeric_limits<int64_t>::max(), last = std::numeric_limits<int64_t>::min();
    for (int unit : k.units) {
      const auto u = static_cast<size_t>(unit);
      int64_t m = std::max(lo, run.peak - window_frames + 1);
      for (int64_t f = m + 1; f <= run.peak; ++f) {
        if (Smoothed(f, u) > Smoothed(m, u)) m = f;
      }
      int64_t a = m, b = m;
      if (Smoothed(m, u) >= level) {
        while (a - 1 >= lo && Smoothed(a - 1, u) >= level) --a;
        while (b + 1 < end && Smoothed(b + 1, u) >= level) ++b;
      }
      int64_t unit_first = -1, unit_last = -1;
      for (int64_t f = std::max(lo, a - smooth_frames + 1); f <= b; ++f) {
        if (Raw(f, u) >= level) {
          if (unit_first < 0) unit_first = f;
          unit_last = f;
        }
      }
      if (unit_first < 0) unit_first = unit_last = m;  // the unit never reached the level: its best frame
      first = std::min(first, unit_first);
      last = std::max(last, unit_last);
    }
    return {first, last};
  }

  // Ends keyword k's run at frame `end` (exclusive) and appends its hit unless it is dropped.
  void FinishRun(size_t k, int64_t end, std::vector<KeywordHit>& hits) {
    ScoreRun& run = runs[k];
    if (!run.active) return;
    run.active = false;
    const Keyword& kw = keywords[k];
    const auto [first, last] = Span(kw, run, end);
    if (last - first + 1 < min_duration_frames) return;
    if (suppression.Suppressed(k, run.trigger)) return;
    suppression.Record(k, run.trigger);
    hits.push_back(KeywordHit{kw.name, static_cast<double>(first) * shift_s,
                              static_cast<double>(last + 1) * shift_s, run.peak_score});
  }

  void FinishAll(std::vector<KeywordHit>& hits) {
    for (size_t k = 0; k < runs.size(); ++k) {
      FinishRun(k, next_frame, hits);
      runs[k].consumed = false;
    }
  }

  void AcceptFrame(const float* row, int64_t j, std::vector<KeywordHit>& hits) {
    const size_t nu = NumUnits();
    for (size_t u = 0; u < nu; ++u) Raw(j, u) = std::exp(row[unit_columns[u]]);
    const int64_t lo = std::max(segment_start, j - smooth_frames + 1);
    for (size_t u = 0; u < nu; ++u) {
      double sum = 0.0;
      for (int64_t f = lo; f <= j; ++f) sum += static_cast<double>(Raw(f, u));
      Smoothed(j, u) = static_cast<float>(sum / static_cast<double>(j - lo + 1));
    }
    next_frame = j + 1;
    for (size_t k = 0; k < keywords.size(); ++k) {
      const double c = Confidence(keywords[k], j);
      const bool above = c >= keywords[k].threshold;
      ScoreRun& run = runs[k];
      if (run.active) {
        if (!above) {
          FinishRun(k, j, hits);
        } else if (j - run.trigger >= max_event_frames) {
          FinishRun(k, j, hits);
          run.consumed = true;
        } else if (c > run.peak_score) {
          run.peak_score = c;
          run.peak = j;
        }
      } else if (above && !run.consumed) {
        run = ScoreRun{true, false, j, j, c, 0, 0};
      } else if (!above) {
        run.consumed = false;
      }
    }
  }
};

KwsDecoder::KwsDecoder(const KwsDecoderConfig& config, std::vector<std::string> labels, double frame_shift_s,
                       std::string_view path)
    : impl_(std::make_unique<Impl>()) {
  config.Validate(path);
  if (!std::isfinite(frame_shift_s) || frame_shift_s <= 0.0) {
    throw ConfigError(std::string(path) + ": frame shift " + std::to_string(frame_shift_s) + " s; expected > 0");
  }
  if (!labels.empty() && labels[0] == "<blank>") {
    // A CTC model's posteriors are spikes of characters between blanks, not keyword classes: smoothed and
    // thresholded they give no hit at all, which must not pass for "nothing was said".
    throw ConfigError(std::string(path) +
                      ": the model's first label is <blank>: a CTC model, whose outputs are not keyword classes; "
                      "spot its words with decoder.ctc_keywords (e.g. `ossicle spot --graph "
                      "configs/graphs/batch-ctc-keywords.yaml --keywords go,stop`)");
  }
  Impl& d = *impl_;
  d.config = config;
  d.labels = std::move(labels);
  d.shift_s = frame_shift_s;

  const std::vector<std::string> fillers = SplitList(config.filler_labels);
  const auto is_filler = [&](const std::string& l) { return std::find(fillers.begin(), fillers.end(), l) != fillers.end(); };
  const auto label_index = [&](const std::string& l) -> int {
    const auto it = std::find(d.labels.begin(), d.labels.end(), l);
    return it == d.labels.end() ? -1 : static_cast<int>(it - d.labels.begin());
  };
  std::string label_list;
  for (const std::string& l : d.labels) label_list += (label_list.empty() ? "" : ", ") + l;

  std::vector<KeywordSpec> specs = ParseKeywords(config.keywords, path);
  if (specs.empty()) {
    for (const std::string& l : d.labels) {
      if (!is_filler(l)) specs.push_back({l, {l}});
    }
    if (specs.empty()) {
      throw ConfigError(JoinPath(path, "keywords") + ": no keyword: every label of the model is a filler label (" +
                        label_list + ")");
    }
  }
  for (const KeywordSpec& spec : specs) {
    Keyword k;
    k.name = spec.name;
    k.threshold = config.threshold;
    for (const std::string& unit : spec.units) {
      const int column = label_index(unit);
      if (column < 0) {
        throw ConfigError(JoinPath(path, "keywords") + ": '" + unit + "' is not a label of the model (labels: " +
                          label_list + ")");
      }
      if (is_filler(unit)) {
        throw ConfigError(JoinPath(path, "keywords") + ": '" + unit + "' is a filler label (" +
                          JoinPath(path, "filler_labels") + "), not a keyword");
      }
      const auto it = std::find(d.unit_columns.begin(), d.unit_columns.end(), column);
      k.units.push_back(static_cast<int>(it - d.unit_columns.begin()));
      if (it == d.unit_columns.end()) d.unit_columns.push_back(column);
    }
    d.keywords.push_back(std::move(k));
  }
  for (const auto& [name, value] : ParseThresholds(config.keyword_thresholds, path, "keyword_thresholds")) {
    auto it = std::find_if(d.keywords.begin(), d.keywords.end(),
                           [&wanted = name](const Keyword& k) { return k.name == wanted; });  // clang 14
    if (it == d.keywords.end()) {
      std::string names;
      for (const Keyword& k : d.keywords) names += (names.empty() ? "" : ", ") + k.name;
      throw ConfigError(JoinPath(path, "keyword_thresholds") + ": '" + name + "' is not a keyword (keywords: " +
                        names + ")");
    }
    it->threshold = value;
  }
  for (const Keyword& k : d.keywords) d.keyword_names.push_back(k.name);

  d.smooth_frames = FramesFromMs(config.smoothing_ms, frame_shift_s, 1);
  d.window_frames = FramesFromMs(config.window_ms, frame_shift_s, 1);
  d.max_event_frames = FramesFromMs(config.max_event_ms, frame_shift_s, 1);
  d.min_duration_frames = static_cast<int64_t>(std::ceil(config.min_duration_ms / (1000.0 * frame_shift_s) - 1e-9));
  d.lookback_frames = d.window_frames + 2 * d.smooth_frames;
  // The history must reach from trigger - lookback to the frame that ends the longest event.
  d.capacity = d.lookback_frames + d.max_event_frames + 2;
  d.raw.assign(static_cast<size_t>(d.capacity) * d.NumUnits(), 0.0f);
  d.smoothed.assign(d.raw.size(), 0.0f);
  d.runs.assign(d.keywords.size(), ScoreRun{});
  d.suppression = HitSuppression(config.suppression_scope, FramesFromMs(config.suppression_ms, frame_shift_s, 0),
                                 d.keywords.size());
}

KwsDecoder::~KwsDecoder() = default;
KwsDecoder::KwsDecoder(KwsDecoder&&) noexcept = default;
KwsDecoder& KwsDecoder::operator=(KwsDecoder&&) noexcept = default;

std::vector<KeywordHit> KwsDecoder::AcceptFrames(const MatrixF& log_probs, int64_t first_frame) {
  Impl& d = *impl_;
  CheckLogProbChunk(log_probs, first_frame, d.next_frame, static_cast<int64_t>(d.labels.size()), "keyword decoder");
  std::vector<KeywordHit> hits;
  if (log_probs.rows() == 0) return hits;
  if (first_frame > d.next_frame) {  // a gap: what came before is finished, smoothing restarts
    d.FinishAll(hits);
    d.segment_start = first_frame;
    d.next_frame = first_frame;
  }
  for (Eigen::Index r = 0; r < log_probs.rows(); ++r) d.AcceptFrame(log_probs.row(r).data(), first_frame + r, hits);
  return hits;
}

std::vector<KeywordHit> KwsDecoder::InputFinished() {
  Impl& d = *impl_;
  std::vector<KeywordHit> hits;
  d.FinishAll(hits);
  d.segment_start = d.next_frame;
  return hits;
}

void KwsDecoder::Reset() {
  Impl& d = *impl_;
  d.next_frame = 0;
  d.segment_start = 0;
  std::fill(d.runs.begin(), d.runs.end(), ScoreRun{});
  d.suppression.Reset();
}

int64_t KwsDecoder::NumFramesAccepted() const { return impl_->next_frame; }
const std::vector<std::string>& KwsDecoder::Keywords() const { return impl_->keyword_names; }
double KwsDecoder::Threshold(size_t keyword) const { return impl_->keywords.at(keyword).threshold; }
double KwsDecoder::FrameShiftSeconds() const { return impl_->shift_s; }

}  // namespace ossicle
