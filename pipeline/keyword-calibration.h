// Threshold calibration of a keyword model for a target false-alarm rate, and its miss rate on positives.
//
//   auto model = ossicle::AcousticModel::Load("jarvis.safetensors");
//   std::vector<ossicle::MatrixF> neg = ossicle::FilesLogProbs(*model, heldout_paths);  // speech without it
//   std::vector<ossicle::MatrixF> pos = ossicle::FilesLogProbs(*model, keyword_paths);  // optional
//   ossicle::KwsDecoderConfig decoder;                    // smoothing, window, suppression as deployed
//   decoder.keywords = "jarvis";
//   auto curve = ossicle::KeywordDetCurve(neg, heldout_hours, pos, model->Labels(), 0.010, decoder, "jarvis");
//   ossicle::KeywordDetPoint op = ossicle::ThresholdForFaRate(curve, /*target_fa_per_hour=*/1.0);
//   // op.threshold goes into the model's "decoder" metadata; op.miss_rate is the miss rate there
//
// Counting is done by the streaming decoder itself (models/kws-decoder.h) at every threshold of a grid, so
// smoothing, the confidence window, suppression and minimum duration count exactly as in `ossicle spot`:
//   false alarms at t  = hits of the keyword over all negative files with decoder threshold t
//   misses at t        = positive files with no hit of the keyword at threshold t
// Negative files are decoded one by one (each file is its own stream), the model run offline over each
// file as the batch graphs do (configs/graphs/batch-keywords.yaml).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/acoustic-model.h"
#include "models/kws-decoder.h"
#include "models/tensor-types.h"

namespace ossicle {

// Log-probabilities [frames, labels] of a frame-head model over each audio file (read at the model's
// sample rate, features by the model's own front end, the model run offline). AudioError naming the file.
// ConfigError for an attention-head model (no frame outputs). `warnings` (optional) receives one entry per
// file, the reader's warning ("" for a clean file; else what was damaged or truncated: the file is still used
// as it decoded).
std::vector<MatrixF> FilesLogProbs(const AcousticModel& model, const std::vector<std::string>& paths,
                                   int num_threads = 1, std::vector<std::string>* warnings = nullptr);

// Hits of `keyword` over every file (each decoded as its own stream from frame 0).
std::vector<int64_t> HitsPerFile(const std::vector<MatrixF>& files, const std::vector<std::string>& labels,
                                 double frame_shift_s, const KwsDecoderConfig& config, const std::string& keyword);

struct KeywordDetPoint {
  double threshold = 0;
  int64_t false_alarms = 0;  // hits over the negatives
  double fa_per_hour = 0;    // false_alarms / negative hours
  int64_t misses = 0;        // positive files without a hit (0 when there are no positives)
  double miss_rate = 0;      // misses / positive files (0 when there are none)
};

// False alarms and misses at one decoder threshold, counted by running the decoder at that threshold.
struct DetCounts {
  int64_t false_alarms = 0;
  int64_t misses = 0;
};
using DetCounter = std::function<DetCounts(double threshold)>;

// Negative files and positive clips of a keyword spotter with several keywords (`ossicle eval`): log-probs
// per file, and each positive's own keyword label.
struct KeywordDetFiles {
  std::vector<MatrixF> negatives;
  std::vector<MatrixF> positives;
  std::vector<std::string> positive_keywords;  // one per positive
};

// At `threshold` (for every keyword; config.keyword_thresholds is ignored): false alarms = hits of any
// keyword of `config` over all negative files; misses = positives without a hit of their own keyword. Each
// file is decoded as its own stream from frame 0, as `ossicle spot` decodes a file.
DetCounts CountKeywordHits(const KeywordDetFiles& files, const std::vector<std::string>& labels, double frame_shift_s,
                           const KwsDecoderConfig& config, double threshold);

// Thresholds tried: 0.01 to 0.90 in steps of 0.01, 0.901 to 0.999 in steps of 0.001, then 0.9995 and 0.9999
// (ascending).
std::vector<double> ThresholdGrid();

// One point per threshold of `grid` (ascending). negative_hours > 0. config.threshold and
// keyword_thresholds are replaced by each grid value.
std::vector<KeywordDetPoint> KeywordDetCurve(const std::vector<MatrixF>& negatives, double negative_hours,
                               const std::vector<MatrixF>& positives, const std::vector<std::string>& labels,
                               double frame_shift_s, const KwsDecoderConfig& config, const std::string& keyword,
                               const std::vector<double>& grid = ThresholdGrid());

// One point per threshold of `thresholds` (any order; the curve is ascending, repeated thresholds once),
// counted by `count`. negative_hours > 0; positives = the number of positives (0: miss rates are 0).
std::vector<KeywordDetPoint> CountedDetCurve(const DetCounter& count, int64_t positives, double negative_hours,
                                             std::vector<double> thresholds);

// The point with the lowest threshold whose fa_per_hour <= target_fa_per_hour. When no point meets the
// target, the point with the fewest false alarms (the highest threshold among those). std::invalid_argument
// for an empty curve.
KeywordDetPoint ThresholdForFaRate(const std::vector<KeywordDetPoint>& curve, double target_fa_per_hour);

// The thresholds in steps of `fine_step` strictly between ThresholdForFaRate(curve, target)'s threshold and the
// curve's threshold below it (none when nothing lies below it). fine_step in (0, 0.01]; std::invalid_argument
// otherwise.
std::vector<double> FineThresholdsBelow(const std::vector<KeywordDetPoint>& curve, double target_fa_per_hour,
                                        double fine_step = 0.001);

// The curve `ossicle keyword-train` calibrates on: KeywordDetCurve on `grid`, plus every threshold in steps of
// `fine_step` strictly between ThresholdForFaRate's point on it and the grid threshold below that point, merged
// in ascending order. ThresholdForFaRate(result, target) then lies within fine_step above the strongest false
// alarm that must go, instead of up to one grid step (0.01) above it: fewer misses at the same false alarms.
// fine_step in (0, 0.01]; std::invalid_argument otherwise.
std::vector<KeywordDetPoint> RefinedKeywordDetCurve(const std::vector<MatrixF>& negatives, double negative_hours,
                                                    const std::vector<MatrixF>& positives,
                                                    const std::vector<std::string>& labels, double frame_shift_s,
                                                    const KwsDecoderConfig& config, const std::string& keyword,
                                                    double target_fa_per_hour, double fine_step = 0.001,
                                                    const std::vector<double>& grid = ThresholdGrid());

}  // namespace ossicle
