// The numbers `ossicle eval` reports, as plain functions of references, predictions and scores:
// confusion matrix and per-class precision/recall, word and character error rates by edit distance, and
// the detection-error-tradeoff (DET) curve of a keyword spotter with the threshold that meets a
// false-alarm budget.
//
//   ConfusionMatrix m = BuildConfusion({"yes", "no"}, {"yes", "yes"});   // m.Accuracy() == 0.5
//   EditCounts w = WordEdits("go left", "go right");                       // 1 substitution of 2 words
//   DetInput d{.positive_scores = {0.9, 0.3}, .negative_scores = {0.5}, .negative_hours = 1.0};
//   OperatingPoint p = ThresholdForFalseAlarmRate(d, 1.0, 0.02);          // threshold 0.02, FRR 0
//
// Detection rule everywhere: a score s is a detection at threshold t iff s >= t (the decoders' rule:
// models/kws-decoder.h "c_j(K) >= theta_K").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ossicle {

// Rows are references, columns predictions, both indexed by `labels`.
struct ConfusionMatrix {
  std::vector<std::string> labels;
  std::vector<std::vector<int64_t>> counts;  // [labels][labels]

  int64_t Total() const;
  int64_t Correct() const;  // the diagonal
  double Accuracy() const;  // Correct() / Total(); 0 when empty
  // Index of `label`, or -1.
  int Index(std::string_view label) const;
};

// `label_order` comes first (in that order); labels that occur in references or predictions but not in it
// are appended in order of first appearance (references before predictions). Throws std::invalid_argument
// when the two lists differ in length.
ConfusionMatrix BuildConfusion(const std::vector<std::string>& references, const std::vector<std::string>& predictions,
                               const std::vector<std::string>& label_order = {});

struct ClassMetrics {
  std::string label;
  int64_t support = 0;         // references with this label (row sum)
  int64_t predicted = 0;       // predictions of this label (column sum)
  int64_t true_positives = 0;  // the diagonal cell
  // tp / predicted and tp / support; nullopt when the denominator is 0 (undefined, not 0).
  std::optional<double> precision;
  std::optional<double> recall;
  std::optional<double> f1;  // harmonic mean, nullopt unless both are defined and their sum > 0
};
std::vector<ClassMetrics> PerClassMetrics(const ConfusionMatrix& matrix);

// Levenshtein alignment counts (unit costs) of a hypothesis against a reference sequence.
struct EditCounts {
  int64_t substitutions = 0;
  int64_t deletions = 0;   // reference items missing from the hypothesis
  int64_t insertions = 0;  // hypothesis items not in the reference
  int64_t reference_length = 0;

  int64_t Errors() const { return substitutions + deletions + insertions; }
  EditCounts& operator+=(const EditCounts& o);
};
// Minimum edit distance, split into its kinds; among alignments of equal cost, the one with the most
// substitutions is reported (so "a b" -> "b a" is 2 substitutions, not 1 deletion + 1 insertion + ...).
EditCounts AlignCounts(std::span<const std::string> reference, std::span<const std::string> hypothesis);

// Text normalisation before scoring: ASCII letters lower-cased, runs of whitespace collapsed to one
// space, leading and trailing whitespace removed.
std::string NormalizeText(std::string_view text);
// Words of the normalised texts (split at spaces). Empty reference: every hypothesis word is an insertion.
EditCounts WordEdits(std::string_view reference, std::string_view hypothesis);
// UTF-8 code points of the normalised texts, the single spaces between words included (so a missing word
// boundary is one error). Invalid UTF-8 bytes count as one character each.
EditCounts CharEdits(std::string_view reference, std::string_view hypothesis);
// Errors / reference_length, summed over a corpus before dividing. With an empty reference the
// denominator is taken as 1 (so a hypothesis of n words against nothing has rate n, and nothing against
// nothing has rate 0): an error rate never hides insertions behind a division by zero.
double ErrorRate(const EditCounts& counts);

// Scores of a keyword spotter: one per positive clip (the best score of the clip's keyword, 0 when the
// spotter never fired) and one per false-alarm event found in `negative_hours` of audio without keywords.
struct DetInput {
  std::vector<double> positive_scores;
  std::vector<double> negative_scores;
  double negative_hours = 0.0;
};

struct DetPoint {
  double threshold = 0.0;
  int64_t misses = 0;        // positives with score < threshold
  int64_t false_alarms = 0;  // negative events with score >= threshold
  double false_reject_rate = 0.0;      // misses / positives (0 when there are none)
  double false_alarms_per_hour = 0.0;  // false_alarms / negative_hours (0 when no negative audio)
};

// The curve at every distinct score (positive or negative) as a threshold, increasing, plus one point
// just above the largest score (everything missed, no false alarm). Empty when there are no scores.
std::vector<DetPoint> DetCurve(const DetInput& input);

// The lowest threshold >= min_threshold whose false alarms per hour do not exceed `target_fa_per_hour`,
// i.e. the threshold that misses least within the budget: with the negative scores sorted in decreasing
// order n_1 >= n_2 >= ..., k = floor(target * hours) false alarms are allowed, so the threshold is just
// above n_(k+1) (the next float after it), or min_threshold when there are at most k events. `reachable`
// is false when that threshold exceeds 1 (a negative scored 1.0 and no false alarm is allowed; no
// decoder threshold in (0, 1] meets the target). Throws std::invalid_argument for negative_hours <= 0
// or a target < 0.
struct OperatingPoint {
  DetPoint point;
  double target_fa_per_hour = 0.0;
  bool reachable = true;
};
OperatingPoint ThresholdForFalseAlarmRate(const DetInput& input, double target_fa_per_hour, double min_threshold);

// The DET point at one threshold.
DetPoint DetPointAt(const DetInput& input, double threshold);

}  // namespace ossicle
