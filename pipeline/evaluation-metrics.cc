#include "pipeline/evaluation-metrics.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>

namespace ossicle {

int64_t ConfusionMatrix::Total() const {
  int64_t n = 0;
  for (const auto& row : counts)
    for (int64_t c : row) n += c;
  return n;
}

int64_t ConfusionMatrix::Correct() const {
  int64_t n = 0;
  for (size_t i = 0; i < counts.size(); ++i) n += counts[i][i];
  return n;
}

double ConfusionMatrix::Accuracy() const {
  const int64_t total = Total();
  return total == 0 ? 0.0 : static_cast<double>(Correct()) / static_cast<double>(total);
}

int ConfusionMatrix::Index(std::string_view label) const {
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == label) return static_cast<int>(i);
  return -1;
}

ConfusionMatrix BuildConfusion(const std::vector<std::string>& references, const std::vector<std::string>& predictions,
                               const std::vector<std::string>& label_order) {
  if (references.size() != predictions.size()) {
    throw std::invalid_argument("BuildConfusion: " + std::to_string(references.size()) + " references but " +
                                std::to_string(predictions.size()) + " predictions");
  }
  ConfusionMatrix m;
  auto add_label = [&m](const std::string& label) {
    if (m.Index(label) < 0) m.labels.push_back(label);
  };
  for (const std::string& l : label_order) add_label(l);
  for (const std::string& l : references) add_label(l);
  for (const std::string& l : predictions) add_label(l);
  m.counts.assign(m.labels.size(), std::vector<int64_t>(m.labels.size(), 0));
  for (size_t i = 0; i < references.size(); ++i) {
    ++m.counts[static_cast<size_t>(m.Index(references[i]))][static_cast<size_t>(m.Index(predictions[i]))];
  }
  return m;
}

std::vector<ClassMetrics> PerClassMetrics(const ConfusionMatrix& matrix) {
  std::vector<ClassMetrics> out;
  const size_t n = matrix.labels.size();
  for (size_t k = 0; k < n; ++k) {
    ClassMetrics c;
    c.label = matrix.labels[k];
    c.true_positives = matrix.counts[k][k];
    for (size_t j = 0; j < n; ++j) {
      c.support += matrix.counts[k][j];
      c.predicted += matrix.counts[j][k];
    }
    if (c.predicted > 0) c.precision = static_cast<double>(c.true_positives) / static_cast<double>(c.predicted);
    if (c.support > 0) c.recall = static_cast<double>(c.true_positives) / static_cast<double>(c.support);
    if (c.precision && c.recall && *c.precision + *c.recall > 0) {
      c.f1 = 2.0 * *c.precision * *c.recall / (*c.precision + *c.recall);
    }
    out.push_back(std::move(c));
  }
  return out;
}

EditCounts& EditCounts::operator+=(const EditCounts& o) {
  substitutions += o.substitutions;
  deletions += o.deletions;
  insertions += o.insertions;
  reference_length += o.reference_length;
  return *this;
}

EditCounts AlignCounts(std::span<const std::string> reference, std::span<const std::string> hypothesis) {
  const size_t r = reference.size(), h = hypothesis.size();
  // One DP row per reference prefix; each cell keeps the counts of its best alignment.
  auto better = [](const EditCounts& a, const EditCounts& b) {
    if (a.Errors() != b.Errors()) return a.Errors() < b.Errors();
    return a.substitutions > b.substitutions;
  };
  std::vector<EditCounts> prev(h + 1), cur(h + 1);
  for (size_t j = 0; j <= h; ++j) prev[j].insertions = static_cast<int64_t>(j);
  for (size_t i = 1; i <= r; ++i) {
    cur[0] = prev[0];
    ++cur[0].deletions;
    for (size_t j = 1; j <= h; ++j) {
      EditCounts diag = prev[j - 1];
      if (reference[i - 1] != hypothesis[j - 1]) ++diag.substitutions;
      EditCounts del = prev[j];
      ++del.deletions;
      EditCounts ins = cur[j - 1];
      ++ins.insertions;
      EditCounts best = diag;
      if (better(del, best)) best = del;
      if (better(ins, best)) best = ins;
      cur[j] = best;
    }
    std::swap(prev, cur);
  }
  EditCounts result = prev[h];
  result.reference_length = static_cast<int64_t>(r);
  return result;
}

std::string NormalizeText(std::string_view text) {
  std::string out;
  bool pending_space = false;
  for (char ch : text) {
    const bool space = ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
    if (space) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
  }
  return out;
}

