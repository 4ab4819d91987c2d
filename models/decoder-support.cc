#include "models/decoder-support.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "features/errors.h"

namespace ossicle {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

std::string Trimmed(std::string_view text) { return std::string(Trim(text)); }

std::vector<std::string> SplitList(std::string_view text, char separator) {
  std::vector<std::string> out;
  if (Trim(text).empty()) return out;
  size_t begin = 0;
  while (true) {
    const size_t end = text.find(separator, begin);
    out.emplace_back(Trim(text.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin)));
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  return out;
}

std::vector<std::pair<std::string, double>> ParseThresholds(std::string_view text, std::string_view path,
                                                            std::string_view field) {
  std::vector<std::pair<std::string, double>> out;
  const std::string rule = "name=value pairs separated by commas, values in (0, 1]";
  for (const std::string& item : SplitList(text)) {
    const size_t eq = item.rfind('=');
    if (eq == std::string::npos) {
      throw ConfigError(RuleMessage(path, field, Quoted(text), rule + " ('" + item + "' has no '=')"));
    }
    const std::string name(Trim(std::string_view(item).substr(0, eq)));
    const std::string value_text(Trim(std::string_view(item).substr(eq + 1)));
    if (name.empty()) throw ConfigError(RuleMessage(path, field, Quoted(text), rule + " ('" + item + "' has no name)"));
    double value = std::numeric_limits<double>::quiet_NaN();
    std::istringstream is(value_text);
    is >> value;
    if (value_text.empty() || is.fail() || !is.eof() || !(value > 0.0 && value <= 1.0)) {
      throw ConfigError(RuleMessage(path, field, Quoted(text), rule + " (" + name + " = '" + value_text + "')"));
    }
    for (const auto& [n, unused] : out) {
      if (n == name) throw ConfigError(RuleMessage(path, field, Quoted(text), rule + " ('" + name + "' given twice)"));
    }
    out.emplace_back(name, value);
  }
  return out;
}

std::string JoinPath(std::string_view path, std::string_view field) {
  std::string out(path);
  if (!out.empty()) out += '.';
  out += field;
  return out;
}

int64_t FramesFromMs(double ms, double frame_shift_s, int64_t minimum) {
  return std::max<int64_t>(minimum, std::llround(ms / (1000.0 * frame_shift_s)));
}

CtcTokenSet::CtcTokenSet(std::vector<std::string> tokens, int blank_index, const std::string& word_separator,
                         std::string_view path)
    : tokens_(std::move(tokens)), blank_(blank_index) {
  if (tokens_.empty()) throw ConfigError(std::string(path) + ": the model has no tokens (labels)");
  if (blank_index < 0 || static_cast<size_t>(blank_index) >= tokens_.size()) {
    throw ConfigError(RuleMessage(path, "blank_index", blank_index,
                                  "in [0, " + std::to_string(tokens_.size()) + ") (the number of tokens)"));
  }
  separator_.resize(tokens_.size(), 0);
  starts_word_.resize(tokens_.size(), 0);
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (static_cast<int>(i) == blank_) continue;
    const std::string& t = tokens_[i];
    if (t == " " || (!word_separator.empty() && t == word_separator)) {
      separator_[i] = 1;
      if (first_separator_ < 0) first_separator_ = static_cast<int>(i);
    } else if (StartsWithWordMarker(t)) {
      starts_word_[i] = 1;
      has_word_markers_ = true;
    }
  }
}

std::optional<std::vector<int>> CtcTokenSet::SpellWord(std::string_view word) const {
  std::string target(word);
  if (has_word_markers_) target = std::string(kWordMarker) + target;
  std::vector<int> out;
  size_t pos = 0;
  while (pos < target.size()) {
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < tokens_.size(); ++i) {
      if (static_cast<int>(i) == blank_ || separator_[i] || tokens_[i].empty()) continue;
      const std::string& t = tokens_[i];
      if (t.size() > best_len && target.compare(pos, t.size(), t) == 0) {
        best = static_cast<int>(i);
        best_len = t.size();
      }
    }
    if (best < 0) return std::nullopt;
    out.push_back(best);
    pos += best_len;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<std::vector<int>> CtcTokenSet::SpellText(std::string_view text) const {
  std::vector<int> out;
  for (const std::string& word : SplitList(text, ' ')) {
    if (word.empty()) continue;  // several spaces in a row
    auto spelled = SpellWord(word);
    if (!spelled) return std::nullopt;
    if (!out.empty() && first_separator_ >= 0) out.push_back(first_separator_);
    out.insert(out.end(), spelled->begin(), spelled->end());
  }
  if (out.empty()) return std::nullopt;
  return out;
}

void CheckLogProbChunk(const MatrixF& log_probs, int64_t first_frame, int64_t next_frame, int64_t num_labels,
                       std::string_view what) {
  if (first_frame < next_frame) {
    throw std::invalid_argument(std::string(what) + ": frames must arrive in order: got first_frame " +
                                std::to_string(first_frame) + ", but frames up to " +
                                std::to_string(next_frame - 1) + " were already accepted");
  }
  if (log_probs.rows() > 0 && log_probs.cols() != num_labels) {
    throw ModelFormatError(std::string(what) + ": log-probabilities have " + std::to_string(log_probs.cols()) +
                           " columns; expected " + std::to_string(num_labels) + " (the labels)");
  }
  // Log-softmax output is <= 0 up to rounding; 0.01 leaves room for that and still refuses probabilities
  // or logits fed by mistake (a logit above 0.01 is almost certain within a few frames).
  constexpr float kMaxLogProb = 0.01f;
  for (Eigen::Index r = 0; r < log_probs.rows(); ++r) {
    for (Eigen::Index c = 0; c < log_probs.cols(); ++c) {
      const float v = log_probs(r, c);
      if (std::isnan(v) || v > kMaxLogProb) {
        std::ostringstream os;
        os << what << ": frame " << first_frame + r << ", column " << c << " is " << v
           << "; expected log-probabilities (finite or -inf, <= 0)";
        throw ModelFormatError(os.str());
      }
    }
  }
}

HitSuppression::HitSuppression(SuppressionScope scope, int64_t frames, size_t num_keywords)
    : scope_(scope), frames_(frames), last_(num_keywords) {}

bool HitSuppression::Suppressed(size_t keyword, int64_t trigger) const {
  const std::optional<int64_t>& last = scope_ == SuppressionScope::kAll ? last_any_ : last_[keyword];
  return last && trigger >= *last && trigger < *last + frames_;
}

void HitSuppression::Record(size_t keyword, int64_t trigger) {
  last_[keyword] = trigger;
  last_any_ = last_any_ ? std::max(*last_any_, trigger) : trigger;
}

void HitSuppression::Reset() {
  std::fill(last_.begin(), last_.end(), std::nullopt);
  last_any_.reset();
}

double LogAddExp(double a, double b) {
  if (a < b) std::swap(a, b);
  if (b == -std::numeric_limits<double>::infinity()) return a;
  return a + std::log1p(std::exp(b - a));
}

}  // namespace ossicle