namespace {

std::vector<std::string> Words(std::string_view normalized) {
  std::vector<std::string> words;
  size_t start = 0;
  while (start < normalized.size()) {
    size_t end = normalized.find(' ', start);
    if (end == std::string_view::npos) end = normalized.size();
    words.emplace_back(normalized.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

std::vector<std::string> CodePoints(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t n = 1;
    if (lead >= 0xF0 && lead < 0xF8) {
      n = 4;
    } else if (lead >= 0xE0) {
      n = lead < 0xF0 ? 3 : 1;
    } else if (lead >= 0xC0) {
      n = 2;
    }
    bool valid = i + n <= text.size();
    for (size_t k = 1; valid && k < n; ++k) valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    if (!valid) n = 1;
    out.emplace_back(text.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace

EditCounts WordEdits(std::string_view reference, std::string_view hypothesis) {
  const std::vector<std::string> ref = Words(NormalizeText(reference));
  const std::vector<std::string> hyp = Words(NormalizeText(hypothesis));
  return AlignCounts(ref, hyp);
}

EditCounts CharEdits(std::string_view reference, std::string_view hypothesis) {
  const std::vector<std::string> ref = CodePoints(NormalizeText(reference));
  const std::vector<std::string> hyp = CodePoints(NormalizeText(hypothesis));
  return AlignCounts(ref, hyp);
}

double ErrorRate(const EditCounts& counts) {
  return static_cast<double>(counts.Errors()) / static_cast<double>(std::max<int64_t>(counts.reference_length, 1));
}

DetPoint DetPointAt(const DetInput& input, double threshold) {
  DetPoint p;
  p.threshold = threshold;
  for (double s : input.positive_scores)
    if (s < threshold) ++p.misses;
  for (double s : input.negative_scores)
    if (s >= threshold) ++p.false_alarms;
  if (!input.positive_scores.empty()) {
    p.false_reject_rate = static_cast<double>(p.misses) / static_cast<double>(input.positive_scores.size());
  }
  if (input.negative_hours > 0) p.false_alarms_per_hour = static_cast<double>(p.false_alarms) / input.negative_hours;
  return p;
}

std::vector<DetPoint> DetCurve(const DetInput& input) {
  std::vector<double> thresholds = input.positive_scores;
  thresholds.insert(thresholds.end(), input.negative_scores.begin(), input.negative_scores.end());
  if (thresholds.empty()) return {};
  std::sort(thresholds.begin(), thresholds.end());
  thresholds.erase(std::unique(thresholds.begin(), thresholds.end()), thresholds.end());
  thresholds.push_back(std::nextafter(thresholds.back(), std::numeric_limits<double>::infinity()));
  // Sorted copies make each point O(log n).
  std::vector<double> pos = input.positive_scores, neg = input.negative_scores;
  std::sort(pos.begin(), pos.end());
  std::sort(neg.begin(), neg.end());
  std::vector<DetPoint> curve;
  curve.reserve(thresholds.size());
  for (double t : thresholds) {
    DetPoint p;
    p.threshold = t;
    p.misses = std::lower_bound(pos.begin(), pos.end(), t) - pos.begin();
    p.false_alarms = neg.end() - std::lower_bound(neg.begin(), neg.end(), t);
    if (!pos.empty()) p.false_reject_rate = static_cast<double>(p.misses) / static_cast<double>(pos.size());
    if (input.negative_hours > 0) p.false_alarms_per_hour = static_cast<double>(p.false_alarms) / input.negative_hours;
    curve.push_back(p);
  }
  return curve;
}

OperatingPoint ThresholdForFalseAlarmRate(const DetInput& input, double target_fa_per_hour, double min_threshold) {
  if (!(input.negative_hours > 0)) {
    throw std::invalid_argument("ThresholdForFalseAlarmRate: negative_hours = " + std::to_string(input.negative_hours) +
                                "; expected > 0");
  }
  if (!(target_fa_per_hour >= 0)) {
    throw std::invalid_argument("ThresholdForFalseAlarmRate: target = " + std::to_string(target_fa_per_hour) +
                                "; expected >= 0");
  }
  // The small tolerance keeps 1.0 FA/h x 2.0 h = 2 allowed events although the product may round below 2.
  const auto allowed = static_cast<size_t>(std::floor(target_fa_per_hour * input.negative_hours + 1e-9));
  std::vector<double> neg = input.negative_scores;
  std::sort(neg.begin(), neg.end(), std::greater<>());
  double threshold = min_threshold;
  if (neg.size() > allowed) {
    threshold = std::max(min_threshold, std::nextafter(neg[allowed], std::numeric_limits<double>::infinity()));
  }
  OperatingPoint op;
  op.point = DetPointAt(input, threshold);
  op.target_fa_per_hour = target_fa_per_hour;
  op.reachable = threshold <= 1.0;
  return op;
}

}  // namespace ossicle
